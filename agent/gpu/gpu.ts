/**
 * The GPU/MIG subsystem: inspect → plan (pure) → apply (idempotent).
 *
 * Desired: `AgentConfig.gpu` (`{ mig?: { partitionSizes: string[] } }`), the
 * multiset of MIG profiles for EACH MIG-capable GPU; a single entry fills the
 * GPU (docs/decisions/0060-mig-partition-semantics.md).
 *
 * Apply order (host-recipes.md, GPU/MIG): enable mode → reset pending GPUs by
 * bus id → reboot once (guarded by a state file) if reset is unsupported, then
 * fail loudly → destroy CIs, then GIs → create largest first (`-cgi … -C`,
 * other orders on failure) → re-read and compare (mig-parted#18).
 */
import path from 'node:path';
import { AgentError, EXIT } from '../errors.ts';
import type { GpuConfig } from '../config/types.ts';
import type { Host } from '../host/host.ts';
import type { Action, Subsystem } from '../subsystem.ts';
import {
  creationOrders,
  currentLayout,
  describeLayout,
  MigLayoutError,
  resolveLayout,
  sameLayout,
  type GpuCapabilities,
} from './layout.ts';
import {
  holderFacts,
  queryGpus,
  readInstances,
  readModes,
  readProfiles,
  smi,
  translateFailure,
  unexpected,
  type DriverState,
  type GpuState,
} from './nvidia-smi.ts';
import { parseMigCall, parseMigEnable } from './parse.ts';


export interface RebootGuard {
  at: string;
  busIds: string[];
}

export interface GpuActual {
  driver: DriverState;
  detail?: string;
  gpus: GpuState[];
  /** Contents of the reboot-once guard file, when present. */
  rebootGuard?: RebootGuard;
  /** nvidia-container-runtime found on the host (nvidia-container-toolkit), if any. */
  containerRuntime?: string;
  /** Current contents of the k0s containerd drop-in, if any. */
  containerdDropIn?: string;
}

export type GpuAction = Action &
  (
    | { kind: 'gpu.mig.enable'; gpu: number; busId: string }
    | { kind: 'gpu.mig.reset'; gpus: Array<{ gpu: number; busId: string }> }
    | { kind: 'gpu.mig.reboot-once'; gpus: Array<{ gpu: number; busId: string }> }
    | { kind: 'gpu.mig.clear'; gpu: number; model: string; sizes: string[] }
    | { kind: 'gpu.mig.create'; gpu: number; model: string; sizes: string[]; expected?: string[] }
    | { kind: 'gpu.mig.verify'; gpu: number; model: string; sizes: string[]; expected?: string[] }
    | { kind: 'gpu.mig.reboot-guard.clear' }
    | { kind: 'gpu.containerd.dropin'; path: string; content: string }
  );

export interface GpuSubsystemOptions {
  /** The agent's state directory (the reboot guard lives there). */
  stateDir: string;
  /** Command that reboots the host (default `systemctl reboot`). */
  rebootCommand?: string[];
}

/** k0s (>= 1.27.1) merges containerd drop-ins from this directory. */
export const CONTAINERD_DROPIN = '/etc/k0s/containerd.d/nvidia.toml';
export const CONTAINER_RUNTIME_PATHS = ['/usr/bin/nvidia-container-runtime', '/usr/local/nvidia/toolkit/nvidia-container-runtime'];

/** The containerd runtime "nvidia" for k0s, pointing at nvidia-container-runtime. */
export function containerdDropIn(runtime: string): string {
  return [
    '# Written by castai-edge-initd: the NVIDIA container runtime for k0s containerd (nvidia-container-toolkit).',
    'version = 2',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]',
    '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]',
    `  BinaryName = "${runtime}"`,
    '',
  ].join('\n');
}

export const REBOOT_GUARD_FILE = 'gpu-reboot-attempted';

/** Thrown after the one allowed reboot was requested: the run must stop here. */
export class RebootRequestedError extends AgentError {
  constructor(busIds: string[], guard: string) {
    super(
      `MIG mode is pending on ${busIds.join(', ')} and the GPU cannot be reset here; rebooting once to make it effective (guard: ${guard})`,
      'nothing to do: the host reboots now and castai-edge-initd applies MIG on the next boot',
      EXIT.RUNTIME,
    );
    this.name = 'RebootRequestedError';
  }
}

const partitionSizes = (d: GpuConfig | undefined): string[] => d?.mig?.partitionSizes ?? [];

function capabilities(g: GpuState): GpuCapabilities | undefined {
  if (!g.profiles || !g.placements || g.profiles.length === 0) return undefined;
  return { index: g.index, model: g.model, profiles: g.profiles, placements: g.placements };
}

// ---------------------------------------------------------------------------
// inspect

export async function inspect(host: Host, opts: Pick<GpuSubsystemOptions, 'stateDir'>): Promise<GpuActual> {
  const q = await queryGpus(host);
  const actual: GpuActual = { driver: q.driver, ...(q.detail ? { detail: q.detail } : {}), gpus: [] };
  for (const g of q.rows) {
    if (g.migCurrent === 'N/A') {
      actual.gpus.push(g);
      continue;
    }
    const caps = await readProfiles(host, g.index);
    const inst = g.migCurrent === 'Enabled' ? await readInstances(host, g.index) : { gis: [], cis: [] };
    actual.gpus.push({ ...g, ...caps, ...inst });
  }
  if (q.driver === 'ok') {
    for (const p of CONTAINER_RUNTIME_PATHS) {
      const st = await host.stat(p);
      if (st?.isFile) {
        actual.containerRuntime = p;
        break;
      }
    }
    const drop = await host.readFile(CONTAINERD_DROPIN);
    if (drop !== undefined) actual.containerdDropIn = drop;
  }
  const guardText = await host.readFile(path.join(opts.stateDir, REBOOT_GUARD_FILE));
  if (guardText !== undefined) {
    try {
      actual.rebootGuard = JSON.parse(guardText) as RebootGuard;
    } catch {
      actual.rebootGuard = { at: 'unknown', busIds: [] };
    }
  }
  return actual;
}

// ---------------------------------------------------------------------------
// plan (pure)

export interface GpuAnalysis {
  warnings: string[];
  gpus: Array<{
    index: number;
    busId: string;
    model: string;
    migMode: string;
    current: string;
    desired: string;
    /** Resolved instance names, when the profiles were readable. */
    expected?: string[];
    skipped?: string;
    note?: string;
  }>;
}

/** Per-GPU view and warnings; throws on refusals. Pure. */
export function analyze(desired: GpuConfig | undefined, actual: GpuActual): GpuAnalysis {
  const sizes = partitionSizes(desired);
  const out: GpuAnalysis = { warnings: [], gpus: [] };
  if (sizes.length === 0) return out;
  if (actual.driver !== 'ok') {
    throw new AgentError(
      `INITD_GPU_CONFIG asks for MIG partitions (${sizes.join(', ')}) but there is no usable NVIDIA GPU: ${actual.detail ?? actual.driver}`,
      actual.driver === 'failed'
        ? 'fix the NVIDIA driver (`nvidia-smi` must work as root), or unset INITD_GPU_CONFIG on hosts without NVIDIA GPUs'
        : 'install the NVIDIA driver so that `nvidia-smi` lists the GPUs, or unset INITD_GPU_CONFIG on hosts without NVIDIA GPUs',
      EXIT.RUNTIME,
    );
  }
  const refusals: string[] = [];
  for (const g of actual.gpus) {
    const mode = g.migCurrent === 'N/A' ? 'not supported' : g.migCurrent === g.migPending ? g.migCurrent : `${g.migCurrent} (pending ${g.migPending})`;
    const cur = currentLayout(g.index, g.gis, g.cis);
    const row: GpuAnalysis['gpus'][number] = {
      index: g.index,
      busId: g.busId,
      model: g.model,
      migMode: mode,
      current: g.migCurrent === 'Enabled' ? describeLayout(cur.gis) + (cur.complete ? '' : ` (incomplete: ${cur.problems.join('; ')})`) : 'MIG off',
      desired: '',
    };
    if (g.migCurrent === 'N/A') {
      row.skipped = 'no MIG support';
      row.desired = '(skipped)';
      out.warnings.push(`GPU ${g.index} (${g.model}, ${g.busId}) does not support MIG ([N/A]); skipped`);
      out.gpus.push(row);
      continue;
    }
    const caps = capabilities(g);
    if (!caps) {
      row.desired = `${sizes.join(', ')}${sizes.length === 1 ? ' (fill)' : ''}`;
      row.note = 'the driver lists MIG profiles only in MIG mode: sizes are checked against -lgip after MIG mode is enabled, before any instance is created';
      out.gpus.push(row);
      continue;
    }
    try {
      const layout = resolveLayout(sizes, caps);
      row.expected = layout.instances.map((p) => p.name);
      row.desired = describeLayout(row.expected) + (layout.filled ? ` (${sizes[0]} fills the GPU)` : '');
    } catch (e) {
      if (!(e instanceof MigLayoutError)) throw e;
      refusals.push(e.message);
    }
    out.gpus.push(row);
  }
  if (refusals.length) {
    throw new AgentError(
      `INITD_GPU_CONFIG: ${refusals.join('\n')}`,
      'choose partitionSizes from the names listed for this GPU model (`nvidia-smi mig -lgip`) and a set that fits; a single entry fills each GPU',
      EXIT.CONFIG,
    );
  }
  if (!actual.gpus.some((g) => g.migCurrent !== 'N/A')) {
    out.warnings.push('INITD_GPU_CONFIG is set but no GPU on this host supports MIG; nothing to partition');
  }
  if (!actual.containerRuntime) {
    out.warnings.push(
      `nvidia-container-toolkit is not installed (no ${CONTAINER_RUNTIME_PATHS.join(' or ')}): pods will not see the GPUs; install nvidia-container-toolkit and restart castai-edge-initd`,
    );
  }
  return out;
}

/** Pure: the actions that bring every MIG-capable GPU to the desired layout. */
export function plan(desired: GpuConfig | undefined, actual: GpuActual): GpuAction[] {
  const sizes = partitionSizes(desired);
  if (sizes.length === 0) return [];
  const view = analyze(desired, actual);
  const enable: GpuAction[] = [];
  const pendingGpus: Array<{ gpu: number; busId: string }> = [];
  const perGpu: GpuAction[] = [];
  for (const g of actual.gpus) {
    if (g.migCurrent === 'N/A') continue;
    const row = view.gpus.find((r) => r.index === g.index)!;
    const expected = row.expected;
    const modeOn = g.migCurrent === 'Enabled';
    if (modeOn && g.migPending === 'Enabled' && expected && sameLayout(currentLayout(g.index, g.gis, g.cis), expected)) continue;
    if (g.migPending !== 'Enabled') {
      enable.push({
        kind: 'gpu.mig.enable', gpu: g.index, busId: g.busId,
        description: `enable MIG mode on GPU ${g.index} (${g.model}, ${g.busId}): nvidia-smi -i ${g.index} -mig 1`,
        reason: `MIG mode is ${row.migMode}`,
      });
    }
    if (!modeOn) pendingGpus.push({ gpu: g.index, busId: g.busId });
    if (modeOn && (g.gis.length || g.cis.length)) {
      perGpu.push({
        kind: 'gpu.mig.clear', gpu: g.index, model: g.model, sizes: [...sizes],
        description: `destroy the compute instances, then the GPU instances on GPU ${g.index}: nvidia-smi mig -i ${g.index} -dci; -dgi`,
        reason: `current layout ${row.current} differs from ${row.desired}`,
      });
    }
    // expected is already largest first (resolveLayout); -cgi takes this GPU's profile ids.
    const order = expected?.map((n) => g.profiles!.find((x) => x.name === n)!.id);
    perGpu.push({
      kind: 'gpu.mig.create', gpu: g.index, model: g.model, sizes: [...sizes],
      ...(expected ? { expected } : {}),
      description: expected
        ? `create ${describeLayout(expected)} on GPU ${g.index}: nvidia-smi mig -i ${g.index} -cgi ${order!.join(',')} -C`
        : `create ${sizes.join(', ')}${sizes.length === 1 ? ' (fill)' : ''} on GPU ${g.index} once MIG mode is on (checked against its -lgip first)`,
      reason: `desired ${row.desired}, current ${row.current}`,
    });
    perGpu.push({
      kind: 'gpu.mig.verify', gpu: g.index, model: g.model, sizes: [...sizes],
      ...(expected ? { expected } : {}),
      description: `re-read GPU ${g.index} (-lgi, -lci) and compare with the desired layout`,
      reason: 'an apply can report success and leave nothing (mig-parted#18)',
    });
  }
  const actions: GpuAction[] = [...enable];
  if (actual.containerRuntime && actual.gpus.some((g) => g.migCurrent !== 'N/A')) {
    const content = containerdDropIn(actual.containerRuntime);
    if (actual.containerdDropIn !== content) {
      perGpu.push({
        kind: 'gpu.containerd.dropin', path: CONTAINERD_DROPIN, content,
        description: `write the k0s containerd drop-in ${CONTAINERD_DROPIN} (runtime "nvidia" → ${actual.containerRuntime})`,
        reason: actual.containerdDropIn === undefined ? 'nvidia-container-toolkit is installed and k0s containerd has no NVIDIA runtime' : 'the drop-in differs from what the agent writes',
      });
    }
  }
  if (pendingGpus.length) {
    const ids = pendingGpus.map((p) => p.busId).join(',');
    actions.push({
      kind: 'gpu.mig.reset', gpus: pendingGpus,
      description: `reset the GPUs whose MIG mode is still pending: nvidia-smi -r -i ${ids}`,
      reason: 'a new MIG mode takes effect only after a GPU reset',
    });
    actions.push({
      kind: 'gpu.mig.reboot-once', gpus: pendingGpus,
      description: actual.rebootGuard
        ? `if MIG mode is still pending: fail (the one reboot was already tried at ${actual.rebootGuard.at})`
        : `if MIG mode is still pending (reset not supported): reboot once, guarded by ${REBOOT_GUARD_FILE}`,
      reason: 'GPU passthrough often cannot reset the GPU; only a reboot applies the mode',
    });
  }
  actions.push(...perGpu);
  if (actions.length && actual.rebootGuard) {
    actions.push({
      kind: 'gpu.mig.reboot-guard.clear',
      description: `remove the reboot guard ${REBOOT_GUARD_FILE} once MIG is applied`,
      reason: 'the guard only blocks a second reboot for the same pending mode',
    });
  }
  return actions;
}

// ---------------------------------------------------------------------------
// describePlan (for the `plan` command)

export interface GpuPlanView {
  summary: string;
  warnings: string[];
  /** Actions not tied to one GPU (containerd drop-in, reboot guard). */
  nodeActions?: string[];
  gpus: Array<GpuAnalysis['gpus'][number] & { actions: string[] }>;
  lines: string[];
}

export function describePlan(desired: GpuConfig | undefined, actual: GpuActual, actions: GpuAction[]): GpuPlanView {
  const sizes = partitionSizes(desired);
  if (sizes.length === 0) return { summary: 'skipped: INITD_GPU_CONFIG not set', warnings: [], gpus: [], lines: [] };
  const view = analyze(desired, actual);
  const gpus = view.gpus.map((g) => ({
    ...g,
    actions: actions
      .filter((a) => ('gpu' in a && a.gpu === g.index) || ('gpus' in a && a.gpus.some((x) => x.gpu === g.index)))
      .map((a) => a.description),
  }));
  const lines: string[] = [];
  for (const g of gpus) {
    lines.push(`GPU ${g.index} ${g.model} (${g.busId}), MIG ${g.migMode}`);
    lines.push(`  current: ${g.current}`);
    lines.push(`  desired: ${g.desired}`);
    if (g.note) lines.push(`  note: ${g.note}`);
    // The action descriptions themselves follow in the plan output (each names its GPU).
    if (!g.skipped) lines.push(g.actions.length ? `  actions: ${g.actions.length}` : '  actions: none (already applied)');
  }
  const nodeActions = actions.filter((a) => !('gpu' in a) && !('gpus' in a)).map((a) => a.description);
  for (const w of view.warnings) lines.push(`WARN ${w}`);
  const mig = gpus.filter((g) => !g.skipped).length;
  const summary = mig === 0 ? 'nothing to do: no MIG-capable GPU' : actions.length ? `${actions.length} action(s) on ${mig} MIG GPU(s)` : `nothing to do: ${mig} MIG GPU(s) already partitioned`;
  return { summary, warnings: view.warnings, gpus, ...(nodeActions.length ? { nodeActions } : {}), lines };
}

// ---------------------------------------------------------------------------
// apply (idempotent)

async function freshCaps(host: Host, gpu: number, model: string): Promise<GpuCapabilities> {
  const c = await readProfiles(host, gpu);
  if (!c.profiles || !c.placements) {
    throw new AgentError(`GPU ${gpu} (${model}) lists no MIG profiles although MIG mode should be on`, 'check `nvidia-smi mig -i N -lgip`; the driver may be too old for MIG');
  }
  return { index: gpu, model, profiles: c.profiles, placements: c.placements };
}

function layoutFor(a: { gpu: number; sizes: string[] }, caps: GpuCapabilities) {
  try {
    return resolveLayout(a.sizes, caps);
  } catch (e) {
    if (e instanceof MigLayoutError) {
      throw new AgentError(
        `INITD_GPU_CONFIG: ${e.message}`,
        'choose partitionSizes from the names listed for this GPU model (`nvidia-smi mig -lgip`) and a set that fits; a single entry fills each GPU',
        EXIT.CONFIG,
      );
    }
    throw e;
  }
}

async function clearGpu(host: Host, gpu: number): Promise<void> {
  const { gis, cis } = await readInstances(host, gpu);
  if (cis.length) await mutate(host, ['mig', '-i', String(gpu), '-dci']);
  if (gis.length) await mutate(host, ['mig', '-i', String(gpu), '-dgi']);
}

/** Run a mutating `nvidia-smi mig` call; throw translated errors. */
async function mutate(host: Host, args: string[]): Promise<ReturnType<typeof parseMigCall>> {
  const r = await smi(host, args);
  const res = parseMigCall(`${r.stdout}\n${r.stderr}`, ['nvidia-smi', ...args].join(' '));
  if (r.exitCode !== 0 || res.errors.length) {
    if (res.nothingFound && res.errors.length === 0) return res;
    throw translateFailure(args, r, await holderFacts(host));
  }
  return res;
}

async function createGpu(host: Host, a: Extract<GpuAction, { kind: 'gpu.mig.create' }>): Promise<void> {
  const caps = await freshCaps(host, a.gpu, a.model);
  const layout = layoutFor(a, caps);
  const want = layout.instances.map((p) => p.name);
  let inst = await readInstances(host, a.gpu);
  if (sameLayout(currentLayout(a.gpu, inst.gis, inst.cis), want)) return; // already there (idempotent)
  if (inst.gis.length || inst.cis.length) await clearGpu(host, a.gpu);
  const tried: string[] = [];
  for (const order of creationOrders(layout.instances)) {
    const args = ['mig', '-i', String(a.gpu), '-cgi', order.join(','), '-C'];
    const r = await smi(host, args);
    const res = parseMigCall(`${r.stdout}\n${r.stderr}`, ['nvidia-smi', ...args].join(' '));
    if (r.exitCode === 0 && res.errors.length === 0) return;
    const out = `${r.stdout}\n${r.stderr}`;
    if (!/Insufficient Resources/i.test(out)) throw translateFailure(args, r, await holderFacts(host));
    tried.push(order.join(','));
    inst = await readInstances(host, a.gpu);
    if (inst.gis.length || inst.cis.length) await clearGpu(host, a.gpu);
  }
  throw new AgentError(
    `could not create ${describeLayout(want)} on GPU ${a.gpu} (${a.model}): every creation order failed with "Insufficient Resources" (tried -cgi ${tried.join(' | ')})`,
    'check for instances created outside the agent (`nvidia-smi mig -lgi`) and the driver log (`dmesg | grep -i nvrm`); a GPU reset or reboot clears stuck state',
  );
}

async function verifyGpu(host: Host, a: Extract<GpuAction, { kind: 'gpu.mig.verify' }>): Promise<void> {
  const want = a.expected ?? layoutFor(a, await freshCaps(host, a.gpu, a.model)).instances.map((p) => p.name);
  const inst = await readInstances(host, a.gpu);
  const cur = currentLayout(a.gpu, inst.gis, inst.cis);
  if (!sameLayout(cur, want)) {
    throw new AgentError(
      `MIG on GPU ${a.gpu} (${a.model}) is ${describeLayout(cur.gis)}${cur.problems.length ? ` (${cur.problems.join('; ')})` : ''} after apply, expected ${describeLayout(want)}: nvidia-smi reported success but the layout is not there (mig-parted#18)`,
      'run `nvidia-smi mig -lgi` and `-lci`, check `dmesg | grep -i nvrm`, then restart castai-edge-initd to re-apply',
    );
  }
}

async function stillPending(host: Host, gpus: Array<{ gpu: number; busId: string }>): Promise<Array<{ gpu: number; busId: string }>> {
  const modes = await readModes(host);
  return gpus.filter((g) => modes.get(g.gpu)?.current !== 'Enabled');
}

export async function apply(host: Host, actions: GpuAction[], opts: GpuSubsystemOptions): Promise<void> {
  const guardPath = path.join(opts.stateDir, REBOOT_GUARD_FILE);
  let resetUnsupported = '';
  for (const a of actions) {
    switch (a.kind) {
      case 'gpu.mig.enable': {
        if ((await readModes(host)).get(a.gpu)?.pending === 'Enabled') break; // already requested (idempotent)
        const args = ['-i', String(a.gpu), '-mig', '1'];
        const r = await smi(host, args);
        if (r.exitCode !== 0) throw translateFailure(args, r, await holderFacts(host));
        parseMigEnable(r.stdout, ['nvidia-smi', ...args].join(' ')); // unknown output fails loudly
        break;
      }
      case 'gpu.mig.reset': {
        const pending = await stillPending(host, a.gpus);
        if (pending.length === 0) break;
        const args = ['-r', '-i', pending.map((p) => p.busId).join(',')];
        const r = await smi(host, args);
        const out = `${r.stdout}\n${r.stderr}`;
        if (r.exitCode === 0) break;
        if (/is not supported|Not Supported/i.test(out)) {
          resetUnsupported = out.trim();
          break; // the reboot-once action handles it
        }
        throw translateFailure(args, r, await holderFacts(host));
      }
      case 'gpu.mig.reboot-once': {
        const pending = await stillPending(host, a.gpus);
        if (pending.length === 0) break;
        const ids = pending.map((p) => p.busId);
        const guard = await host.readFile(guardPath);
        if (guard !== undefined) {
          throw new AgentError(
            `MIG mode is still pending on ${ids.join(', ')} after the one reboot castai-edge-initd allows (guard ${guardPath}: ${guard.trim()})${resetUnsupported ? `; reset: ${resetUnsupported}` : ''}`,
            `this host cannot apply MIG mode by itself (GPU passthrough without reset support?): enable MIG mode on the hypervisor/host side or power-cycle the machine, then remove ${guardPath} and restart castai-edge-initd`,
          );
        }
        const g: RebootGuard = { at: new Date().toISOString(), busIds: ids };
        await host.writeFileAtomic(guardPath, `${JSON.stringify(g)}\n`, { mode: 0o600, dirMode: 0o700 });
        const [cmd, ...args] = opts.rebootCommand ?? ['systemctl', 'reboot'];
        const r = await host.exec(cmd!, args, { timeoutMs: 60_000 });
        if (r.exitCode !== 0) throw unexpected([cmd!, ...args], r);
        throw new RebootRequestedError(ids, guardPath);
      }
      case 'gpu.mig.clear': {
        // Idempotent: a second apply of the same actions must not tear down the layout it built.
        const inst = await readInstances(host, a.gpu);
        if (inst.gis.length === 0 && inst.cis.length === 0) break;
        const want = layoutFor(a, await freshCaps(host, a.gpu, a.model)).instances.map((p) => p.name);
        if (sameLayout(currentLayout(a.gpu, inst.gis, inst.cis), want)) break;
        await clearGpu(host, a.gpu);
        break;
      }
      case 'gpu.mig.create':
        await createGpu(host, a);
        break;
      case 'gpu.mig.verify':
        await verifyGpu(host, a);
        break;
      case 'gpu.containerd.dropin':
        if ((await host.readFile(a.path)) !== a.content) await host.writeFileAtomic(a.path, a.content, { mode: 0o644 });
        break;
      case 'gpu.mig.reboot-guard.clear':
        if ((await host.stat(guardPath)) !== undefined) await host.remove(guardPath);
        break;
    }
  }
}

// ---------------------------------------------------------------------------

export function gpuSubsystem(opts: GpuSubsystemOptions): Subsystem<GpuConfig | undefined, GpuActual, GpuAction> {
  return {
    name: 'gpu',
    inspect: (host) => inspect(host, opts),
    plan,
    apply: (host, actions) => apply(host, actions, opts),
  };
}
