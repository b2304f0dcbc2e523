/**
 * The steady-state check of the storage step: proves "nothing to do" from the kernel's
 * own view (/proc and /sys) and our files, without running a process. Any doubt returns
 * a reason, and the step then runs the full inspect -> plan (lsblk, LVM, wipefs, blkid),
 * which alone decides every action. This check can only ever conclude "no action".
 *
 * It holds when all of these are true:
 *   - <stateDir>/storage.json says `ready`, with our VG/LV names, its devices and the fs UUID;
 *   - the disks are the recorded ones: NVME_DEVICES (plain /dev/<name> paths) lists exactly
 *     them, or, with auto-discovery, every NVMe namespace in /sys/block is either recorded,
 *     plainly not a candidate (it has partitions or holders: the full plan skips such disks), or
 *     one the last full pass saw with the same size (the disk census, ./census.ts: with our
 *     volume made, no other disk can make the plan act);
 *   - /proc/self/mountinfo mounts /var/lib/k0s as xfs from a device-mapper device whose
 *     /sys/dev/block/<maj:min>/dm/name is our LV, whose dm/uuid is LVM's, and whose
 *     slaves/ are exactly the recorded disks (a missing or extra PV shows here);
 *   - the mount unit is byte-for-byte the one we render for that UUID, and enabled.
 *
 * And without a volume of ours (auto-discovery found nothing to use): no state file, nothing at
 * /var/lib/k0s, the same NVMe disks as at the last full pass, each still held out by the fact the
 * census recorded (partitions, holders, a mount, read-only, a network model, or the same content
 * in its first and last 128 KiB: ./content.ts). No process either way.
 */
import path from 'node:path';
import type { Host } from '../host/host.ts';
import { CENSUS_FILE } from '../state/files.ts';
import { parseCensus, type DiskCensus } from './census.ts';
import { fingerprint } from './content.ts';
import { wantsLink } from './inspect.ts';
import { parseMountinfo, parseSwaps } from './parse.ts';
import type { StorageDesired, StorageState } from './types.ts';
import { isFsUuid, renderMountUnit } from './unit.ts';
import { MOUNTINFO_FILE, SWAPS_FILE, SYS_BLOCK_DIR } from '../host/paths.ts';

/** LVM's device-mapper name: dashes in VG and LV names doubled, joined by a dash. */
export function dmName(vg: string, lv: string): string {
  return `${vg.replace(/-/g, '--')}-${lv.replace(/-/g, '--')}`;
}

const NVME_NS = /^nvme\d+n\d+$/;
const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

export type Steady = { ok: true; /** Set when there is no volume: the plan's "skipped: ..." summary. */ skipped?: string } | { ok: false; reason: string };

/** `{ ok: true }` when storage is provably as recorded (or, with `skipped`, provably still nothing to use); else the first reason it is not. */
export async function steadyStorage(host: Host, desired: StorageDesired): Promise<Steady> {
  try {
    return await check(host, desired);
  } catch (e) {
    return { ok: false, reason: `cannot read: ${(e as Error).message}` };
  }
}

async function check(host: Host, desired: StorageDesired): Promise<Steady> {
  const no = (reason: string) => ({ ok: false as const, reason });
  const [text, censusText] = await Promise.all([host.readFile(desired.stateFile), host.readFile(censusPath(desired))]);
  const census = parseCensus(censusText);
  if (text === undefined) {
    if (desired.devices !== undefined || census?.mode !== 'none') return no('no state file');
    return nothingToUse(host, desired, census);
  }
  let st: StorageState;
  try {
    st = JSON.parse(text) as StorageState;
  } catch {
    return no('state file is not JSON');
  }
  if (st?.version !== 1 || st.phase !== 'ready' || st.vgName !== desired.vgName || st.lvName !== desired.lvName) return no('state is not ready for our VG/LV');
  if (!Array.isArray(st.devices) || !st.devices.length || !isFsUuid(st.fsUuid)) return no('state lacks devices or fs UUID');
  const names = st.devices.map((d) => (/^\/dev\/(nvme\d+n\d+)$/.exec(d) ?? [])[1]);
  if (names.some((n) => !n)) return no('a recorded device is not a plain /dev/nvmeXnY path');
  const recorded = names as string[];

  if (desired.devices?.length) {
    if (!sameSet(desired.devices, st.devices)) return no('NVME_DEVICES differs from the recorded devices');
  } else {
    const present = (await host.readdir(SYS_BLOCK_DIR)).filter((n) => NVME_NS.test(n));
    const seen = census?.mode === 'volume' ? census.disks : [];
    for (const n of present.filter((x) => !recorded.includes(x))) {
      const [entries, holders] = await Promise.all([host.readdir(`${SYS_BLOCK_DIR}/${n}`), host.readdir(`${SYS_BLOCK_DIR}/${n}/holders`)]);
      if (entries.some((e) => e.startsWith(`${n}p`)) || holders.length > 0) continue;
      const was = seen.find((x) => x.name === n);
      if (!was || (await sizeOf(host, n)) !== was.sizeBytes) return no(`new NVMe disk ${n}`);
    }
    if (recorded.some((n) => !present.includes(n))) return no('a recorded disk is gone');
  }

  const mount = parseMountinfo((await host.readFile(MOUNTINFO_FILE)) ?? '').find((m) => m.mountPoint === desired.mountPoint);
  if (!mount || mount.fstype !== 'xfs') return no(`${desired.mountPoint} is not mounted as xfs`);
  const sys = `/sys/dev/block/${mount.majMin}`;
  const [name, uuid, slaves, unit, link] = await Promise.all([
    host.readFile(`${sys}/dm/name`),
    host.readFile(`${sys}/dm/uuid`),
    host.readdir(`${sys}/slaves`),
    host.readFile(desired.unitPath),
    host.stat(wantsLink(desired.unitName)),
  ]);
  if (name?.trim() !== dmName(desired.vgName, desired.lvName)) return no(`${desired.mountPoint} is not mounted from our LV`);
  if (!uuid?.startsWith('LVM-')) return no('the mounted device is not an LVM volume');
  if (!sameSet(slaves, recorded)) return no(`our LV sits on ${slaves.join(', ') || 'nothing'}, not on the recorded disks`);
  if (unit !== renderMountUnit(desired, st.fsUuid)) return no('the mount unit differs');
  if (!link) return no('the mount unit is not enabled');
  return { ok: true };
}

export const censusPath = (d: StorageDesired): string => path.join(path.dirname(d.stateFile), CENSUS_FILE);

/** /sys/block/<n>/size is in 512-byte sectors whatever the logical block size. */
async function sizeOf(host: Host, name: string): Promise<number | undefined> {
  const n = Number((await host.readFile(`${SYS_BLOCK_DIR}/${name}/size`))?.trim());
  return Number.isSafeInteger(n) ? n * 512 : undefined;
}

/** Auto-discovery, no volume of ours: every NVMe disk is still out for the reason the census recorded. */
async function nothingToUse(host: Host, desired: StorageDesired, census: DiskCensus): Promise<Steady> {
  const no = (reason: string) => ({ ok: false as const, reason });
  const mountinfo = parseMountinfo((await host.readFile(MOUNTINFO_FILE)) ?? '');
  if (mountinfo.some((m) => m.mountPoint === desired.mountPoint)) return no(`${desired.mountPoint} is mounted`);
  const present = (await host.readdir(SYS_BLOCK_DIR)).filter((n) => NVME_NS.test(n));
  if (!sameSet(present, census.disks.map((x) => x.name))) return no('the NVMe disks differ from the last full pass');
  let swaps: string[] | undefined;
  for (const d of census.disks) {
    const sys = `${SYS_BLOCK_DIR}/${d.name}`;
    if ((await sizeOf(host, d.name)) !== d.sizeBytes) return no(`${d.name} changed size`);
    let holds: boolean;
    switch (d.hold) {
      case 'partitions':
        holds = (await host.readdir(sys)).some((e) => e.startsWith(`${d.name}p`));
        break;
      case 'holders':
        holds = (await host.readdir(`${sys}/holders`)).length > 0;
        break;
      case 'mounted': {
        const majMin = (await host.readFile(`${sys}/dev`))?.trim();
        swaps ??= parseSwaps((await host.readFile(SWAPS_FILE)) ?? '');
        holds = (majMin !== undefined && mountinfo.some((m) => m.majMin === majMin)) || swaps.includes(`/dev/${d.name}`);
        break;
      }
      case 'readonly':
        holds = (await host.readFile(`${sys}/ro`))?.trim() === '1';
        break;
      case 'model':
        holds = d.model !== undefined && (await host.readFile(`${sys}/device/model`))?.trim() === d.model;
        break;
      case 'content':
        holds = d.fingerprint !== undefined && (await fingerprint(host, `/dev/${d.name}`, d.sizeBytes)) === d.fingerprint;
        break;
      default:
        holds = false;
    }
    if (!holds) return no(`${d.name} is no longer held out by ${d.hold ?? 'anything known'}`);
  }
  return { ok: true, skipped: `skipped: no NVMe disk to use (${census.disks.length} unchanged since the last full pass); k0s uses the root disk` };
}
