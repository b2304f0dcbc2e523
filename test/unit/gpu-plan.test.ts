import { describe, expect, it } from 'vitest';
import { AgentError, EXIT } from '../../agent/errors.ts';
import {
  containerdDropIn,
  CONTAINERD_DROPIN,
  describePlan as describeGpuPlan,
  inspect,
  planGpu,
  REBOOT_GUARD_FILE,
  type GpuActual,
} from '../../agent/gpu/gpu.ts';
import type { GpuConfig } from '../../agent/config/types.ts';
import { isRefusal, isSkip, refusalError } from '../../agent/contract.ts';
import { NvidiaSmiParseError } from '../../agent/gpu/parse.ts';
import { gpuStep } from '../../agent/reconcile/steps/gpu.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { exact, fakeGpuHost, fx, mutatingSmi, QUERY } from './gpu-fixtures.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const sub = { inspect: (h: FakeHost) => inspect(h, { stateDir: STATE }) };
/** The plan's actions; a refusal raised as the error `run` raises, a skip as no actions. */
function plan(desired: GpuConfig | undefined, actual: GpuActual) {
  const p = planGpu(desired, actual);
  if (isRefusal(p)) throw refusalError(p);
  return isSkip(p) ? [] : p.actions;
}
/** The operator's view of the plan for this desired/actual (the actions come from that same plan). */
function describePlan(desired: GpuConfig, actual: GpuActual, actions: unknown[]) {
  const p = planGpu(desired, actual);
  if (isRefusal(p) || isSkip(p)) throw new Error('not a plan');
  expect(p.actions).toEqual(actions);
  return describeGpuPlan(p);
}
const cfg = (...partitionSizes: string[]) => ({ mig: { partitionSizes } });

const H100_ON = '0, 00000000:16:00.0, NVIDIA H100 80GB HBM3, Enabled, Enabled, 81559 MiB\n';
const H100_OFF = '0, 00000000:16:00.0, NVIDIA H100 80GB HBM3, Disabled, Disabled, 81559 MiB\n';
const A100_OFF = '0, 00000000:04:00.0, NVIDIA A100-PCIE-40GB, Disabled, Disabled, 40960 MiB\n';
const NVL_ON = '0, 00000000:1B:00.0, NVIDIA H100 NVL, Enabled, Enabled, 95830 MiB\n';

const h100With7x1g = () =>
  fakeGpuHost({
    query: H100_ON,
    lgip: fx('h100-80gb.lgip.txt'),
    lgipp: fx('h100-80gb.lgipp.txt'),
    lgi: fx('h100-80gb.lgi-7x1g.txt'),
    lci: fx('h100-80gb.lci-7x1g.txt'),
  });
const a100Off = () => fakeGpuHost({ query: A100_OFF, lgip: fx('a100-40gb.lgip.txt'), lgipp: fx('a100-40gb.lgipp.derived.txt') });
const withToolkit = (h: FakeHost, dropIn = true) => {
  h.setFile('/usr/bin/nvidia-container-runtime', '#!/bin/sh\n', 0o755);
  if (dropIn) h.setFile(CONTAINERD_DROPIN, containerdDropIn('/usr/bin/nvidia-container-runtime'));
  return h;
};

function ctxFor(host: FakeHost, gpu?: { mig?: { partitionSizes: string[] } }): StepContext {
  const logged: string[] = [];
  const log = { warn: (_o: unknown, m: string) => logged.push(`WARN ${m}`), info: (_o: unknown, m: string) => logged.push(`INFO ${m}`) };
  return {
    host,
    cfg: { stateDir: STATE, ...(gpu ? { gpu } : {}) },
    log,
    shared: { extraLabels: {} },
    signal: new AbortController().signal,
  } as unknown as StepContext;
}

describe('no config: the step is skipped', () => {
  it('plan is empty and nvidia-smi is not even run', async () => {
    const h = new FakeHost();
    const step = gpuStep();
    expect(await step.plan(ctxFor(h))).toEqual({ step: 'gpu', summary: 'skipped: INITD_GPU_CONFIG not set', actions: [] });
    expect((await step.run(ctxFor(h))).state).toBe('skipped');
    expect(h.calls).toEqual([]);
    expect(plan(undefined, { driver: 'missing', gpus: [] })).toEqual([]);
    expect(plan({ mig: { partitionSizes: [] } }, { driver: 'missing', gpus: [] })).toEqual([]);
  });
});

describe('no NVIDIA GPU with a config is an ERROR with a remediation', () => {
  it('nvidia-smi missing', async () => {
    const h = new FakeHost(); // every command is "not found"
    const actual = await sub.inspect(h);
    expect(actual.driver).toBe('missing');
    const err = (() => {
      try {
        plan(cfg('1g.5gb'), actual);
      } catch (e) {
        return e as AgentError;
      }
    })();
    expect(err).toBeInstanceOf(AgentError);
    expect(err!.message).toBe('INITD_GPU_CONFIG asks for MIG partitions (1g.5gb) but there is no usable NVIDIA GPU: nvidia-smi was not found on PATH');
    expect(err!.remediation).toMatch(/install the NVIDIA driver .* or unset INITD_GPU_CONFIG/);
    expect(h.mutations(new Set(['nvidia-smi']))).toEqual([]);
  });
  it('"No devices were found"', async () => {
    const h = new FakeHost().onExec(exact(QUERY), { exitCode: 6, stdout: 'No devices were found\n' });
    const actual = await sub.inspect(h);
    expect(() => plan(cfg('1g.5gb'), actual)).toThrow(/no usable NVIDIA GPU: nvidia-smi: No devices were found/);
  });
  it('a broken driver', async () => {
    const h = new FakeHost().onExec(exact(QUERY), { exitCode: 9, stdout: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n" });
    try {
      plan(cfg('1g.5gb'), await sub.inspect(h));
      expect.unreachable();
    } catch (e) {
      expect((e as AgentError).message).toMatch(/exit 9: NVIDIA-SMI has failed/);
      expect((e as AgentError).remediation).toMatch(/fix the NVIDIA driver/);
    }
  });
});

describe('GPUs without MIG are skipped with a WARN', () => {
  it('an A2 alone: no action, a warning', async () => {
    const h = new FakeHost().onExec(exact(QUERY), { stdout: '0, 00000000:08:00.0, NVIDIA A2, [N/A], [N/A], 15356 MiB\n' });
    const actual = await sub.inspect(h);
    expect(h.execLines()).toEqual([QUERY]); // no mig reads on a GPU without MIG
    expect(plan(cfg('1g.5gb'), actual)).toEqual([]);
    const view = describePlan(cfg('1g.5gb'), actual, []);
    expect(view.warnings[0]).toBe('GPU 0 (NVIDIA A2, 00000000:08:00.0) does not support MIG ([N/A]); skipped');
    expect(view.warnings[1]).toMatch(/no GPU on this host supports MIG/);
    expect(view.summary).toBe('nothing to do: no MIG-capable GPU');
  });
});

describe('layout already equal → no action', () => {
  it('H100 with 7 × 1g.10gb and ["1g.10gb"]', async () => {
    const h = withToolkit(h100With7x1g());
    const actual = await sub.inspect(h);
    expect(plan(cfg('1g.10gb'), actual)).toEqual([]);
    const view = describePlan(cfg('1g.10gb'), actual, []);
    expect(view.lines).toEqual([
      'GPU 0 NVIDIA H100 80GB HBM3 (00000000:16:00.0), MIG Enabled',
      '  current: 7 × 1g.10gb',
      '  desired: 7 × 1g.10gb (1g.10gb fills the GPU)',
      '  actions: none (already applied)',
    ]);
    expect(view.summary).toBe('nothing to do: 1 MIG GPU(s) already partitioned');
    expect(h.mutations(new Set(['nvidia-smi']))).toEqual([]);
  });
  it('the same exact multiset written out is also equal', async () => {
    const actual = await sub.inspect(withToolkit(h100With7x1g()));
    expect(plan(cfg(...Array<string>(7).fill('1g.10gb')), actual)).toEqual([]);
  });
  it('without nvidia-container-toolkit: a WARN that pods will not see the GPUs, still no action', async () => {
    const actual = await sub.inspect(h100With7x1g());
    expect(plan(cfg('1g.10gb'), actual)).toEqual([]);
    expect(describePlan(cfg('1g.10gb'), actual, []).warnings).toEqual([
      'nvidia-container-toolkit is not installed (no /usr/bin/nvidia-container-runtime or /usr/local/nvidia/toolkit/nvidia-container-runtime): pods will not see the GPUs; install nvidia-container-toolkit and restart castai-edge-initd',
    ]);
  });
  it('with the toolkit but no drop-in: only the drop-in', async () => {
    const actual = await sub.inspect(withToolkit(h100With7x1g(), false));
    const actions = plan(cfg('1g.10gb'), actual);
    expect(actions.map((a) => a.kind)).toEqual(['gpu.containerd.dropin']);
    expect(actions[0]).toMatchObject({ path: '/etc/k0s/containerd.d/nvidia.toml' });
    expect((actions[0] as { content: string }).content).toContain('BinaryName = "/usr/bin/nvidia-container-runtime"');
  });
});

describe('refusals change nothing', () => {
  it('1g.5gb on an H100 (MIG off, profiles listed): the valid names, exit 2, no nvidia-smi mutation', async () => {
    const h = fakeGpuHost({ query: H100_OFF, lgip: fx('h100-80gb.lgip.txt'), lgipp: fx('h100-80gb.lgipp.txt') });
    const actual = await sub.inspect(h);
    try {
      plan(cfg('1g.5gb'), actual);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AgentError);
      expect((e as AgentError).message).toBe(
        'INITD_GPU_CONFIG: profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3 (GPU 0); available: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb',
      );
      expect((e as AgentError).exitCode).toBe(EXIT.CONFIG);
    }
    expect(mutatingSmi(h)).toEqual([]);
    expect(h.mutations(new Set(['nvidia-smi']))).toEqual([]);
    await expect(gpuStep().run(ctxFor(h, cfg('1g.5gb')))).rejects.toThrow(/available: 1g\.10gb/);
    expect(mutatingSmi(h)).toEqual([]);
  });
  it('a set that does not fit shows the arithmetic', async () => {
    const actual = await sub.inspect(a100Off());
    expect(() => plan(cfg('4g.20gb', '4g.20gb'), actual)).toThrow(/compute slices: 4 \(4g\.20gb\) \+ 4 \(4g\.20gb\) = 8 > 7 on this GPU/);
  });
});

describe('actions', () => {
  it('A100 with MIG off and ["1g.5gb"]: enable, reset, reboot-once guard, create 7 × 1g.5gb, verify', async () => {
    const actual = await sub.inspect(a100Off());
    const actions = plan(cfg('1g.5gb'), actual);
    expect(actions.map((a) => a.kind)).toEqual(['gpu.mig.enable', 'gpu.mig.reset', 'gpu.mig.reboot-once', 'gpu.mig.create', 'gpu.mig.verify']);
    expect(actions.map((a) => a.description)).toEqual([
      'enable MIG mode on GPU 0 (NVIDIA A100-PCIE-40GB, 00000000:04:00.0): nvidia-smi -i 0 -mig 1',
      'reset the GPUs whose MIG mode is still pending: nvidia-smi -r -i 00000000:04:00.0',
      `if MIG mode is still pending (reset not supported): reboot once, guarded by ${REBOOT_GUARD_FILE}`,
      'create 7 × 1g.5gb on GPU 0: nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C',
      're-read GPU 0 (-lgi, -lci) and compare with the desired layout',
    ]);
    const view = describePlan(cfg('1g.5gb'), actual, actions);
    expect(view.gpus[0]).toMatchObject({ index: 0, model: 'NVIDIA A100-PCIE-40GB', current: 'MIG off', desired: '7 × 1g.5gb (1g.5gb fills the GPU)' });
    expect(view.gpus[0]!.actions).toHaveLength(5);
    expect(view.lines.slice(0, 4)).toEqual([
      'GPU 0 NVIDIA A100-PCIE-40GB (00000000:04:00.0), MIG Disabled',
      '  current: MIG off',
      '  desired: 7 × 1g.5gb (1g.5gb fills the GPU)',
      '  actions: 5',
    ]);
  });
  it('H100 7 × 1g.10gb → ["3g.40gb"]: clear CIs before GIs, create 2 × 3g.40gb', async () => {
    const actions = plan(cfg('3g.40gb'), await sub.inspect(withToolkit(h100With7x1g())));
    expect(actions.map((a) => a.kind)).toEqual(['gpu.mig.clear', 'gpu.mig.create', 'gpu.mig.verify']);
    expect(actions[0]!.description).toBe('destroy the compute instances, then the GPU instances on GPU 0: nvidia-smi mig -i 0 -dci; -dgi');
    expect(actions[1]!.description).toBe('create 2 × 3g.40gb on GPU 0: nvidia-smi mig -i 0 -cgi 9,9 -C');
  });
  it('GPU instances without compute instances are redone', async () => {
    const h = fakeGpuHost({
      query: NVL_ON,
      lgip: fx('h100-nvl-94gb.lgip-all-used.txt'),
      lgipp: fx('h100-nvl-94gb.lgipp.derived.txt'),
      lgi: fx('h100-nvl-94gb.lgi-2x3g.txt'),
    });
    const actual = await sub.inspect(withToolkit(h));
    expect(actual.gpus[0]!.cis).toEqual([]);
    const actions = plan(cfg('3g.47gb'), actual);
    expect(actions.map((a) => a.kind)).toEqual(['gpu.mig.clear', 'gpu.mig.create', 'gpu.mig.verify']);
    expect(describePlan(cfg('3g.47gb'), actual, actions).gpus[0]!.current).toBe(
      '2 × 3g.47gb (incomplete: GPU instance 1 (3g.47gb) has no compute instance; GPU instance 2 (3g.47gb) has no compute instance)',
    );
  });
  it('a driver that lists profiles only in MIG mode: names are checked after enabling, before any instance', async () => {
    const h = fakeGpuHost({ query: H100_OFF }); // -lgip: "No MIG-enabled devices found."
    const actual = await sub.inspect(h);
    expect(actual.gpus[0]!.profiles).toBeUndefined();
    const actions = plan(cfg('1g.5gb'), actual);
    expect(actions.map((a) => a.kind)).toEqual(['gpu.mig.enable', 'gpu.mig.reset', 'gpu.mig.reboot-once', 'gpu.mig.create', 'gpu.mig.verify']);
    expect(actions[3]!.description).toBe('create 1g.5gb (fill) on GPU 0 once MIG mode is on (checked against its -lgip first)');
    expect(describePlan(cfg('1g.5gb'), actual, actions).gpus[0]!.note).toMatch(/checked against -lgip after MIG mode is enabled/);
  });
  it('a present reboot guard: the plan says it will fail instead of rebooting, and clears the guard after success', async () => {
    const h = a100Off().setFile(`${STATE}/${REBOOT_GUARD_FILE}`, '{"at":"2026-11-21T20:00:00.000Z","busIds":["00000000:04:00.0"]}\n', 0o600);
    const actual = await sub.inspect(h);
    expect(actual.rebootGuard).toEqual({ at: '2026-11-21T20:00:00.000Z', busIds: ['00000000:04:00.0'] });
    const actions = plan(cfg('1g.5gb'), actual);
    expect(actions.find((a) => a.kind === 'gpu.mig.reboot-once')!.description).toBe(
      'if MIG mode is still pending: fail (the one reboot was already tried at 2026-11-21T20:00:00.000Z)',
    );
    expect(actions.at(-1)!.kind).toBe('gpu.mig.reboot-guard.clear');
  });
  it('plan is pure: same input, same output, input untouched', async () => {
    const actual = await sub.inspect(a100Off());
    const copy = structuredClone<GpuActual>(actual);
    expect(plan(cfg('1g.5gb'), actual)).toEqual(plan(cfg('1g.5gb'), actual));
    expect(actual).toEqual(copy);
  });
});

describe('inspect fails loudly on unknown output', () => {
  it('an unknown -lgip layout names the command and the line', async () => {
    const h = fakeGpuHost({ query: H100_ON, lgip: fx('h100-80gb.lgip.txt').replace('MIG 1g.20gb ', 'XYZ 1g.20gb '), lgipp: fx('h100-80gb.lgipp.txt') });
    await expect(sub.inspect(h)).rejects.toThrow(NvidiaSmiParseError);
    await expect(sub.inspect(h)).rejects.toThrow(/nvidia-smi mig -i 0 -lgip.*XYZ 1g\.20gb/);
  });
  it('a failing -lgi read is an error, not "no instances"', async () => {
    const h = fakeGpuHost({ query: H100_ON, lgip: fx('h100-80gb.lgip.txt'), lgipp: fx('h100-80gb.lgipp.txt') });
    h.onExec(exact('nvidia-smi mig -i 0 -lgi'), { exitCode: 4, stdout: 'Failed to display GPU instances: Insufficient Permissions\n' });
    await expect(sub.inspect(h)).rejects.toThrow(/`nvidia-smi mig -i 0 -lgi` failed \(exit 4: Failed to display GPU instances: Insufficient Permissions/);
  });
});

describe('step', () => {
  it('run on an applied H100 adds the mig.config.state label and changes nothing', async () => {
    const h = withToolkit(h100With7x1g());
    const ctx = ctxFor(h, cfg('1g.10gb'));
    const r = await gpuStep().run(ctx);
    expect(r).toEqual({ state: 'done', summary: 'already applied: GPU 0: 7 × 1g.10gb (1g.10gb fills the GPU)', changed: false });
    expect(ctx.shared.extraLabels).toEqual({ 'nvidia.com/mig.config.state': 'success' });
    expect(h.mutations(new Set(['nvidia-smi']))).toEqual([]);
  });
  it('plan carries the per-GPU view as details and lines', async () => {
    const p = await gpuStep().plan(ctxFor(a100Off(), cfg('1g.5gb')));
    expect(p.summary).toBe('5 action(s) on 1 MIG GPU(s)');
    expect(p.lines![0]).toBe('GPU 0 NVIDIA A100-PCIE-40GB (00000000:04:00.0), MIG Disabled');
    expect((p.details as { gpus: unknown[] }).gpus).toHaveLength(1);
  });
});
