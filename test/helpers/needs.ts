/**
 * Tests that need root (network namespaces, TUN, loop devices, mount namespaces, chown) or a tool the
 * lane installs must not pass by skipping themselves (TEST CODE; docs/decisions/0222-root-tests-fail.md).
 *
 * When something is missing, the suite becomes ONE failing test whose message names the lane, what is
 * missing and how to get it. CI runs the integration lane as root after `make` installed the tools, so
 * there it can only fail if the machine really changed. On a workstation, NEEDS_ALLOW_SKIP=1 turns the
 * failure into a skip that still prints why; under CI (CI=true) the opt-out is ignored.
 */
import { execFileSync } from 'node:child_process';
import { describe, it } from 'vitest';

export const ALLOW_SKIP_VAR = 'NEEDS_ALLOW_SKIP';

/** "root" when this process is not root, else nothing. */
export function notRoot(why: string): string[] {
  return process.getuid?.() === 0 ? [] : [`root (uid 0) for ${why}; this process runs as uid ${process.getuid?.()}`];
}

/** One entry per tool that is not on PATH. */
export function missingTools(tools: readonly string[], install: string): string[] {
  return tools.filter((t) => !onPath(t)).map((t) => `${t} on PATH (${install})`);
}

function onPath(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The failure text: the lane, what is missing, and how to get it or (only off CI) skip it. */
export function needsMessage(what: string, missing: readonly string[]): string {
  return [
    `${what}: this test needs what this machine lacks, so it FAILS instead of skipping (the integration lane runs as root in CI):`,
    ...missing.map((m) => `  - ${m}`),
    `Run it as root after \`make deps\` (e.g. \`sudo make test-integration\`); on a workstation only, ${ALLOW_SKIP_VAR}=1 skips it with this message.`,
  ].join('\n');
}

/**
 * Whether a missing need may skip instead of fail: only with NEEDS_ALLOW_SKIP=1, and never under CI
 * (CI set to anything but "" / "false" / "0", as CI services set it): there the opt-out is ignored.
 */
export function maySkip(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI !== undefined && !['', 'false', '0'].includes(env.CI);
  return env[ALLOW_SKIP_VAR] === '1' && !ci;
}

function skipAllowed(what: string, missing: readonly string[]): boolean {
  if (!maySkip(process.env)) return false;
  console.warn(`SKIPPED (${ALLOW_SKIP_VAR}=1): ${needsMessage(what, missing)}`);
  return true;
}

/** `describe` that runs when nothing is missing, and otherwise is one failing test (or, with the opt-out, a loud skip). */
export function describeNeeding(title: string, missing: readonly string[], body: () => void): void {
  if (missing.length === 0) return void describe(title, body);
  if (skipAllowed(title, missing)) return void describe.skip(title, body);
  describe(title, () => {
    it('has what it needs', () => {
      throw new Error(needsMessage(title, missing));
    });
  });
}

/** `it` that runs when nothing is missing, and otherwise fails with the reason (or, with the opt-out, skips loudly). */
export function itNeeding(title: string, missing: readonly string[], body: () => Promise<void> | void, timeout?: number): void {
  if (missing.length === 0) return void it(title, body, timeout);
  if (skipAllowed(title, missing)) return void it.skip(title, body);
  it(title, () => {
    throw new Error(needsMessage(title, missing));
  });
}
