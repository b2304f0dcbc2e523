/**
 * The steady-state check of the storage step: proves "nothing to do" from the kernel's
 * own view (/proc and /sys) and our files, without running a process. Any doubt returns
 * a reason, and the step then runs the full inspect -> plan (lsblk, LVM, wipefs, blkid),
 * which alone decides every action. This check can only ever conclude "no action".
 *
 * It holds when all of these are true:
 *   - <stateDir>/storage.json says `ready`, with our VG/LV names, its devices and the fs UUID;
 *   - the disks are the recorded ones: NVME_DEVICES (plain /dev/<name> paths) lists exactly
 *     them, or, with auto-discovery, every NVMe namespace in /sys/block is either recorded or
 *     plainly not a candidate (it has partitions or holders: the full plan skips such disks);
 *   - /proc/self/mountinfo mounts /var/lib/k0s as xfs from a device-mapper device whose
 *     /sys/dev/block/<maj:min>/dm/name is our LV, whose dm/uuid is LVM's, and whose
 *     slaves/ are exactly the recorded disks (a missing or extra PV shows here);
 *   - the mount unit is byte-for-byte the one we render for that UUID, and enabled.
 */
import type { Host } from '../host/host.ts';
import { wantsLink } from './inspect.ts';
import { parseMountinfo } from './parse.ts';
import type { StorageDesired, StorageState } from './types.ts';
import { isFsUuid, renderMountUnit } from './unit.ts';

/** LVM's device-mapper name: dashes in VG and LV names doubled, joined by a dash. */
export function dmName(vg: string, lv: string): string {
  return `${vg.replace(/-/g, '--')}-${lv.replace(/-/g, '--')}`;
}

const NVME_NS = /^nvme\d+n\d+$/;
const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** `{ ok: true }` when storage is provably as recorded; else the first reason it is not. */
export async function steadyStorage(host: Host, desired: StorageDesired): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    return await check(host, desired);
  } catch (e) {
    return { ok: false, reason: `cannot read: ${(e as Error).message}` };
  }
}

async function check(host: Host, desired: StorageDesired): Promise<{ ok: true } | { ok: false; reason: string }> {
  const no = (reason: string) => ({ ok: false as const, reason });
  const text = await host.readFile(desired.stateFile);
  if (text === undefined) return no('no state file');
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
    const present = (await host.readdir('/sys/block')).filter((n) => NVME_NS.test(n));
    for (const n of present.filter((x) => !recorded.includes(x))) {
      const [entries, holders] = await Promise.all([host.readdir(`/sys/block/${n}`), host.readdir(`/sys/block/${n}/holders`)]);
      if (!entries.some((e) => e.startsWith(`${n}p`)) && holders.length === 0) return no(`new NVMe disk ${n}`);
    }
    if (recorded.some((n) => !present.includes(n))) return no('a recorded disk is gone');
  }

  const mount = parseMountinfo((await host.readFile('/proc/self/mountinfo')) ?? '').find((m) => m.mountPoint === desired.mountPoint);
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
