/**
 * Names of the assets scripts/build.ts puts into the single executable next to its main script
 * (agent/sea-main.ts), in one place for both. See docs/decisions/0191-startup-floor.md.
 */
/** The agent bundle (esbuild's CJS output of agent/main.ts). */
export const SEA_AGENT_ASSET = 'agent.cjs';
/** V8 code cache of that bundle, made by the pinned Node at build time (amd64 only). */
export const SEA_CODE_CACHE_ASSET = 'agent.codecache';
/** The parameters the bundle is compiled with: a CommonJS module wrapper. */
export const SEA_WRAPPER_PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'] as const;

/**
 * Node/V8 options the daemon (`castai-edge-initd run`) runs with; one-shot commands run without.
 * `--liftoff-only`: undici parses HTTP with llhttp in WebAssembly, and V8's tier-up of its hot
 * functions to TurboFan left ~14 MiB resident in the idle daemon (the compiler's code pages and
 * zone memory glibc keeps) for no gain at a few small responses a minute; Liftoff, V8's baseline
 * WebAssembly compiler, is enough. It must be set when V8 starts (v8.setFlagsFromString later has
 * no effect on WebAssembly), and any V8 flag makes V8 reject Node's embedded code cache of its own
 * modules (~20 % slower start), so it is not baked into the executable for every command: the
 * loader re-executes `run` with it (docs/decisions/0192-idle-memory-floor.md).
 */
export const DAEMON_NODE_OPTIONS = ['--liftoff-only'] as const;

/**
 * The argv to re-execute the daemon with DAEMON_NODE_OPTIONS (the single executable takes Node
 * options as `--node-options=…`, SEA execArgvExtension "cli"), or undefined: not the daemon, or
 * already running with them.
 */
export function daemonReexecArgv(argv: readonly string[], execArgv: readonly string[]): string[] | undefined {
  if (argv[2] !== 'run') return undefined;
  if (DAEMON_NODE_OPTIONS.every((f) => execArgv.includes(f))) return undefined;
  // After `run` (Node takes --node-options from anywhere in argv): the process list keeps showing
  // `castai-edge-initd run …`, as operators and tests look for it.
  return [argv[0]!, 'run', `--node-options=${DAEMON_NODE_OPTIONS.join(' ')}`, ...argv.slice(3)];
}
