/**
 * agent/host/spawn.ts — RealHost.exec's process runner (node:child_process; execa before,
 * docs/decisions/0192-idle-memory-floor.md). The basic contract is in host-real.test.ts; these are
 * the edges: a child that ignores SIGTERM, a grandchild that keeps the pipes open, input the child
 * never reads, arguments Node refuses.
 */
import { describe, expect, it } from 'vitest';
import { spawnCollect } from '../../agent/host/spawn.ts';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

describe('spawnCollect', () => {
  it('SIGKILLs a child that ignores SIGTERM, 5 s after the deadline', async () => {
    const t0 = performance.now();
    const r = await spawnCollect('sh', ['-c', 'trap "" TERM; while :; do sleep 0.1; done'], { env, timeoutMs: 300 });
    const ms = performance.now() - t0;
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(128 + 9);
    expect(ms).toBeGreaterThan(5000);
    expect(ms).toBeLessThan(15_000);
  }, 30_000);

  it('a grandchild holding stdout open does not hold the caller past the deadline', async () => {
    const t0 = performance.now();
    const r = await spawnCollect('sh', ['-c', 'sleep 30 & echo started'], { env, timeoutMs: 1500 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'started\n', timedOut: false, notFound: false });
  }, 30_000);

  it('input the child never reads is not an error (EPIPE)', async () => {
    const r = await spawnCollect('true', [], { env, timeoutMs: 10_000, stdin: Buffer.alloc(4 << 20, 120) });
    expect(r).toMatchObject({ exitCode: 0, timedOut: false });
  });

  it('UTF-8 output, and output split across many chunks, come back whole', async () => {
    const r = await spawnCollect('sh', ['-c', 'printf "é·↵"; head -c 300000 /dev/zero | tr "\\0" a'], { env, timeoutMs: 10_000 });
    expect(r.stdout.startsWith('é·↵')).toBe(true);
    expect(r.stdout.length).toBe(3 + 300_000);
  });

  it('arguments Node refuses (a NUL byte) are a result, not a throw', async () => {
    const r = await spawnCollect('echo', ['a\0b'], { env, timeoutMs: 1000 });
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toMatch(/^echo: cannot run/);
  });
});
