/**
 * Reading the GPUs through the Host port, and turning nvidia-smi failures into
 * operator remediation. Nothing here changes the host.
 */
import { AgentError } from '../errors.ts';
import { commandFailure } from '../host/command-failure.ts';
import type { ExecResult, Host } from '../host/host.ts';
import {
  classifyMessage,
  parseLci,
  parseLgi,
  parseLgip,
  parseLgipp,
  parseQueryGpu,
  QUERY_GPU_FIELDS,
  type ComputeInstance,
  type GiProfile,
  type GpuInstance,
  type MigMode,
  type ProfilePlacements,
} from './parse.ts';
import { MODULES_FILE } from '../host/paths.ts';

export const NVIDIA_SMI = 'nvidia-smi';
const TIMEOUT_MS = 120_000; // a GPU reset or a big -cgi can take a while

export interface GpuState {
  index: number;
  busId: string;
  model: string;
  memoryTotalMiB?: number;
  migCurrent: MigMode;
  migPending: MigMode;
  /** From `-lgip`; undefined when the driver lists no profiles (MIG mode off on older drivers). */
  profiles?: GiProfile[];
  /** From `-lgipp`; undefined like `profiles`. */
  placements?: ProfilePlacements[];
  gis: GpuInstance[];
  cis: ComputeInstance[];
}

export type DriverState = 'ok' | 'missing' | 'no-devices' | 'failed';

export async function smi(host: Host, args: string[]): Promise<ExecResult> {
  return host.exec(NVIDIA_SMI, args, { timeoutMs: TIMEOUT_MS });
}

const show = (args: string[]) => [NVIDIA_SMI, ...args].join(' ');
const outputOf = (r: ExecResult) => `${r.stdout}${r.stderr ? (r.stdout ? '\n' : '') + r.stderr : ''}`.trim();

/** A read that failed in a way we do not know: loud, in the one command-failure format (host/command-failure.ts). */
export function unexpected(args: string[], r: ExecResult): AgentError {
  return commandFailure([NVIDIA_SMI, ...args], r, {
    what: 'gpu',
    fix: 'check the NVIDIA driver with `nvidia-smi` and `dmesg | grep -i nvrm`; MIG needs the driver loaded and root',
  });
}

/** Query all GPUs. */
export async function queryGpus(host: Host): Promise<{ driver: DriverState; detail?: string; rows: GpuState[] }> {
  const args = [`--query-gpu=${QUERY_GPU_FIELDS.join(',')}`, '--format=csv,noheader'];
  const r = await smi(host, args);
  if (r.notFound) return { driver: 'missing', detail: 'nvidia-smi was not found on PATH', rows: [] };
  const msg = classifyMessage(r.stdout) ?? classifyMessage(r.stderr);
  if (msg === 'no-devices') return { driver: 'no-devices', detail: 'nvidia-smi: No devices were found', rows: [] };
  if (r.exitCode !== 0) return { driver: 'failed', detail: `\`${show(args)}\` exit ${r.exitCode}: ${outputOf(r) || '(no output)'}`, rows: [] };
  const rows = parseQueryGpu(r.stdout).map((row) => ({
    index: row.index!,
    busId: row.busId!,
    model: row.name!,
    ...(row.memoryTotalMiB !== undefined ? { memoryTotalMiB: row.memoryTotalMiB } : {}),
    migCurrent: row.migCurrent!,
    migPending: row.migPending!,
    gis: [],
    cis: [],
  }));
  if (rows.length === 0) return { driver: 'no-devices', detail: 'nvidia-smi listed no GPU', rows: [] };
  return { driver: 'ok', rows };
}

/** Run a `nvidia-smi mig -i N <op>` read and parse it; known "nothing" messages are empty lists. */
async function migRead<T>(host: Host, index: number, op: string, parse: (text: string, cmd: string) => T[]): Promise<T[] | undefined> {
  const args = ['mig', '-i', String(index), op];
  const r = await smi(host, args);
  const msg = classifyMessage(r.stdout) ?? classifyMessage(r.stderr);
  if (msg === 'no-mig-enabled-devices') return undefined;
  if (msg === 'no-gpu-instances' || msg === 'no-compute-instances') return [];
  if (r.exitCode !== 0) throw unexpected(args, r);
  return parse(r.stdout, show(args));
}

/** -lgip and -lgipp of one GPU (undefined when the driver lists none). */
export async function readProfiles(host: Host, index: number): Promise<{ profiles?: GiProfile[]; placements?: ProfilePlacements[] }> {
  const profiles = await migRead(host, index, '-lgip', parseLgip);
  if (!profiles || profiles.length === 0) return {};
  const placements = await migRead(host, index, '-lgipp', parseLgipp);
  if (!placements) return {};
  const own = (x: { gpu: number }) => x.gpu === index;
  return { profiles: profiles.filter(own), placements: placements.filter(own) };
}

/** -lgi and -lci of one GPU in MIG mode. */
export async function readInstances(host: Host, index: number): Promise<{ gis: GpuInstance[]; cis: ComputeInstance[] }> {
  const gis = (await migRead(host, index, '-lgi', parseLgi)) ?? [];
  const cis = gis.length ? ((await migRead(host, index, '-lci', parseLci)) ?? []) : [];
  return { gis: gis.filter((g) => g.gpu === index), cis: cis.filter((c) => c.gpu === index) };
}

/** Current and pending MIG mode of every GPU, by index. */
export async function readModes(host: Host): Promise<Map<number, { current: MigMode; pending: MigMode; busId: string }>> {
  const q = await queryGpus(host);
  if (q.driver !== 'ok') throw new AgentError(`cannot read MIG mode: ${q.detail}`, 'check the NVIDIA driver with `nvidia-smi`');
  return new Map(q.rows.map((r) => [r.index, { current: r.migCurrent, pending: r.migPending, busId: r.busId }]));
}

/** Facts that explain "in use" failures; read-only. */
export interface HolderFacts {
  nvidiaDrmLoaded: boolean;
  persistencedRunning: boolean;
}

export async function holderFacts(host: Host): Promise<HolderFacts> {
  const modules = (await host.readFile(MODULES_FILE).catch(() => undefined)) ?? '';
  const pid =
    (await host.stat('/run/nvidia-persistenced/nvidia-persistenced.pid').catch(() => undefined)) ??
    (await host.stat('/var/run/nvidia-persistenced/nvidia-persistenced.pid').catch(() => undefined));
  return { nvidiaDrmLoaded: /^nvidia_drm\s/m.test(modules), persistencedRunning: Boolean(pid) };
}

/** Remediation for "In use by another client" and failed resets. */
export function inUseRemediation(f: HolderFacts): string {
  const steps: string[] = [];
  if (f.persistencedRunning) steps.push('nvidia-persistenced is running: `systemctl stop nvidia-persistenced`');
  if (f.nvidiaDrmLoaded) steps.push('nvidia_drm is loaded: `modprobe -r nvidia_drm nvidia_modeset` (and stop the display manager)');
  steps.push('stop every process that holds the GPU (`fuser -v /dev/nvidia*`: CUDA jobs, containers, dcgm/nvsm/monitoring agents)');
  steps.push('then restart castai-edge-initd (it applies MIG before k0sworker starts)');
  return steps.join('; ');
}

/** Turn a failed mutating call into an AgentError with remediation. */
export function translateFailure(args: string[], r: ExecResult, facts: HolderFacts): AgentError {
  const inUse = /In use by another client|currently in use by another process|being used by one or more other processes/i;
  const who = [facts.persistencedRunning ? 'nvidia-persistenced is running' : '', facts.nvidiaDrmLoaded ? 'nvidia_drm is loaded' : '']
    .filter(Boolean)
    .join(', ');
  const out = outputOf(r);
  return commandFailure([NVIDIA_SMI, ...args], r, {
    what: 'gpu',
    fix: 'check the NVIDIA driver with `nvidia-smi` and `dmesg | grep -i nvrm`',
    // The known nvidia-smi failures get their own fix (from the whole output: it says why on stdout).
    fixFor: () =>
      inUse.test(out)
        ? inUseRemediation(facts)
        : /is not supported|Not Supported/i.test(out)
          ? 'this GPU cannot be reset from the guest (GPU passthrough?): enable MIG mode on the host or hypervisor side, or reboot, then restart castai-edge-initd'
          : /Insufficient Permissions|Permission denied/i.test(out)
            ? 'run castai-edge-initd as root (the systemd unit does)'
            : /Insufficient Resources/i.test(out)
              ? 'the GPU has no room for this layout: check the requested sizes with `nvidia-smi mig -lgip` and `-lgipp`'
              : undefined,
    ...(inUse.test(out) && who ? { context: who } : {}),
  });
}
