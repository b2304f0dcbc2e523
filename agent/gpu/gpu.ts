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
import { runChecked } from '../host/command-failure.ts';
import type { Host } from '../host/host.ts';
import { execute, isRefusal, refusal, skip, type Action, type Executors, type Refusal, type Skip } from '../contract.ts';
import {
  creationOrders,
  currentLayout,
  describeLayout,
  MigLayoutError,
  resolveLayout,
  sameLayout,
  type GpuCapabilities,
  type ResolvedProfile,
} from './layout.ts';
import {
  holderFacts,
  queryGpus,
  readInstances,
  readModes,
  readProfiles,
  smi,
  translateFailure,
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
    | { kind: 'gpu.mig.clear'; gpu: number; model: string; sizes: string[]; expected?: string[] }
    | { kind: 'gpu.mig.create'; gpu: number; model: string; sizes: string[]; expected?: string[]; profiles?: ResolvedProfile[] }
    | { kind: 'gpu.mig.verify'; gpu: number; model: string; sizes: string[]; expected?: string[] }
    | { kind: 'gpu.mig.reboot-guard.clear' }
    | { kind: 'gpu.containerd.dropin'; path: string; content: string }
  );

export interface GpuApplyOptions {
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

export async function inspect(host: Host, opts: Pick<GpuApplyOptions, 'stateDir'>): Promise<GpuActual> {
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
    /** The same, with this GPU's profile ids (what `-cgi` takes), largest first. */
    profiles?: ResolvedProfile[];
    skipped?: string;
    note?: string;
  }>;
}

/** Per-GPU view and warnings, or the typed refusal. Pure; done once per plan (planGpu). */
function analyze(sizes: string[], actual: GpuActual): GpuAnalysis | Refusal {
  const out: GpuAnalysis = { warnings: [], gpus: [] };
  if (actual.driver !== 'ok') {
    return refusal(
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
      row.profiles = layout.instances;
      row.desired = describeLayout(row.expected) + (layout.filled ? ` (${sizes[0]} fills the GPU)` : '');
    } catch (e) {
      if (!(e instanceof MigLayoutError)) throw e;
      refusals.push(e.message);
    }
    out.gpus.push(row);
  }
  if (refusals.length) {
    return refusal(
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

/** A GPU plan: the actions and the one analysis they came from (describePlan shows it, apply runs the actions). */
export interface GpuPlan {
  sizes: string[];
  analysis: GpuAnalysis;
  actions: GpuAction[];
}

export const GPU_SKIPPED = 'skipped: INITD_GPU_CONFIG not set';

/** Pure: the actions that bring every MIG-capable GPU to the desired layout; a Skip without INITD_GPU_CONFIG. */
export function planGpu(desired: GpuConfig | undefined, actual: GpuActual): GpuPlan | Refusal | Skip {
  const sizes = partitionSizes(desired);
  if (sizes.length === 0) return skip(GPU_SKIPPED);
  const view = analyze(sizes, actual);
  if (isRefusal(view)) return view;
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
        ...(expected ? { expected } : {}),
        description: `destroy the compute instances, then the GPU instances on GPU ${g.index}: nvidia-smi mig -i ${g.index} -dci; -dgi`,
        reason: `current layout ${row.current} differs from ${row.desired}`,
      });
    }
    // expected is already largest first (resolveLayout); -cgi takes this GPU's profile ids.
    const order = row.profiles?.map((p) => p.id);
    perGpu.push({
      kind: 'gpu.mig.create', gpu: g.index, model: g.model, sizes: [...sizes],
      ...(expected && row.profiles ? { expected, profiles: row.profiles } : {}),
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
        kind: 'gpu.containerd.dropin',
        path: CONTAINERD_DROPIN,
        content,
        description: `write the k0s containerd drop-in ${CONTAINERD_DROPIN} (runtime "nvidia" → ${actual.containerRuntime})`,
        reason:
          actual.containerdDropIn === undefined
            ? 'nvidia-container-toolkit is installed and k0s containerd has no NVIDIA runtime'
            : 'the drop-in differs from what the agent writes',
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
  return { sizes, analysis: view, actions };
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

/** The operator's view of a plan, from the analysis the plan was made from (not a second one). */
export function describePlan(p: GpuPlan): GpuPlanView {
  const { analysis: view, actions } = p;
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
  const summary =
    mig === 0
      ? 'nothing to do: no MIG-capable GPU'
      : actions.length
        ? `${actions.length} action(s) on ${mig} MIG GPU(s)`
        : `nothing to do: ${mig} MIG GPU(s) already partitioned`;
  return { summary, warnings: view.warnings, gpus, ...(nodeActions.length ? { nodeActions } : {}), lines };
}

// ---------------------------------------------------------------------------
// apply (idempotent): executes the plan's actions, each through its executor (gpuExecutors).
//
// An action carries what the plan resolved (`expected`, `profiles`): apply creates and checks exactly
// that layout. Only when the plan could not resolve it (MIG mode was off, so the driver listed no
// profiles; the plan says "checked against its -lgip first") does apply resolve it, from -lgip.

async function freshCaps(host: Host, gpu: number, model: string): Promise<GpuCapabilities> {
  const c = await readProfiles(host, gpu);
  if (!c.profiles || !c.placements) {
    throw new AgentError(
      `GPU ${gpu} (${model}) lists no MIG profiles although MIG mode should be on`,
      'check `nvidia-smi mig -i N -lgip`; the driver may be too old for MIG',
    );
  }
  return { index: gpu, model, profiles: c.profiles, placements: c.placements };
}

/** The instances the plan resolved, or (MIG mode was off at plan time) resolved now from -lgip. */
async function instancesFor(host: Host, a: { gpu: number; model: string; sizes: string[]; profiles?: ResolvedProfile[] }): Promise<ResolvedProfile[]> {
  if (a.profiles) return a.profiles;
  try {
    return resolveLayout(a.sizes, await freshCaps(host, a.gpu, a.model)).instances;
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

/** The instance names the plan expects, or (MIG mode was off at plan time) resolved now. */
async function expectedFor(host: Host, a: { gpu: number; model: string; sizes: string[]; expected?: string[] }): Promise<string[]> {
  return a.expected ?? (await instancesFor(host, a)).map((p) => p.name);
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

/** What the executors share during one apply. */
interface GpuApplyContext {
  host: Host;
  guardPath: string;
  rebootCommand: string[];
  /** What `nvidia-smi -r` said when a reset is not supported (the reboot-once action reports it). */
  resetUnsupported: string;
}

async function stillPending(host: Host, gpus: Array<{ gpu: number; busId: string }>): Promise<Array<{ gpu: number; busId: string }>> {
  const modes = await readModes(host);
  return gpus.filter((g) => modes.get(g.gpu)?.current !== 'Enabled');
}

/** One executor per GPU action kind; the compiler checks the table is complete. */
const gpuExecutors: Executors<GpuAction, GpuApplyContext> = {
  'gpu.mig.enable': async (a, { host }) => {
    if ((await readModes(host)).get(a.gpu)?.pending === 'Enabled') return; // already requested (idempotent)
    const args = ['-i', String(a.gpu), '-mig', '1'];
    const r = await smi(host, args);
    if (r.exitCode !== 0) throw translateFailure(args, r, await holderFacts(host));
    parseMigEnable(r.stdout, ['nvidia-smi', ...args].join(' ')); // unknown output fails loudly
  },
  'gpu.mig.reset': async (a, c) => {
    const pending = await stillPending(c.host, a.gpus);
    if (pending.length === 0) return;
    const args = ['-r', '-i', pending.map((p) => p.busId).join(',')];
    const r = await smi(c.host, args);
    const out = `${r.stdout}\n${r.stderr}`;
    if (r.exitCode === 0) return;
    if (/is not supported|Not Supported/i.test(out)) {
      c.resetUnsupported = out.trim();
      return; // the reboot-once action handles it
    }
    throw translateFailure(args, r, await holderFacts(c.host));
  },
  'gpu.mig.reboot-once': async (a, c) => {
    const pending = await stillPending(c.host, a.gpus);
    if (pending.length === 0) return;
    const ids = pending.map((p) => p.busId);
    const guard = await c.host.readFile(c.guardPath);
    if (guard !== undefined) {
      throw new AgentError(
        `MIG mode is still pending on ${ids.join(', ')} after the one reboot castai-edge-initd allows (guard ${c.guardPath}: ${guard.trim()})${c.resetUnsupported ? `; reset: ${c.resetUnsupported}` : ''}`,
        `this host cannot apply MIG mode by itself (GPU passthrough without reset support?): enable MIG mode on the hypervisor/host side or power-cycle the machine, then remove ${c.guardPath} and restart castai-edge-initd`,
      );
    }
    const g: RebootGuard = { at: new Date().toISOString(), busIds: ids };
    await c.host.writeFileAtomic(c.guardPath, `${JSON.stringify(g)}\n`, { mode: 0o600, dirMode: 0o700 });
    const [cmd, ...args] = c.rebootCommand;
    await runChecked(c.host, [cmd!, ...args], {
      what: 'gpu: reboot once to apply MIG mode',
      fix: `reboot the host by hand; castai-edge-initd applies MIG on the next boot (guard ${c.guardPath})`,
      timeoutMs: 60_000,
    });
    throw new RebootRequestedError(ids, c.guardPath);
  },
  'gpu.mig.clear': async (a, { host }) => {
    // Idempotent: a second apply of the same actions must not tear down the layout it built.
    const inst = await readInstances(host, a.gpu);
    if (inst.gis.length === 0 && inst.cis.length === 0) return;
    if (sameLayout(currentLayout(a.gpu, inst.gis, inst.cis), await expectedFor(host, a))) return;
    await clearGpu(host, a.gpu);
  },
  'gpu.mig.create': async (a, { host }) => {
    const instances = await instancesFor(host, a);
    const want = instances.map((p) => p.name);
    let inst = await readInstances(host, a.gpu);
    if (sameLayout(currentLayout(a.gpu, inst.gis, inst.cis), want)) return; // already there (idempotent)
    if (inst.gis.length || inst.cis.length) await clearGpu(host, a.gpu);
    const tried: string[] = [];
    for (const order of creationOrders(instances)) {
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
  },
  'gpu.mig.verify': async (a, { host }) => {
    const want = await expectedFor(host, a);
    const inst = await readInstances(host, a.gpu);
    const cur = currentLayout(a.gpu, inst.gis, inst.cis);
    if (!sameLayout(cur, want)) {
      throw new AgentError(
        `MIG on GPU ${a.gpu} (${a.model}) is ${describeLayout(cur.gis)}${cur.problems.length ? ` (${cur.problems.join('; ')})` : ''} after apply, expected ${describeLayout(want)}: nvidia-smi reported success but the layout is not there (mig-parted#18)`,
        'run `nvidia-smi mig -lgi` and `-lci`, check `dmesg | grep -i nvrm`, then restart castai-edge-initd to re-apply',
      );
    }
  },
  'gpu.containerd.dropin': async (a, { host }) => {
    if ((await host.readFile(a.path)) !== a.content) await host.writeFileAtomic(a.path, a.content, { mode: 0o644 });
  },
  'gpu.mig.reboot-guard.clear': async (_a, c) => {
    if ((await c.host.stat(c.guardPath)) !== undefined) await c.host.remove(c.guardPath);
  },
};

/** Apply a GPU plan: exactly its actions, in order, through gpuExecutors. */
export async function apply(host: Host, plan: { actions: readonly GpuAction[] }, opts: GpuApplyOptions): Promise<void> {
  const c: GpuApplyContext = {
    host,
    guardPath: path.join(opts.stateDir, REBOOT_GUARD_FILE),
    rebootCommand: opts.rebootCommand ?? ['systemctl', 'reboot'],
    resetUnsupported: '',
  };
  await execute(gpuExecutors, plan.actions, c);
}
