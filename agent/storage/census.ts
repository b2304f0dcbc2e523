/**
 * The disk census: what the last full storage pass concluded about the NVMe disks it did NOT use,
 * kept so that a steady-state pass can prove those disks unchanged without a process
 * (./quick.ts; docs/decisions/0174-quiet-steady-state-skipped-disks.md).
 *
 * Written by `run` (never by `plan`) after a full pass that changed nothing, or after a successful
 * build, to <stateDir>/storage-disks.json (0600). Two modes:
 *   volume  our volume is ready: no other disk can make the plan act (the volume group is never
 *           changed once made), so only which NVMe disks exist, and their sizes, are kept (a new
 *           or changed disk re-runs the full pass, which notes it)
 *   none    auto-discovery found nothing to use: each disk is kept with the one fact that keeps it
 *           out (`hold`), checked again from /sys, /proc or the disk's sample reads
 * The census only ever lets the quick check conclude "no action"; any doubt runs the full pass.
 */
import { isNvme } from './inspect.ts';
import type { BlockDevice, StorageActual, StorageDesired, StoragePlan } from './types.ts';

/** Why a disk stays out, as something a pass can check again without a process. */
export type Hold =
  | 'partitions' // /sys/block/<d>/<d>pN exists
  | 'holders' // /sys/block/<d>/holders is not empty (md, dm, bcache on it)
  | 'mounted' // its major:minor is in /proc/self/mountinfo, or it is in /proc/swaps
  | 'readonly' // /sys/block/<d>/ro is 1
  | 'model' // a network volume by its model (/sys/block/<d>/device/model), e.g. Amazon EBS
  | 'content'; // the same fingerprint (its first and last 128 KiB): a signature, data, or blank but too small

export interface CensusDisk {
  name: string;
  sizeBytes: number;
  hold?: Hold;
  model?: string;
  /** content: the disk's fingerprint (./content.ts). */
  fingerprint?: string;
}

export interface DiskCensus {
  version: 1;
  mode: 'volume' | 'none';
  disks: CensusDisk[];
}

const NVME_NS = /^nvme\d+n\d+$/;

function holdOf(a: StorageActual, d: BlockDevice, plan: StoragePlan): Pick<CensusDisk, 'hold' | 'model' | 'fingerprint'> | undefined {
  if (d.children.some((c) => c.type === 'part')) return { hold: 'partitions' };
  if (d.children.length) return { hold: 'holders' };
  if (d.mountpoints.length || a.mounts.some((m) => m.majMin === d.majMin) || a.swaps.includes(d.path)) return { hold: 'mounted' };
  if (d.ro) return { hold: 'readonly' };
  const v = plan.disks.find((x) => x.path === d.path)?.verdict;
  if (v?.kind === 'not-candidate' && d.model && /network volume/.test(v.reason)) return { hold: 'model', model: d.model };
  const content = a.probes[d.path]?.content;
  if (content && !content.error && content.fingerprint) return { hold: 'content', fingerprint: content.fingerprint };
  return undefined; // e.g. a probe that failed: not provable from here, so no census
}

/**
 * The census after a full pass (PURE). `applied`: the plan's actions ran without error. Undefined
 * when this pass proves nothing a later pass could rely on.
 */
export function censusOf(d: StorageDesired, a: StorageActual, plan: StoragePlan, applied: boolean): DiskCensus | undefined {
  if (plan.refused) return undefined;
  const nvme = a.blockDevices.filter((x) => x.type === 'disk' && isNvme(x) && NVME_NS.test(x.kname));
  const ourVg = a.lvm.vgs.find((v) => v.vgName === d.vgName && v.tags.includes(d.tag));
  const ours = new Set([
    ...(ourVg ? a.lvm.pvs.filter((p) => p.vgName === ourVg.vgName).map((p) => p.pvName) : []),
    ...(plan.layout?.pvs.map((p) => p.path) ?? []),
  ]);
  const built = applied && plan.actions.some((x) => x.kind === 'storage.mount');
  const ready = plan.actions.length === 0 && ourVg !== undefined && a.state?.phase === 'ready';
  if (built || ready) {
    return { version: 1, mode: 'volume', disks: nvme.filter((x) => !ours.has(x.path)).map((x) => ({ name: x.kname, sizeBytes: x.size })) };
  }
  // Nothing to use (auto-discovery): no state, no volume group of ours, nothing at our mount point.
  const nothing = d.devices === undefined && plan.actions.length === 0 && plan.summary.startsWith('skipped: ') && !a.state && !a.stateError && !ourVg;
  if (!nothing || a.mounts.some((m) => m.mountPoint === d.mountPoint)) return undefined;
  const disks: CensusDisk[] = [];
  for (const x of nvme) {
    const h = holdOf(a, x, plan);
    if (!h) return undefined;
    disks.push({ name: x.kname, sizeBytes: x.size, ...h });
  }
  return { version: 1, mode: 'none', disks };
}

/** Parse the census file; anything unexpected is "no census" (the full pass runs). */
export function parseCensus(text: string | undefined): DiskCensus | undefined {
  if (text === undefined) return undefined;
  try {
    const c = JSON.parse(text) as DiskCensus;
    if (c?.version !== 1 || (c.mode !== 'volume' && c.mode !== 'none') || !Array.isArray(c.disks)) return undefined;
    if (!c.disks.every((x) => typeof x?.name === 'string' && NVME_NS.test(x.name) && Number.isSafeInteger(x.sizeBytes))) return undefined;
    return c;
  } catch {
    return undefined;
  }
}

export const renderCensus = (c: DiskCensus): string => `${JSON.stringify(c, null, 2)}\n`;
