/**
 * judge: PURE. Each disk's verdict against the safety rules (docs/decisions/0050-storage-safety.md):
 * eligible (provably blank), ours (a PV of our tagged VG), unsafe (never touched, with every reason),
 * or not a candidate. planStorage (./plan.ts) turns the verdicts into actions or a refusal.
 */
import { hex } from './content.ts';
import { isNvme } from './inspect.ts';
import type { BlockDevice, DiskInfo, DiskVerdict, LvmLv, LvmVg, StorageActual, StorageDesired } from './types.ts';

export const list = (xs: string[]): string => xs.join(', ');

/** Mount points whose disk is "the root disk". */
const SYSTEM_MOUNTS = ['/', '/boot', '/boot/efi', '/efi', '/usr', '/var'];
/** wipefs/blkid types that are partition tables. */
const PARTITION_TABLES = new Set([
  'gpt', 'PMBR', 'dos', 'mbr', 'atari', 'bsd', 'sun', 'sgi', 'mac', 'aix', 'amiga', 'minix', 'solaris', 'ultrix', 'unixware', 'plan9',
]);
/** Cloud network volumes that show up as NVMe but are not local scratch disks (skipped in auto mode only). */
const NETWORK_NVME_MODELS = [/^Amazon Elastic Block Store/i];

export function subtree(d: BlockDevice): BlockDevice[] {
  const out: BlockDevice[] = [];
  const walk = (n: BlockDevice) => {
    out.push(n);
    n.children.forEach(walk);
  };
  walk(d);
  return out;
}

export interface Ctx {
  d: StorageDesired;
  a: StorageActual;
  ourVg?: LvmVg;
  ourLv?: LvmLv;
  ourPvs: Set<string>;
  /** major:minor -> mount points (real block devices only). */
  mountsByMajMin: Map<string, string[]>;
  systemMajMin: Map<string, string[]>;
  systemSources: Map<string, string>;
  swaps: Set<string>;
}

export function context(d: StorageDesired, a: StorageActual): Ctx {
  const ourVg = a.lvm.vgs.find((v) => v.vgName === d.vgName && v.tags.includes(d.tag));
  const ourLv = ourVg ? a.lvm.lvs.find((l) => l.vgName === d.vgName && l.lvName === d.lvName) : undefined;
  const mountsByMajMin = new Map<string, string[]>();
  const systemMajMin = new Map<string, string[]>();
  const systemSources = new Map<string, string>();
  for (const m of a.mounts) {
    if (!m.majMin || m.majMin.startsWith('0:')) {
      // btrfs and virtual filesystems have anonymous device numbers: fall back to the source path.
      if (SYSTEM_MOUNTS.includes(m.mountPoint) && m.source.startsWith('/dev/')) systemSources.set(m.source, m.mountPoint);
      continue;
    }
    mountsByMajMin.set(m.majMin, [...(mountsByMajMin.get(m.majMin) ?? []), m.mountPoint]);
    if (SYSTEM_MOUNTS.includes(m.mountPoint)) {
      systemMajMin.set(m.majMin, [...(systemMajMin.get(m.majMin) ?? []), m.mountPoint]);
      if (m.source.startsWith('/dev/')) systemSources.set(m.source, m.mountPoint);
    }
  }
  return {
    d,
    a,
    ...(ourVg ? { ourVg } : {}),
    ...(ourLv ? { ourLv } : {}),
    ourPvs: new Set(ourVg ? a.lvm.pvs.filter((p) => p.vgName === ourVg.vgName).map((p) => p.pvName) : []),
    mountsByMajMin,
    systemMajMin,
    systemSources,
    swaps: new Set(a.swaps),
  };
}

/** What makes this disk the system disk ("holds / via /dev/nvme0n1p2, /boot/efi via ..."), or undefined. */
function systemUse(c: Ctx, disk: BlockDevice): string | undefined {
  const uses: Array<{ what: string; rank: number }> = [];
  for (const n of subtree(disk)) {
    const via = n === disk ? '' : ` via ${n.path}`;
    const mps = new Set<string>();
    for (const m of c.systemMajMin.get(n.majMin) ?? []) mps.add(m);
    for (const m of n.mountpoints) if (SYSTEM_MOUNTS.includes(m)) mps.add(m);
    const src = c.systemSources.get(n.path);
    if (src) mps.add(src);
    for (const mp of mps) uses.push({ what: `${mp}${via}`, rank: SYSTEM_MOUNTS.indexOf(mp) });
    if (c.swaps.has(n.path) || c.swaps.has(`/dev/${n.kname}`) || n.mountpoints.includes('[SWAP]')) uses.push({ what: `swap${via}`, rank: 99 });
  }
  if (!uses.length) return undefined;
  return `holds ${[...new Set(uses.sort((x, y) => x.rank - y.rank).map((u) => u.what))].join(', ')}`;
}

/** Mounts anywhere in the disk's tree, except our LV at our mount point. */
function mountUses(c: Ctx, disk: BlockDevice): string[] {
  const out = new Set<string>();
  for (const n of subtree(disk)) {
    const mps = new Set([...n.mountpoints, ...(c.mountsByMajMin.get(n.majMin) ?? [])]);
    const isOurLv = c.ourLv?.kernelMajMin !== undefined && c.ourLv.kernelMajMin !== null && n.majMin === c.ourLv.kernelMajMin;
    for (const mp of mps) {
      if (isOurLv && mp === c.d.mountPoint) continue;
      if (SYSTEM_MOUNTS.includes(mp)) continue; // reported as the root disk
      out.add(mp === '[SWAP]' ? `used as swap (${n.path})` : `mounted at ${mp}${n === disk ? '' : ` (${n.path})`}`);
    }
    if (mps.size === 0 && (c.swaps.has(n.path) || c.swaps.has(`/dev/${n.kname}`))) out.add(`used as swap (${n.path})`);
  }
  return [...out];
}

function describeSignature(type: string, offset: string | undefined, uuid: string | null | undefined, label: string | null | undefined): string {
  const bits = [offset ? `offset ${offset}` : '', uuid ? `UUID ${uuid}` : '', label ? `label "${label}"` : ''].filter(Boolean);
  const what =
    type === 'linux_raid_member' || type === 'isw_raid_member' || type === 'ddf_raid_member'
      ? `RAID member signature (${type})`
      : type === 'swap'
        ? 'swap signature'
        : type === 'crypto_LUKS'
          ? 'LUKS encryption signature (crypto_LUKS)'
          : type === 'zfs_member'
            ? 'ZFS pool member signature (zfs_member)'
            : `${type} filesystem signature`;
  return bits.length ? `${what} (${bits.join(', ')})` : what;
}

/** The verdict on one whole disk. `explicit` = listed in NVME_DEVICES (non-NVMe is then a refusal, not a skip). */
export function judge(c: Ctx, disk: BlockDevice, explicit: boolean): { info: DiskInfo } {
  const nvme = isNvme(disk);
  const sys = systemUse(c, disk);
  const base = { path: disk.path, name: disk.name, size: disk.size, model: disk.model, serial: disk.serial, nvme, root: sys !== undefined };
  const reasons: string[] = [];
  if (sys) reasons.push(`root disk: ${sys}`);
  const ourPv = c.ourPvs.has(disk.path);

  if (!explicit && !nvme)
    return { info: { ...base, verdict: { kind: 'not-candidate', reason: `not an NVMe disk${disk.tran ? ` (transport ${disk.tran})` : ''}` } } };
  if (explicit && !nvme)
    reasons.push(`not an NVMe disk (transport ${disk.tran ?? 'none'}${disk.model ? `, model "${disk.model}"` : ''}); NVME_DEVICES takes NVMe disks only`);
  if (!explicit && !sys && disk.model && NETWORK_NVME_MODELS.some((r) => r.test(disk.model!)))
    return {
      info: {
        ...base,
        verdict: { kind: 'not-candidate', reason: `network volume ("${disk.model}"), not a local NVMe disk; list it in NVME_DEVICES to use it` },
      },
    };

  if (disk.ro) reasons.push('read-only device');
  if (disk.size === 0) reasons.push('size 0 (no medium)');
  else if (!(disk.size > 0)) reasons.push(`size ${disk.size} from lsblk is not a disk size; refusing to guess`);

  const parts = disk.children.filter((ch) => ch.type === 'part');
  if (parts.length) reasons.push(`has ${parts.length} partition${parts.length > 1 ? 's' : ''} (${list(parts.map((p) => p.path))})`);
  for (const ch of disk.children) {
    if (ch.type === 'part') continue;
    if (ch.type === 'lvm' && ourPv) continue; // our LV on our PV
    reasons.push(`in use by ${ch.type} device ${ch.path}`);
  }

  const probe = c.a.probes[disk.path];
  if (probe?.error) reasons.push(`could not read its signatures (${probe.error}); refusing to guess`);
  else if (!probe && !ourPv) reasons.push('its signatures were not probed; refusing to guess');
  let oursHalfMade = false;
  if (probe) {
    const seen = new Set<string>();
    const sigs = [...probe.signatures.map((s) => ({ type: s.type, offset: s.offset, uuid: s.uuid, label: s.label }))];
    if (probe.blkid.PTTYPE)
      sigs.push({ type: probe.blkid.PTTYPE === 'PMBR' ? 'PMBR' : probe.blkid.PTTYPE, offset: '', uuid: probe.blkid.PTUUID ?? null, label: null });
    if (probe.blkid.TYPE) sigs.push({ type: probe.blkid.TYPE, offset: '', uuid: probe.blkid.UUID ?? null, label: probe.blkid.LABEL ?? null });
    for (const s of sigs) {
      const key = PARTITION_TABLES.has(s.type) || s.type.toLowerCase() === 'gpt' ? 'pt' : s.type;
      if (seen.has(key)) continue;
      seen.add(key);
      if (key === 'pt') {
        const t = sigs.filter((x) => PARTITION_TABLES.has(x.type)).map((x) => x.type);
        reasons.push(`partition table signature (${[...new Set(t)].join(', ')})`);
        continue;
      }
      if (s.type === 'LVM2_member') {
        const pv = c.a.lvm.pvs.find((p) => p.pvName === disk.path);
        if (ourPv) continue;
        if (pv && pv.vgName === '' && c.a.state?.phase === 'creating' && c.a.state.devices.includes(disk.path)) {
          oursHalfMade = true; // our pvcreate ran, the agent stopped before vgcreate
          continue;
        }
        const vg = pv?.vgName ? c.a.lvm.vgs.find((v) => v.vgName === pv.vgName) : undefined;
        if (pv?.vgName && pv.vgName === c.d.vgName && !vg?.tags.includes(c.d.tag))
          reasons.push(`LVM physical volume of a volume group named "${pv.vgName}" that lacks our tag "${c.d.tag}" (not made by us)`);
        else if (pv?.vgName) reasons.push(`LVM physical volume of volume group "${pv.vgName}" (LVM2_member, not ours: no tag "${c.d.tag}")`);
        else reasons.push(`LVM physical volume signature (LVM2_member${s.uuid ? `, PV UUID ${s.uuid}` : ''}) not in any volume group of ours`);
        continue;
      }
      reasons.push(describeSignature(s.type, s.offset || undefined, s.uuid, s.label));
    }
  }
  reasons.push(...mountUses(c, disk));

  // Auto-discovery takes only a disk that is provably empty: no signature AND zeros where data
  // would show first (./content.ts, docs/decisions/0170). NVME_DEVICES is the operator's choice, and
  // disks our state file records as ours keep their own rule (rebuilt when blank, see planStorage).
  const recorded = c.a.state?.vgName === c.d.vgName && c.a.state.devices.includes(disk.path);
  if (!explicit && !reasons.length && !ourPv && !oursHalfMade && !recorded && probe) {
    const content = probe.content;
    if (!content) reasons.push('its content was not read; refusing to guess');
    else if (content.error) reasons.push(`could not read it to prove it empty (${content.error}); refusing to guess`);
    else if (content.nonZero)
      reasons.push(
        `no known signature, but it holds data: non-zero bytes at offset ${hex(content.nonZero.offset)} (in ${content.nonZero.where}); auto-discovery takes only disks that read as zeros where data would show first. To use it anyway (its data is lost), list it in NVME_DEVICES`,
      );
  }

  let verdict: DiskVerdict;
  if (reasons.length) verdict = { kind: 'unsafe', reasons };
  else if (ourPv) verdict = { kind: 'ours', reason: `physical volume of our volume group ${c.d.vgName} (tag ${c.d.tag})` };
  else if (oursHalfMade) verdict = { kind: 'ours', reason: `physical volume we created (recorded in ${c.d.stateFile}) before the agent stopped` };
  else verdict = { kind: 'eligible' };
  return { info: { ...base, verdict } };
}

