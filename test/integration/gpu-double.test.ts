/**
 * The real GPU subsystem (RealHost: real processes, real files) against the
 * nvidia-smi TEST DOUBLE installed as `nvidia-smi` on PATH. No GPU is involved:
 * the double simulates A100-40GB / H100 machines from real nvidia-smi captures.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentError, EXIT } from '../../agent/errors.ts';
import {
  apply,
  describePlan,
  inspect,
  planGpu,
  RebootRequestedError,
  REBOOT_GUARD_FILE,
  type GpuAction,
  type GpuActual,
  type GpuApplyOptions,
  type GpuPlan,
} from '../../agent/gpu/gpu.ts';
import { isRefusal, isSkip, refusalError } from '../../agent/contract.ts';
import type { GpuConfig } from '../../agent/config/types.ts';
import { RealHost } from '../../agent/host/real.ts';

const DOUBLE = path.resolve(import.meta.dirname, '../doubles/nvidia-smi-test-double.sh');
const host = new RealHost();

/** The GPU step's phases without the runner: inspect → plan (a refusal raised as `run` raises it) → apply. */
function gpuSubsystem(opts: GpuApplyOptions) {
  return {
    inspect: (h: RealHost) => inspect(h, opts),
    plan: (d: GpuConfig, a: GpuActual): GpuPlan => {
      const p = planGpu(d, a);
      if (isRefusal(p)) throw refusalError(p);
      if (isSkip(p)) throw new Error(p.summary);
      return p;
    },
    apply: (h: RealHost, actions: GpuAction[]) => apply(h, { actions }, opts),
  };
}
let root: string;
let savedPath: string | undefined;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'gpu-double-it-'));
  savedPath = process.env.PATH;
});
afterAll(() => {
  process.env.PATH = savedPath;
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A simulated machine: the double as `nvidia-smi` in its own bin dir, first on PATH. */
function machine(config: string) {
  const dir = path.join(root, `m${n++}`);
  const bin = path.join(dir, 'bin');
  const simState = path.join(dir, 'double-state');
  const agentState = path.join(dir, 'agent-state');
  mkdirSync(bin, { recursive: true });
  mkdirSync(simState);
  copyFileSync(DOUBLE, path.join(bin, 'nvidia-smi'));
  // RealHost passes only a minimal environment, so the double finds its state through this file.
  writeFileSync(path.join(bin, 'nvidia-smi-test-double.conf'), `state_dir=${simState}\n`);
  writeFileSync(path.join(simState, 'config'), config);
  process.env.PATH = `${bin}:${savedPath}`;
  const calls = (): string[] => {
    const f = path.join(simState, 'calls.log');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
  };
  const mutating = (lines: string[]) => lines.filter((l) => /(^| )-mig 1|^-r |-cgi|-dci|-dgi|--test-double-reboot/.test(l));
  const opts = { stateDir: agentState, rebootCommand: ['nvidia-smi', '--test-double-reboot'] };
  const sub = gpuSubsystem(opts);
  /** One agent pass: inspect → plan → apply; returns the nvidia-smi calls it made. */
  const pass = async (desired: GpuConfig) => {
    const before = calls().length;
    const actual = await sub.inspect(host);
    const p = sub.plan(desired, actual);
    const { actions } = p;
    const view = describePlan(p);
    let error: unknown;
    try {
      await sub.apply(host, p.actions);
    } catch (e) {
      error = e;
    }
    return { actions, view, error, calls: calls().slice(before) };
  };
  const smiOut = (...args: string[]) => spawnSmi(args);
  return { calls, mutating, pass, smiOut, agentState, simState };
}

function spawnSmi(args: string[]): string {
  return spawnSync('nvidia-smi', args, { encoding: 'utf8', env: { PATH: process.env.PATH! } }).stdout;
}

const fill = (size: string): GpuConfig => ({ mig: { partitionSizes: [size] } });
const gis = (lgi: string) => [...lgi.matchAll(/^\|\s+\d+\s+MIG (\S+)\s+\d+\s+(\d+)\s+\d+:\d+\s+\|$/gm)].map((m) => m[1]);

describe('A100-40GB: ["1g.5gb"] → 7 × 1g.5gb, idempotent, re-applied after a reboot', () => {
  it('applies, re-runs as a no-op, and re-applies after the instances vanish', async () => {
    const m = machine('gpus=a100-40gb,a2\nenable=pending-in-use\n');
    const first = await m.pass(fill('1g.5gb'));
    expect(first.error).toBeUndefined();
    expect(first.view.warnings[0]).toBe('GPU 1 (NVIDIA A2, 00000000:08:00.0) does not support MIG ([N/A]); skipped');
    expect(m.mutating(first.calls)).toEqual(['-i 0 -mig 1', '-r -i 00000000:04:00.0', 'mig -i 0 -cgi 19,19,19,19,19,19,19 -C']);
    const lgi = m.smiOut('mig', '-lgi');
    expect(gis(lgi)).toEqual(Array(7).fill('1g.5gb'));
    expect(m.smiOut('--query-gpu=mig.mode.current', '--format=csv,noheader')).toBe('Enabled\n[N/A]\n');

    const again = m.calls().length;
    await gpuSubsystem({ stateDir: m.agentState }).apply(host, first.actions); // the same actions once more
    expect(m.mutating(m.calls().slice(again))).toEqual([]);

    const second = await m.pass(fill('1g.5gb'));
    expect(second.actions).toEqual([]);
    expect(second.error).toBeUndefined();
    expect(m.mutating(second.calls)).toEqual([]); // zero mutating commands
    expect(second.view.gpus[0]).toMatchObject({ current: '7 × 1g.5gb', desired: '7 × 1g.5gb (1g.5gb fills the GPU)', actions: [] });

    m.smiOut('--test-double-reboot'); // GPU instances never survive a reboot; MIG mode does
    const third = await m.pass(fill('1g.5gb'));
    expect(third.error).toBeUndefined();
    expect(third.actions.map((a) => a.kind)).toEqual(['gpu.mig.create', 'gpu.mig.verify']);
    expect(m.mutating(third.calls)).toEqual(['mig -i 0 -cgi 19,19,19,19,19,19,19 -C']);
    expect(gis(m.smiOut('mig', '-lgi'))).toHaveLength(7);
  });
  it('changing the layout clears compute instances before GPU instances', async () => {
    const m = machine('gpus=a100-40gb\nmig_mode=enabled\n');
    expect((await m.pass(fill('1g.5gb'))).error).toBeUndefined();
    const r = await m.pass({ mig: { partitionSizes: ['1g.5gb', '3g.20gb', '2g.10gb', '1g.5gb'] } });
    expect(r.error).toBeUndefined();
    expect(m.mutating(r.calls)).toEqual(['mig -i 0 -dci', 'mig -i 0 -dgi', 'mig -i 0 -cgi 9,14,19,19 -C']);
    expect(gis(m.smiOut('mig', '-lgi')).sort()).toEqual(['1g.5gb', '1g.5gb', '2g.10gb', '3g.20gb']);

    // apply() of the very same action list again (a crash right after apply, a retried pass): no change.
    const before = m.calls().length;
    await gpuSubsystem({ stateDir: m.agentState }).apply(host, r.actions);
    expect(m.mutating(m.calls().slice(before))).toEqual([]);
    expect(gis(m.smiOut('mig', '-lgi')).sort()).toEqual(['1g.5gb', '1g.5gb', '2g.10gb', '3g.20gb']);
  });
});

describe('H100 80GB: ["1g.5gb"] is refused with the valid names and no change at all', () => {
  it('refuses in plan; not a single mutating nvidia-smi call', async () => {
    const m = machine('gpus=h100-80gb\n');
    const sub = gpuSubsystem({ stateDir: m.agentState });
    const actual = await sub.inspect(host);
    let err: unknown;
    try {
      sub.plan(fill('1g.5gb'), actual);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).message).toBe(
      'INITD_GPU_CONFIG: profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3 (GPU 0); available: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb',
    );
    expect((err as AgentError).exitCode).toBe(EXIT.CONFIG);
    expect(m.calls().length).toBeGreaterThan(0);
    expect(m.mutating(m.calls())).toEqual([]);
    expect(m.smiOut('--query-gpu=mig.mode.current,mig.mode.pending', '--format=csv,noheader')).toBe('Disabled, Disabled\n');
  });
});

describe('reset not supported (GPU passthrough)', () => {
  it('writes the reboot guard, reboots once, then fails loudly when the mode stays pending', async () => {
    const m = machine('gpus=a100-40gb\nenable=pending-not-supported\nreset=unsupported\nreboot_applies_mode=0\n');
    const first = await m.pass(fill('1g.5gb'));
    expect(first.error).toBeInstanceOf(RebootRequestedError);
    const guard = path.join(m.agentState, REBOOT_GUARD_FILE);
    expect(statSync(guard).mode & 0o777).toBe(0o600);
    expect((JSON.parse(readFileSync(guard, 'utf8')) as { busIds?: string[] }).busIds).toEqual(['00000000:04:00.0']);
    expect(m.mutating(first.calls)).toEqual(['-i 0 -mig 1', '-r -i 00000000:04:00.0', '--test-double-reboot']);

    const second = await m.pass(fill('1g.5gb'));
    expect(second.error).toBeInstanceOf(AgentError);
    expect(second.error).not.toBeInstanceOf(RebootRequestedError);
    expect((second.error as AgentError).message).toMatch(/MIG mode is still pending on 00000000:04:00\.0 after the one reboot castai-edge-initd allows/);
    expect((second.error as AgentError).remediation).toMatch(/GPU passthrough without reset support/);
    expect(m.mutating(second.calls)).toEqual(['-r -i 00000000:04:00.0']); // no second reboot, no instance touched
    expect(m.calls().filter((l) => l === '--test-double-reboot')).toHaveLength(1);
  });
  it('when the reboot does apply the mode: the next pass partitions and removes the guard', async () => {
    const m = machine('gpus=a100-40gb\nenable=pending-not-supported\nreset=unsupported\n');
    expect((await m.pass(fill('1g.5gb'))).error).toBeInstanceOf(RebootRequestedError);
    const next = await m.pass(fill('1g.5gb'));
    expect(next.error).toBeUndefined();
    expect(next.actions.at(-1)!.kind).toBe('gpu.mig.reboot-guard.clear');
    expect(existsSync(path.join(m.agentState, REBOOT_GUARD_FILE))).toBe(false);
    expect(gis(m.smiOut('mig', '-lgi'))).toHaveLength(7);
  });
});

describe('a GPU held by another client', () => {
  it('fails with the holder remediation and leaves no guard', async () => {
    const m = machine('gpus=h100-80gb\nmig_mode=enabled\nbusy=1\n');
    const r = await m.pass(fill('3g.40gb'));
    expect(r.error).toBeInstanceOf(AgentError);
    expect((r.error as AgentError).message).toMatch(/-cgi 9,9 -C` failed \(exit 255: Unable to create a GPU instance on GPU {2}0 using profile 9: In use by another client/);
    expect((r.error as AgentError).remediation).toMatch(/fuser -v \/dev\/nvidia\*/);
    expect(existsSync(path.join(m.agentState, REBOOT_GUARD_FILE))).toBe(false);
  });
});

describe('success claimed, nothing created (mig-parted#18)', () => {
  it('the re-read catches it', async () => {
    const m = machine('gpus=a100-40gb\nmig_mode=enabled\ncgi_lies=1\n');
    const r = await m.pass(fill('1g.5gb'));
    expect((r.error as AgentError).message).toMatch(/is \(none\) after apply, expected 7 × 1g\.5gb/);
  });
});
