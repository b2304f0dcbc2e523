/**
 * `make bench` module: plan_24_disks_8_gpus_ms — the agent's `plan` command
 * (every step's inspect + plan, nothing applied) on a FakeHost that simulates
 * 24 blank 3.84 TB NVMe disks (test/fixtures/storage/sim.ts, outputs in the
 * format of real captures) and 8 NVIDIA A100-40GB GPUs in MIG mode (real A100
 * nvidia-smi captures; -lgipp derived, see test/fixtures/nvidia-smi/SOURCES.md)
 * currently partitioned 7×1g.5gb, with INITD_GPU_CONFIG asking for
 * 3g.20gb + 2g.10gb + 2×1g.5gb: so storage plans a 24-stripe LV and the GPU
 * step plans clear + create + verify on all 8 GPUs. The host is registered
 * (register.json from a valid control-plane response), so preflight,
 * register, WireGuard and k0s plan on real data as well.
 *
 * Median of RUNS runs after WARMUP runs, in one process (the fake host has no
 * I/O: this is the agent's own CPU time for plan). Also reports the storage
 * and gpu steps alone.
 */
import { gpuStep } from '../../agent/reconcile/steps/gpu.ts';
import planCommand from '../../agent/commands/plan.ts';
import type { CommandContext } from '../../agent/commands/context.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { stepContext } from '../../agent/reconcile/context.ts';
import { storageStep } from '../../agent/reconcile/steps/storage.ts';
import type { FakeHost } from '../../agent/host/fake.ts';
import { a100Reads, blankNvmeSim, nonReadOnlyExecs, registeredHostFacts } from '../../test/fuzz/scenarios.ts';
import { validRegisterResponse } from '../../test/fuzz/targets/api.ts';

const RUNS = Number(process.env.BENCH_PLAN_RUNS ?? 30);
const WARMUP = 5;
const GPUS = 8;
const DISKS = 24;

const ENV = {
  API_URL: 'https://api.example.test',
  INITD_STATE_DIR: '/var/lib/castai-edge-initd',
  INITD_GPU_CONFIG: JSON.stringify({ mig: { partitionSizes: ['3g.20gb', '2g.10gb', '1g.5gb', '1g.5gb'] } }),
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The simulated host: 24 NVMe disks + 8 A100 (nvidia-smi reads answered from the captures). */
export function benchHost(): FakeHost {
  const sim = blankNvmeSim(DISKS);
  const h = sim.host;
  const reads = a100Reads(GPUS, true);
  h.onExec((cmd, args) => cmd === 'nvidia-smi' && args[0]?.startsWith('--query-gpu=') === true, { stdout: reads.query });
  h.onExec(
    (cmd, args) => cmd === 'nvidia-smi' && args[0] === 'mig' && args.length === 4,
    (args) => {
      const g = reads.perGpu[Number(args[2])];
      const op = args[3]!.slice(1) as 'lgip' | 'lgipp' | 'lgi' | 'lci';
      return g ? { stdout: g[op][0] } : { exitCode: 6, stdout: 'No MIG-enabled devices found.\n' };
    },
  );
  h.setFile('/usr/bin/nvidia-container-runtime', '#!/bin/sh\n', 0o755);
  registeredHostFacts(h, JSON.stringify(validRegisterResponse()));
  return h;
}

/** Times `fn` (not `setup`: building the simulated host is not the agent's work). */
async function timeIt<S>(setup: () => S, fn: (s: S) => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const s = setup();
    const t0 = performance.now();
    await fn(s);
    if (i === 0) firstMs ??= performance.now() - t0;
    if (i >= WARMUP) times.push(performance.now() - t0);
  }
  return times;
}
/** The very first (cold: module code not yet optimized) run of the whole plan. */
let firstMs: number | undefined;

export default async function planBench(): Promise<Record<string, unknown>> {
  // The whole `plan` command, as `castai-edge-initd plan --json` runs it.
  let last: { changes: number; refused: number; steps: Array<{ step: string; summary: string; actions: unknown[] }> } | undefined;
  let host: FakeHost | undefined;
  const whole = await timeIt(benchHost, async (h) => {
    host = h;
    let out = '';
    const ctx: CommandContext = { host, env: ENV, json: true, out: (t) => (out += t), err: () => {} };
    await planCommand(ctx, { json: true });
    last = JSON.parse(out) as typeof last;
  });
  const storage = last!.steps.find((s) => s.step === 'storage')!;
  const gpu = last!.steps.find((s) => s.step === 'gpu')!;
  // Sanity: the scenario is what it says, and plan changed nothing.
  if (!/24-stripe/.test(storage.summary) || gpu.actions.length < GPUS * 3) {
    throw new Error(`bench plan: unexpected plan (storage: ${storage.summary}; gpu: ${gpu.summary}, ${gpu.actions.length} actions)`);
  }
  const badExec = nonReadOnlyExecs(host!);
  const writes = host!.calls.filter((c) => c.kind === 'write' || c.kind === 'mkdir' || c.kind === 'remove');
  if (badExec.length || writes.length) throw new Error(`bench plan: plan changed the fake host: ${JSON.stringify([...badExec, ...writes]).slice(0, 500)}`);

  // The two steps alone (inspect + plan), without preflight/register/wireguard/k0s.
  const stepsOnly = await timeIt(benchHost, async (h) => {
    const cfg = await loadConfig(h, { env: ENV });
    const ctx = await stepContext(h, cfg, createLogger({ level: 'silent', write: () => {} }), new AbortController().signal);
    await storageStep().plan(ctx);
    await gpuStep().plan(ctx);
  });
  const r = (n: number) => Math.round(n * 100) / 100;
  return {
    plan_24_disks_8_gpus_ms: r(median(whole)),
    plan_24_disks_8_gpus_storage_gpu_steps_ms: r(median(stepsOnly)),
    plan_24_disks_8_gpus_first_ms: r(firstMs!),
    plan_24_disks_8_gpus_runs: RUNS,
    plan_24_disks_8_gpus_actions: { storage: storage.actions.length, gpu: gpu.actions.length },
  };
}

// Allow `node scripts/bench/plan.ts` on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await planBench())}\n`);
}
