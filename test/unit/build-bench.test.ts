/**
 * scripts/build.ts: the startup-module analysis that keeps heavy packages lazy;
 * scripts/bench.ts: the harness merges module results, drops failed modules'
 * keys and never overwrites a key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Metafile } from 'esbuild';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LAZY_PACKAGES, packageOf, startupModules } from '../../scripts/build.ts';
import { runBench } from '../../scripts/bench.ts';
import { arm64Key } from '../../scripts/bench/arm64.ts';

type Imp = { path: string; kind: 'import-statement' | 'dynamic-import' | 'require-call'; external?: boolean };
function meta(graph: Record<string, Imp[]>): Metafile {
  const inputs: Metafile['inputs'] = {};
  for (const [k, imports] of Object.entries(graph))
    inputs[k] = { bytes: 1, imports: imports.map((i) => ({ ...i, external: i.external ?? false, original: i.path })) };
  return { inputs, outputs: {} };
}

describe('startupModules (build: heavy packages stay lazy)', () => {
  const graph = meta({
    'agent/main.ts': [{ path: 'agent/cli.ts', kind: 'import-statement' }],
    'agent/cli.ts': [
      { path: 'node_modules/commander/index.js', kind: 'import-statement' },
      { path: 'node:fs', kind: 'import-statement', external: true },
      { path: 'agent/commands/doctor.ts', kind: 'dynamic-import' },
      { path: 'agent/bad.ts', kind: 'import-statement' },
    ],
    'agent/commands/doctor.ts': [{ path: 'node_modules/undici/index.js', kind: 'import-statement' }],
    'agent/bad.ts': [{ path: 'node_modules/execa/index.js', kind: 'import-statement' }],
    'node_modules/execa/index.js': [{ path: 'node_modules/@sindresorhus/merge-streams/index.js', kind: 'import-statement' }],
    'node_modules/undici/index.js': [],
    'node_modules/commander/index.js': [],
  });

  it('follows static imports and reports the chain', () => {
    const s = startupModules(graph, 'agent/main.ts');
    expect(s.get('node_modules/execa/index.js')).toEqual(['agent/main.ts', 'agent/cli.ts', 'agent/bad.ts', 'node_modules/execa/index.js']);
    expect(s.has('node_modules/@sindresorhus/merge-streams/index.js')).toBe(true);
    expect(s.has('node_modules/commander/index.js')).toBe(true);
  });

  it('cuts dynamic import() edges and ignores externals (builtins)', () => {
    const s = startupModules(graph, 'agent/main.ts');
    expect(s.has('agent/commands/doctor.ts')).toBe(false);
    expect(s.has('node_modules/undici/index.js')).toBe(false);
    expect(s.has('node:fs')).toBe(false);
  });

  it('packageOf names plain and scoped packages, and nothing for our sources', () => {
    expect(packageOf('node_modules/execa/lib/x.js')).toBe('execa');
    expect(packageOf('node_modules/@sindresorhus/merge-streams/index.js')).toBe('@sindresorhus/merge-streams');
    expect(packageOf('node_modules/pino/node_modules/x/a.js')).toBe('pino');
    expect(packageOf('agent/cli.ts')).toBeUndefined();
    expect(LAZY_PACKAGES).toEqual(expect.arrayContaining(['execa', 'systeminformation', 'undici', 'pino']));
  });
});

describe('bench harness', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-mods-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'a-ok.ts'), 'export default async function () { return { a_ms: 1.5, shared: "a" }; }\n');
  writeFileSync(path.join(dir, 'b-throws.ts'), 'export default async function () { throw new Error("tool missing"); }\n');
  writeFileSync(path.join(dir, 'c-dup.ts'), 'export default async function () { return { shared: "c", c_bytes: 7 }; }\n');
  writeFileSync(path.join(dir, 'd-nodefault.ts'), 'export const x = 1;\n');
  writeFileSync(path.join(dir, 'e-array.ts'), 'export default async function () { return [1, 2]; }\n');

  it('merges keys, omits failed modules, keeps the first value of a duplicate key', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const { results, failed } = await runBench([], dir);
      expect(results).toEqual({ a_ms: 1.5, shared: 'a', c_bytes: 7 });
      expect(failed).toEqual(['b-throws', 'd-nodefault', 'e-array']);
      const text = err.mock.calls.map((c) => String(c[0])).join('');
      expect(text).toMatch(/b-throws FAILED, its keys are left out: Error: tool missing/);
      expect(text).toMatch(/key shared from c-dup is already set by a-ok/);
    } finally {
      err.mockRestore();
    }
  });

  it('runs only the named modules, and rejects an unknown name', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect((await runBench(['c-dup'], dir)).results).toEqual({ shared: 'c', c_bytes: 7 });
      await expect(runBench(['nope'], dir)).rejects.toThrow(/no module nope/);
    } finally {
      err.mockRestore();
    }
  });
});

describe('bench plan module (the fake host it plans on must stay unchanged)', () => {
  it('plans 24 disks and 8 GPUs with only read-only commands, and returns its keys', async () => {
    process.env.BENCH_PLAN_RUNS = '1'; // read when the module loads
    const { default: planBench } = await import('../../scripts/bench/plan.ts');
    const r = await planBench();
    expect(r.plan_24_disks_8_gpus_actions).toEqual({ storage: expect.any(Number), gpu: expect.any(Number) });
    expect((r.plan_24_disks_8_gpus_actions as { gpu: number }).gpu).toBeGreaterThanOrEqual(24);
    expect(r.plan_24_disks_8_gpus_ms).toEqual(expect.any(Number));
  }, 60_000);
});

describe('bench arm64 module: join_arm64_e2e_s only from a passing make test-e2e-arm64 of the binary dist/ holds', () => {
  const rec = { wall_s: 480, exit: 0, finished_at: '2026-12-05T21:30:00Z', binary_xz_sha256: 'aa' };
  it('reports the recorded wall time of a passing run of this binary', () => {
    expect(arm64Key(rec, 'aa')).toEqual({ join_arm64_e2e_s: 480, join_arm64_e2e_at: '2026-12-05T21:30:00Z' });
  });
  it('leaves the key out for no record, a failed run, or another binary', () => {
    expect(arm64Key(undefined, 'aa')).toEqual({ why: 'no record: run make test-e2e-arm64' });
    expect(arm64Key({ ...rec, exit: 1 }, 'aa')).toEqual({ why: 'the last make test-e2e-arm64 failed (exit 1)' });
    expect(arm64Key(rec, 'bb')).toMatchObject({ why: expect.stringMatching(/another arm64 binary/) });
  });
});

describe('bench statistics for the VM keys (median, spread, CPU between two times)', async () => {
  const { cpuBetween, median, spreadPct } = await import('../../scripts/bench-lib.ts');
  const samples = [
    { ms: 1000, usageUs: 0 },
    { ms: 1250, usageUs: 100_000 },
    { ms: 1500, usageUs: 400_000 },
    { ms: 1750, usageUs: 400_000 },
    { ms: 2000, usageUs: 1_400_000 },
  ];

  it('median and spread', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(spreadPct([57, 147, 100])).toBe(90);
    expect(spreadPct([1, 1, 1])).toBe(0);
  });

  it('CPU between two times: the bracketing samples, from the cgroup start when no start is given', () => {
    expect(cpuBetween(samples, 1300, 1700)).toBeCloseTo(0.3); // 1250 → 1750
    expect(cpuBetween(samples, 1250, 1500)).toBeCloseTo(0.3);
    expect(cpuBetween(samples, undefined, 1400)).toBeCloseTo(0.4); // unit start (0) → 1500
    expect(cpuBetween([...samples].reverse(), 1300, 1700)).toBeCloseTo(0.3);
  });

  it('no answer when the samples do not bracket the interval or the cgroup restarted', () => {
    expect(cpuBetween(samples, 900, 1500)).toBeUndefined();
    expect(cpuBetween(samples, 1300, 2100)).toBeUndefined();
    expect(cpuBetween([...samples, { ms: 1600, usageUs: 50 }], 1300, 1800)).toBeUndefined();
  });
});
