declare const __AGENT_VERSION__: string | undefined;
declare const __AGENT_COMMIT__: string | undefined;

/** Injected by esbuild at build time (scripts/build.sh); "0.0.0-dev" when run from source. */
export const VERSION: string = typeof __AGENT_VERSION__ === 'string' ? __AGENT_VERSION__ : '0.0.0-dev';
export const COMMIT: string = typeof __AGENT_COMMIT__ === 'string' ? __AGENT_COMMIT__ : 'unknown';
export const BINARY_NAME = 'castai-edge-initd';

/** What `castai-edge-initd version [--json]` prints (one line). */
export function versionText(json: boolean): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return json
    ? `${JSON.stringify({ version: VERSION, commit: COMMIT, node: process.versions.node, arch })}\n`
    : `${BINARY_NAME} ${VERSION} (commit ${COMMIT}, node ${process.versions.node}, linux/${arch})\n`;
}

/**
 * The output of `version` / `version --json` when argv (after the executable) is exactly that, else
 * undefined. The single executable answers these without loading the CLI (agent/sea-main.ts);
 * anything else (`version --help`, an unknown option) goes to commander as before.
 */
export function fastVersion(args: readonly string[]): string | undefined {
  if (args[0] !== 'version') return undefined;
  if (args.length === 1) return versionText(false);
  if (args.length === 2 && args[1] === '--json') return versionText(true);
  return undefined;
}
