/**
 * The k0s TEST DOUBLE (test/doubles/k0s-test-double.sh) on this host without systemd, as the integration
 * tests drive it: K0S_TEST_DOUBLE_ROOT prefixes every path it touches, and the worker it starts
 * heartbeats every second.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const K0S_DOUBLE = path.resolve(import.meta.dirname, '../doubles/k0s-test-double.sh');
const run = promisify(execFile);

/** Runs the double with every path under `root`. Never throws: its exit status (1 if it could not run) and output. */
export async function k0sDouble(root: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(K0S_DOUBLE, args, { env: { ...process.env, K0S_TEST_DOUBLE_ROOT: root, K0S_TEST_DOUBLE_HEARTBEAT_SEC: '1' }, timeout: 30_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: typeof x.code === 'number' ? x.code : 1, stdout: x.stdout, stderr: x.stderr };
  }
}

/** A new root under `dir` holding `token` in /etc/k0s/k0stoken (0600), where the agent leaves the join token. */
export function rootWithToken(dir: string, token: string): string {
  const root = mkdtempSync(path.join(dir, 'root-'));
  mkdirSync(path.join(root, 'etc/k0s'), { recursive: true });
  writeFileSync(path.join(root, 'etc/k0s/k0stoken'), token, { mode: 0o600 });
  return root;
}

/** Polls `cond` every 100 ms until it holds; throws after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
