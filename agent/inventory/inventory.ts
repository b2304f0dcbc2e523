import type { Inventory } from '../api/types.ts';
import type { HardwareFacts, Host } from '../host/host.ts';

/**
 * The hardware inventory reported at registration, in the AIOS `nodeData`
 * units (sizes in MB, bandwidth in Mbit/s): the `inventory` of the register
 * request (shared/design/control-plane-api.md), typed in agent/api/types.ts.
 */
export type { Inventory };

export interface GpuFact {
  modelName: string;
  memoryMB: number;
}

const MB = 1024 * 1024;

/** NVIDIA GPUs from nvidia-smi (the only GPUs Kubernetes can schedule here); [] when nvidia-smi is absent. */
export async function nvidiaGpus(host: Host): Promise<GpuFact[]> {
  const r = await host.exec('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], { timeoutMs: 15_000 });
  if (r.notFound || r.exitCode !== 0) return [];
  return parseGpuCsv(r.stdout);
}

/** Parses `name, memory.total` CSV lines (memory in MiB, "nounits"). Lines that do not parse are an error. */
export function parseGpuCsv(text: string): GpuFact[] {
  const out: GpuFact[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(.+?),\s*(\d+)(?:\s*MiB)?$/.exec(line);
    if (!m) throw new Error(`nvidia-smi --query-gpu=name,memory.total: unexpected line ${JSON.stringify(line)}`);
    out.push({ modelName: m[1]!.trim(), memoryMB: Number(m[2]) });
  }
  return out;
}

/** Pure: raw facts → the API's inventory shape. Physical NICs only; virtual/loopback ones are not bandwidth. */
export function toInventory(hw: HardwareFacts, gpus: GpuFact[]): Inventory {
  const disks = hw.disks.filter((d) => d.sizeBytes > 0);
  const nics = hw.nics.filter((n) => !n.internal && !n.virtual);
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
      features: [],
      modelNames: models,
    },
  };
}

export async function collectInventory(host: Host): Promise<Inventory> {
  const [hw, gpus] = await Promise.all([host.hardware(), nvidiaGpus(host)]);
  return toInventory(hw, gpus);
}

/**
 * The AIOS node document: the inventory with `id` set to the node's `nodeID`
 * label; when the operator gave no `nodeID` label, the machine-id is used (and
 * the agent sets the label to it).
 */
export function aiosDocument(inv: Inventory, nodeId: string): { id: string; nodeData: Inventory } {
  return { id: nodeId, nodeData: inv };
}
