/**
 * Short fuzz run of every parser that takes outside input and of the storage
 * and GPU inspect → plan paths (test/fuzz/, docs/decisions/0080-fuzzing.md).
 * FUZZ_RUNS inputs per target (default 600; slow targets get fewer, see
 * `cost`); `make chaos` runs >= 100 000 per target. The seed is FIXED (FIXED_FUZZ_SEED, or
 * FUZZ_SEED) so a CI run is reproducible; `make chaos` rotates seeds (docs/decisions/0221). A failure
 * prints the seed and the first failing inputs.
 */
import { describe, expect, it } from 'vitest';
import { FIXED_FUZZ_SEED, fuzzRuns, fuzzSeed, runTarget } from '../fuzz/harness.ts';
import { allTargets } from '../fuzz/targets/index.ts';

const targets = await allTargets();
const runs = fuzzRuns(600);

describe('fuzz: no crash, every rejection names its input, no host change', () => {
  it.each(targets.map((t) => [t.name, t] as const))('%s', async (_name, t) => {
    const r = await runTarget(t, Math.max(20, Math.round(runs / (t.cost ?? 1))));
    const report = `${t.name} (seed ${r.seed}): ${r.failures} failure(s)\n${r.examples.map((e) => `input: ${e.input}\nerror: ${e.error}`).join('\n---\n')}`;
    expect(r.failures, report).toBe(0);
    expect(r.accepted + r.rejections).toBe(r.runs);
    // The generators reach both outcomes: valid inputs get past the first check, bad ones are refused.
    expect(r.accepted, `${t.name}: no input was accepted`).toBeGreaterThan(0);
    if (t.name !== 'storage.blkid') expect(r.rejections, `${t.name}: no input was rejected`).toBeGreaterThan(0);
  }, 60_000);

  it('the short run is reproducible: a fixed seed (unless FUZZ_SEED), the same inputs and outcomes every time', async () => {
    if (process.env.FUZZ_SEED === undefined) expect(fuzzSeed()).toBe(FIXED_FUZZ_SEED);
    const t = targets.find((x) => x.name === 'config.labels')!;
    const strip = (r: Awaited<ReturnType<typeof runTarget>>) => ({
      seed: r.seed,
      runs: r.runs,
      accepted: r.accepted,
      rejections: r.rejections,
      failures: r.failures,
    });
    const [a, b] = [await runTarget(t, 200), await runTarget(t, 200)];
    expect(strip(a)).toEqual(strip(b));
    expect(a.seed).toBe(fuzzSeed());
  });

  it('covers every parser named in issue 9', () => {
    const names = targets.map((t) => t.name);
    for (const n of [
      'config.env-file', 'config.labels', 'config.taints', 'config.gpu', 'config.proxy', 'config.nvme-devices',
      'gpu.query-gpu', 'gpu.lgip', 'gpu.lgipp', 'gpu.lgi', 'gpu.lci', 'gpu.mig-call', 'gpu.mig-enable',
      'storage.lsblk', 'storage.wipefs', 'storage.blkid', 'storage.pvs', 'storage.vgs', 'storage.lvs', 'storage.mountinfo',
      'wireguard.dump', 'wireguard.ip-link', 'wireguard.ip-addr', 'wireguard.ip-route', 'wireguard.ip-batch',
      'api.register', 'api.edge-state', 'api.retry-after', 'k0s.join-token', 'k0s.yaml-subset',
      'preflight.kernel', 'preflight.proc-net-tcp', 'preflight.register-endpoints', 'plan.storage', 'plan.gpu', 'plan.command',
    ]) expect(names).toContain(n);
  });
});
