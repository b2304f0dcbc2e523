import type { Inventory } from '../api/types.ts';
import type { HardwareFacts, Host } from '../host/host.ts';
import { blockDisks, type BlockDisk } from './blockdev.ts';

/**
 * The hardware inventory reported at registration, in the AIOS `nodeData`
 * units (sizes in MB, bandwidth in Mbit/s): the `inventory` of the register
 * request (docs/control-plane-api.md §3), typed in agent/api/types.ts.
 * `inventory --format aios` prints the same object as one AIOS node element.
 * What each field counts, and what the agent cannot know: docs/decisions/0180, 0181.
 */
export type { Inventory };

export interface GpuFact {
  modelName: string;
  memoryMB: number;
  /** CUDA compute capability as nvidia-smi reports it ("8.0"); absent on drivers without the field. */
  computeCap?: string;
}

const MB = 1024 * 1024;

/** The fields asked of nvidia-smi; compute_cap needs driver >= 510 (older ones reject the field). */
export const GPU_QUERY = ['name', 'memory.total', 'compute_cap'] as const;
const GPU_QUERY_OLD = ['name', 'memory.total'] as const;

/** NVIDIA GPUs from nvidia-smi (the only GPUs Kubernetes can schedule here); [] when nvidia-smi is absent. */
export async function nvidiaGpus(host: Host): Promise<GpuFact[]> {
  const q = (fields: readonly string[]) => host.exec('nvidia-smi', [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'], { timeoutMs: 15_000 });
  let r = await q(GPU_QUERY);
  if (r.notFound) return [];
  if (r.exitCode !== 0 && /not a valid field to query/i.test(r.stderr + r.stdout)) r = await q(GPU_QUERY_OLD);
  if (r.exitCode !== 0) return [];
  return parseGpuCsv(r.stdout);
}

/**
 * Parses `name, memory.total[, compute_cap]` CSV lines (memory in MiB, "nounits"). Lines that do
 * not parse are an error. A compute capability of "[N/A]" is left out (not invented).
 */
export function parseGpuCsv(text: string): GpuFact[] {
  const out: GpuFact[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(.+?),\s*(\d+)(?:\s*MiB)?(?:,\s*(\d+\.\d+|\[N\/A\]|N\/A))?$/.exec(line);
    if (!m) throw new Error(`nvidia-smi --query-gpu=${GPU_QUERY.join(',')}: unexpected line ${JSON.stringify(line)}`);
    const cap = m[3] && /^\d+\.\d+$/.test(m[3]) ? m[3] : undefined;
    out.push({ modelName: m[1]!.trim(), memoryMB: Number(m[2]), ...(cap ? { computeCap: cap } : {}) });
  }
  return out;
}

/**
 * `gpus.features`: what the GPUs report, nothing assumed from the model name. Today that is the
 * CUDA compute capability of each GPU, as `compute-capability-<major>.<minor>` (sorted, distinct).
 */
export function gpuFeatures(gpus: readonly GpuFact[]): string[] {
  return [...new Set(gpus.flatMap((g) => (g.computeCap ? [`compute-capability-${g.computeCap}`] : [])))].sort();
}

/** NICs that carry traffic: not loopback, not virtual (bridges, veth, tunnels, CNI). */
function physicalNics(hw: HardwareFacts) {
  return hw.nics.filter((n) => !n.internal && !n.virtual);
}

/**
 * Pure: raw facts → the API's inventory shape. Bandwidth is the sum of the speeds the NIC drivers
 * report; a NIC whose driver reports none (virtio, most cloud NICs) adds 0: unknown, not invented.
 */
export function toInventory(hw: HardwareFacts, disks: readonly BlockDisk[], gpus: GpuFact[]): Inventory {
  const nics = physicalNics(hw);
  const bandwidth = nics.reduce((a, n) => a + (n.speedMbps ?? 0), 0);
  const models = [...new Set(gpus.map((g) => g.modelName))];
  return {
    vcpus: { count: hw.cpus },
    memory: Math.round(hw.memoryBytes / MB),
    swap: Math.round(hw.swapBytes / MB),
    storage: { disks: disks.length, size: Math.round(disks.reduce((a, d) => a + d.sizeBytes, 0) / MB) },
    network: { interfaces: nics.length, txBandwidth: bandwidth, rxBandwidth: bandwidth },
    gpus: {
      count: gpus.length,
      memory: gpus.reduce((a, g) => a + g.memoryMB, 0),
      gpus: gpus.map((g) => ({ modelName: g.modelName, memory: g.memoryMB })),
      features: gpuFeatures(gpus),
      modelNames: models,
    },
  };
}

/** Inventory plus what the text format explains (which disks, which NICs report no speed). */
export interface InventoryReport {
  inventory: Inventory;
  disks: BlockDisk[];
  nicsWithoutSpeed: string[];
}

export async function inventoryReport(host: Host): Promise<InventoryReport> {
  const [hw, disks, gpus] = await Promise.all([host.hardware(), blockDisks(host), nvidiaGpus(host)]);
  return { inventory: toInventory(hw, disks, gpus), disks, nicsWithoutSpeed: physicalNics(hw).filter((n) => n.speedMbps === null).map((n) => n.iface) };
}

/** The one inventory: `inventory` prints it, the register request carries it. */
export async function collectInventory(host: Host): Promise<Inventory> {
  return (await inventoryReport(host)).inventory;
}

/**
 * One element of the AIOS onboarding document's `nodes.nodeData` list: a flat object, `id` (the
 * node's `nodeID` label; the machine-id when the operator gave none, and the agent then sets the
 * label to it) beside the inventory fields.
 */
export type AiosNode = { id: string } & Inventory;

export function aiosDocument(inv: Inventory, nodeId: string): AiosNode {
  return { id: nodeId, gpus: inv.gpus, vcpus: inv.vcpus, memory: inv.memory, swap: inv.swap, storage: inv.storage, network: inv.network };
}
