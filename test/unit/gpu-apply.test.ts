/**
 * apply() error paths with a scripted FakeHost. The happy path runs against the
 * nvidia-smi test double in test/integration/gpu-double.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { apply, inspect, planGpu, RebootRequestedError, REBOOT_GUARD_FILE, type GpuActual, type GpuApplyOptions } from '../../agent/gpu/gpu.ts';
import type { GpuConfig } from '../../agent/config/types.ts';
import { isRefusal, isSkip, refusalError } from '../../agent/contract.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { exact, fakeGpuHost, fx, mutatingSmi, QUERY } from './gpu-fixtures.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const GUARD = `${STATE}/${REBOOT_GUARD_FILE}`;
/** inspect → plan → apply with these options (the step's phases without the runner). */
function gpuSubsystem(opts: GpuApplyOptions) {
  return {
    inspect: (h: FakeHost) => inspect(h, opts),
    plan: (d: GpuConfig, a: GpuActual) => {
      const p = planGpu(d, a);
      if (isRefusal(p)) throw refusalError(p);
      return isSkip(p) ? { actions: [] } : p;
    },
    apply: (h: FakeHost, p: Parameters<typeof apply>[1]) => apply(h, p, opts),
  };
}
const sub = gpuSubsystem({ stateDir: STATE });
const cfg = (...partitionSizes: string[]) => ({ mig: { partitionSizes } });
const BUS = '00000000:04:00.0';
const row = (cur: string, pend: string) => `0, ${BUS}, NVIDIA A100-PCIE-40GB, ${cur}, ${pend}, 40960 MiB\n`;

/** An A100 with MIG off whose `-mig 1` only makes the mode pending; reset behaviour is scripted. */
function pendingA100(reset: { exitCode: number; stdout: string }): FakeHost {
  let pending = 'Disabled';
  const h = fakeGpuHost({ query: row('Disabled', 'Disabled'), lgip: fx('a100-40gb.lgip.txt'), lgipp: fx('a100-40gb.lgipp.derived.txt') });
  h.onExec(exact(QUERY), () => ({ stdout: row('Disabled', pending) }));
  h.onExec(exact('nvidia-smi -i 0 -mig 1'), () => {
    pending = 'Enabled';
    return { stdout: fx('a100.mig-enable-pending-not-supported.txt').replaceAll('00000000:00:03.0', BUS) };
  });
  h.onExec(exact(`nvidia-smi -r -i ${BUS}`), reset);
  h.onExec(exact('systemctl reboot'), { exitCode: 0 });
  return h;
}

async function run(h: FakeHost, sizes = cfg('1g.5gb')) {
  const actions = sub.plan(sizes, await sub.inspect(h));
  await sub.apply(h, actions);
}

describe('reset not supported → reboot once, guarded, then fail loudly', () => {
  it('first run writes the guard (0600), reboots, and stops; second run fails without a second reboot', async () => {
    const notSupported = { exitCode: 3, stdout: fx('a100.gpu-reset-not-supported.txt').replace('00000000:00:03.0', BUS) };
    const h = pendingA100(notSupported);
    const err = await run(h).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RebootRequestedError);
    expect((err as Error).message).toBe(
      `MIG mode is pending on ${BUS} and the GPU cannot be reset here; rebooting once to make it effective (guard: ${GUARD})`,
    );
    expect(h.files.get(GUARD)!.mode).toBe(0o600);
    expect(JSON.parse(h.files.get(GUARD)!.data)).toMatchObject({ busIds: [BUS] });
    expect(h.execLines().filter((l) => l === 'systemctl reboot')).toHaveLength(1);
    expect(mutatingSmi(h)).toEqual(['nvidia-smi -i 0 -mig 1', `nvidia-smi -r -i ${BUS}`]); // no instance was touched

    // "After the reboot" the mode is still pending (passthrough where reboot does not help).
    const err2 = (await run(h).catch((e: unknown) => e)) as AgentError;
    expect(err2).toBeInstanceOf(AgentError);
    expect(err2).not.toBeInstanceOf(RebootRequestedError);
    expect(err2.message).toMatch(new RegExp(`MIG mode is still pending on ${BUS} after the one reboot castai-edge-initd allows \\(guard ${GUARD}`));
    expect(err2.message).toMatch(/reset: Resetting GPU 00000000:04:00.0 is not supported\./);
    expect(err2.remediation).toMatch(/enable MIG mode on the hypervisor\/host side or power-cycle .* remove .*gpu-reboot-attempted/);
    expect(h.execLines().filter((l) => l === 'systemctl reboot')).toHaveLength(1);
  });
  it('the reboot command is configurable', async () => {
    const h = pendingA100({ exitCode: 3, stdout: `Resetting GPU ${BUS} is not supported.\n` });
    h.onExec(exact('/sbin/reboot'), { exitCode: 0 });
    const s = gpuSubsystem({ stateDir: STATE, rebootCommand: ['/sbin/reboot'] });
    await expect(s.apply(h, s.plan(cfg('1g.5gb'), await s.inspect(h)))).rejects.toBeInstanceOf(RebootRequestedError);
    expect(h.execLines()).toContain('/sbin/reboot');
  });
});

describe('known failures become remediation', () => {
  const inUse = {
    exitCode: 255,
    stdout: `GPU ${BUS} is currently in use by another process.\n\n1 device is currently being used by one or more other processes (e.g., Fabric Manager, CUDA application, graphics application such as an X server, or a monitoring application such as another instance of nvidia-smi). Please first kill all processes using this device and all compute applications running in the system.\n`,
  };
  it('reset blocked with nvidia_drm loaded and nvidia-persistenced running', async () => {
    const h = pendingA100(inUse);
    h.setFile('/proc/modules', 'nvidia_uvm 1 0 - Live 0x0\nnvidia_drm 90112 0 - Live 0x0\nnvidia 1 2 nvidia_drm, Live 0x0\n');
    h.setFile('/run/nvidia-persistenced/nvidia-persistenced.pid', '1234\n');
    const err = (await run(h).catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toMatch(/^gpu: `nvidia-smi -r -i 00000000:04:00\.0` failed \(exit 255: GPU 00000000:04:00\.0 is currently in use by another process\..*\) \(nvidia-persistenced is running, nvidia_drm is loaded\)$/s);
    expect(err.remediation).toMatch(/systemctl stop nvidia-persistenced.*modprobe -r nvidia_drm nvidia_modeset.*fuser -v \/dev\/nvidia\*/);
    expect(h.files.has(GUARD)).toBe(false); // "in use" is not the reboot case
  });
  it('reset blocked, nothing detected: the generic holder remediation', async () => {
    const err = (await run(pendingA100(inUse)).catch((e: unknown) => e)) as AgentError;
    expect(err.remediation).not.toMatch(/nvidia_drm is loaded/);
    expect(err.remediation).toMatch(/fuser -v \/dev\/nvidia\*/);
  });
  it('-cgi "In use by another client"', async () => {
    const h = fakeGpuHost({ query: row('Enabled', 'Enabled'), lgip: fx('a100-40gb.lgip.txt'), lgipp: fx('a100-40gb.lgipp.derived.txt') });
    h.onExec(exact('nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C'), { exitCode: 255, stdout: fx('cgi-in-use.txt') });
    const err = (await run(h).catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toMatch(/-cgi 19,19,19,19,19,19,19 -C` failed \(exit 255: Unable to create a GPU instance on GPU {2}0 using profile 20: In use by another client/);
    expect(err.remediation).toMatch(/stop every process that holds the GPU/);
    expect(mutatingSmi(h)).toEqual(['nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C']); // one attempt: in-use is not an ordering problem
  });
  it('-dgi refused: translated, and creation is not attempted', async () => {
    const h = fakeGpuHost({
      query: row('Enabled', 'Enabled'),
      lgip: fx('a100-40gb.lgip.txt'),
      lgipp: fx('a100-40gb.lgipp.derived.txt'),
      lgi: fx('a100-40gb.lgi-7x1g.derived.txt'),
      lci: fx('a100-40gb.lci-7x1g.derived.txt'),
    });
    h.onExec(exact('nvidia-smi mig -i 0 -dci'), { stdout: 'Successfully destroyed compute instance ID  0 from GPU  0 GPU instance ID  7\n' });
    h.onExec(exact('nvidia-smi mig -i 0 -dgi'), {
      exitCode: 255,
      stdout: 'Unable to destroy GPU instance ID  7 from GPU  0: In use by another client\nFailed to destroy GPU instances: In use by another client\n',
    });
    await expect(run(h, cfg('3g.20gb'))).rejects.toThrow(/-dgi` failed \(exit 255: Unable to destroy GPU instance ID {2}7/);
    expect(mutatingSmi(h)).toEqual(['nvidia-smi mig -i 0 -dci', 'nvidia-smi mig -i 0 -dgi']);
  });
});

describe('create: other orders on failure, then re-read and compare', () => {
  const NVL = '0, 00000000:1B:00.0, NVIDIA H100 NVL, Enabled, Enabled, 95830 MiB\n';
  it('largest first fails with Insufficient Resources → cleared → the next order works → verified', async () => {
    let created = false;
    const h = fakeGpuHost({ query: NVL, lgip: fx('h100-nvl-94gb.lgip.derived.txt'), lgipp: fx('h100-nvl-94gb.lgipp.derived.txt') });
    h.onExec(exact('nvidia-smi mig -i 0 -lgi'), () =>
      created ? { stdout: fx('h100-nvl-94gb.lgi-3-2-1-1.derived.txt') } : { exitCode: 6, stdout: 'No GPU instances found: Not Found\n' },
    );
    h.onExec(exact('nvidia-smi mig -i 0 -lci'), () =>
      created ? { stdout: fx('h100-nvl-94gb.lci-3-2-1-1.derived.txt') } : { exitCode: 6, stdout: 'No compute instances found: Not Found\n' },
    );
    h.onExec(exact('nvidia-smi mig -i 0 -cgi 9,14,19,19 -C'), {
      exitCode: 255,
      stdout: 'Unable to create a GPU instance on GPU  0 using profile 9: Insufficient Resources\nFailed to create GPU instances: Insufficient Resources\n',
    });
    h.onExec(exact('nvidia-smi mig -i 0 -cgi 9,19,14,19 -C'), () => {
      created = true;
      return { stdout: fx('h100-nvl-94gb.cgi-3-2-1-1-C.derived.txt') };
    });
    await run(h, cfg('1g.12gb', '3g.47gb', '2g.24gb', '1g.12gb'));
    expect(mutatingSmi(h)).toEqual(['nvidia-smi mig -i 0 -cgi 9,14,19,19 -C', 'nvidia-smi mig -i 0 -cgi 9,19,14,19 -C']);
  });
  it('success reported but nothing created → loud failure (mig-parted#18)', async () => {
    const h = fakeGpuHost({ query: row('Enabled', 'Enabled'), lgip: fx('a100-40gb.lgip.txt'), lgipp: fx('a100-40gb.lgipp.derived.txt') });
    h.onExec(exact('nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C'), { stdout: fx('a100-40gb.cgi-7x19-C.derived.txt') });
    const err = (await run(h).catch((e: unknown) => e)) as AgentError;
    expect(err).toBeInstanceOf(AgentError);
    expect(err.message).toBe(
      'MIG on GPU 0 (NVIDIA A100-PCIE-40GB) is (none) after apply, expected 7 × 1g.5gb: nvidia-smi reported success but the layout is not there (mig-parted#18)',
    );
  });
  it('every order fails → the orders tried are listed', async () => {
    const h = fakeGpuHost({ query: row('Enabled', 'Enabled'), lgip: fx('a100-40gb.lgip.txt'), lgipp: fx('a100-40gb.lgipp.derived.txt') });
    h.onExec((c, a) => c === 'nvidia-smi' && a.includes('-cgi'), { exitCode: 255, stdout: 'Failed to create GPU instances: Insufficient Resources\n' });
    await expect(run(h, cfg('3g.20gb', '1g.5gb'))).rejects.toThrow(/every creation order failed with "Insufficient Resources" \(tried -cgi 9,19 \| 19,9\)/);
  });
  it('unknown -cgi output fails loudly', async () => {
    const h = fakeGpuHost({ query: row('Enabled', 'Enabled'), lgip: fx('a100-40gb.lgip.txt'), lgipp: fx('a100-40gb.lgipp.derived.txt') });
    h.onExec((c, a) => c === 'nvidia-smi' && a.includes('-cgi'), { stdout: 'Created something\n' });
    await expect(run(h)).rejects.toThrow(/cannot parse output of `nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C`: unexpected line at line 1: "Created something"/);
  });
  it('names unknown until MIG is on are validated before any instance is created', async () => {
    let on = false;
    const h = fakeGpuHost({ query: '' }); // -lgip: "No MIG-enabled devices found." while off
    h.onExec(exact(QUERY), () => ({ stdout: `0, 00000000:16:00.0, NVIDIA H100 80GB HBM3, ${on ? 'Enabled, Enabled' : 'Disabled, Disabled'}, 81559 MiB\n` }));
    h.onExec(exact('nvidia-smi -i 0 -mig 1'), () => {
      on = true;
      return { stdout: fx('h100-80gb.mig-enable.txt') };
    });
    h.onExec(exact('nvidia-smi mig -i 0 -lgip'), () =>
      on ? { stdout: fx('h100-80gb.lgip.txt') } : { exitCode: 6, stdout: 'No MIG-enabled devices found.\n' },
    );
    h.onExec(exact('nvidia-smi mig -i 0 -lgipp'), () =>
      on ? { stdout: fx('h100-80gb.lgipp.txt') } : { exitCode: 6, stdout: 'No MIG-enabled devices found.\n' },
    );
    await expect(run(h)).rejects.toThrow(
      'INITD_GPU_CONFIG: profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3 (GPU 0); available: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb',
    );
    expect(mutatingSmi(h)).toEqual(['nvidia-smi -i 0 -mig 1']);
  });
});

describe('apply executes the plan it showed (issue 17)', () => {
  it('creates and verifies the layout the plan resolved, without resolving it again from -lgip', async () => {
    let lgipReads = 0;
    let created = false;
    const h = new FakeHost();
    h.onExec(exact(QUERY), { stdout: row('Enabled', 'Enabled') });
    h.onExec(exact('nvidia-smi mig -i 0 -lgip'), () => {
      lgipReads += 1;
      // Readable while planning; unreadable afterwards: an apply that re-planned would fail here.
      return lgipReads === 1
        ? { stdout: fx('a100-40gb.lgip.txt') }
        : { exitCode: 4, stdout: 'Failed to display GPU instance profiles: Insufficient Permissions\n' };
    });
    h.onExec(exact('nvidia-smi mig -i 0 -lgipp'), { stdout: fx('a100-40gb.lgipp.derived.txt') });
    h.onExec(exact('nvidia-smi mig -i 0 -lgi'), () =>
      created ? { stdout: fx('a100-40gb.lgi-7x1g.derived.txt') } : { stdout: 'No GPU instances found: Not Found\n', exitCode: 6 },
    );
    h.onExec(exact('nvidia-smi mig -i 0 -lci'), () =>
      created ? { stdout: fx('a100-40gb.lci-7x1g.derived.txt') } : { stdout: 'No compute instances found: Not Found\n', exitCode: 6 },
    );
    h.onExec(exact('nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C'), () => {
      created = true;
      return { stdout: fx('a100-40gb.cgi-7x19-C.derived.txt') };
    });
    const p = sub.plan(cfg('1g.5gb'), await sub.inspect(h));
    const create = p.actions.find((a) => a.kind === 'gpu.mig.create')!;
    expect(create.description).toContain('-cgi 19,19,19,19,19,19,19 -C');
    await sub.apply(h, p);
    expect(mutatingSmi(h)).toEqual(['nvidia-smi mig -i 0 -cgi 19,19,19,19,19,19,19 -C']);
    expect(lgipReads).toBe(1);
  });
});
