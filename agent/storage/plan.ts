/**
 * plan: PURE. Desired (NVME_DEVICES + our names) vs actual (inspect) -> actions.
 *
 * Safety rules (docs/decisions/0050-storage-safety.md), which NVME_DEVICES never overrides:
 *   - never the disk under /, /boot, /boot/efi, /usr, /var or swap (followed through partitions, LVM, dm, RAID);
 *   - never a disk with partitions, or a partition table (even an empty one);
 *   - never a disk with any filesystem, RAID, LVM or other signature that is not ours;
 *   - never a mounted disk (or one whose partitions/LVs are mounted or used as swap);
 *   - "ours" = a PV of the volume group carrying our LVM tag.
 * With NVME_DEVICES set, one unsafe or unknown device makes the whole plan a
 * refusal: every problem is listed and nothing at all is changed. Without it,
 * unsafe disks are skipped with a note.
 */
import path from 'node:path';
import { LVM_EXTENT_BYTES, XFS_MIN_BYTES, extentsOf, planLayout, type Layout, type LayoutDisk } from './layout.ts';
import { context, judge, list, subtree, type Ctx } from './judge.ts';
import { humanSize } from './render.ts';
import { renderMountUnit } from './unit.ts';
import {
  STORAGE_DEFAULTS,
  type BlockDevice,
  type DiskInfo,
  type StorageAction,
  type StorageActual,
  type StorageDesired,
  type StoragePlan,
  type StorageRefusal,
} from './types.ts';

export function desiredFromConfig(cfg: { nvmeDevices?: string[] | undefined; stateDir: string }): StorageDesired {
  return {
    ...(cfg.nvmeDevices !== undefined ? { devices: [...cfg.nvmeDevices] } : {}),
    vgName: STORAGE_DEFAULTS.vgName,
    lvName: STORAGE_DEFAULTS.lvName,
    tag: STORAGE_DEFAULTS.tag,
    mountPoint: STORAGE_DEFAULTS.mountPoint,
    unitName: STORAGE_DEFAULTS.unitName,
    unitPath: STORAGE_DEFAULTS.unitPath,
    stripeSize: STORAGE_DEFAULTS.stripeSize,
    fsLabel: STORAGE_DEFAULTS.fsLabel,
    stateFile: path.join(cfg.stateDir, STORAGE_DEFAULTS.stateFileName),
    k0sUnit: STORAGE_DEFAULTS.k0sUnit,
  };
}


const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0');

function allNodes(devs: BlockDevice[]): BlockDevice[] {
  return devs.flatMap(subtree);
}

function matchesEntry(a: StorageActual, n: BlockDevice, entry: string): boolean {
  const target = a.resolved[entry] ?? entry;
  return n.path === target || `/dev/${n.kname}` === target || `/dev/${n.name}` === target;
}

function findDevice(a: StorageActual, entry: string): BlockDevice | undefined {
  return allNodes(a.blockDevices).find((n) => matchesEntry(a, n, entry));
}

function refuse(device: string | undefined, size: number | undefined, reason: string): StorageRefusal {
  return { ...(device ? { device } : {}), ...(size !== undefined ? { sizeBytes: size } : {}), reason };
}

function refusedPlan(plan: Omit<StoragePlan, 'refused' | 'summary' | 'actions' | 'refusals' | 'skipped'>, refusals: StorageRefusal[]): StoragePlan {
  const n = refusals.length;
  return {
    ...plan,
    actions: [],
    refusals,
    refused: true,
    skipped: false,
    summary: `refused (${n} problem${n > 1 ? 's' : ''}); nothing will be changed: ${refusals.map((x) => (x.device ? `${x.device}: ${x.reason}` : x.reason)).join(' | ')}`,
  };
}

/** A plan with nothing to do on this host (a typed skip: `run` reports the step as skipped). */
function skipped(plan: Omit<StoragePlan, 'refused' | 'summary' | 'actions' | 'refusals' | 'skipped'>, summary: string): StoragePlan {
  return { ...plan, actions: [], refusals: [], refused: false, skipped: true, summary };
}

const lvPathOf = (d: StorageDesired) => `/dev/${d.vgName}/${d.lvName}`;

/**
 * The LV gets exactly the extents the plan computed (`-l <extents>`, not `100%FREE`): what `plan`
 * shows is what `lvs` reports, byte for byte, or lvcreate fails loudly (and the next pass plans from
 * the volume group's real extents) — never a different size in silence.
 */
export function lvcreateArgs(d: StorageDesired, stripes: number, extents: number): string[] {
  return [
    '--yes',
    '--wipesignatures',
    'y',
    '--addtag',
    d.tag,
    '--name',
    d.lvName,
    ...(stripes > 1 ? ['-i', String(stripes), '-I', d.stripeSize] : []),
    '-l',
    String(extents),
    d.vgName,
  ];
}

export const SETTLE: string[] = ['udevadm', 'settle', '--timeout=30'];

/** Actions that build the volume from blank disks (or finish a half-made one), on exactly the layout's disks. */
function createActions(c: Ctx, disks: DiskInfo[], layout: Layout, why: string, haveVg: boolean): StorageAction[] {
  const d = c.d;
  const devices = disks.map((x) => x.path).sort();
  const total = layout.pvs.reduce((s, x) => s + x.extents * LVM_EXTENT_BYTES, 0);
  const n = layout.stripes;
  const out: StorageAction[] = [];
  if (!haveVg) {
    out.push({
      kind: 'storage.record',
      description: `record intent in ${d.stateFile}: ${d.vgName} on ${list(devices)}`,
      reason: 'written before any disk is touched, so a crash mid-way is resumed, not mistaken for foreign data',
      state: { phase: 'creating', devices, stripes: n },
    });
    let first = true;
    for (const x of [...disks].sort((p, q) => p.path.localeCompare(q.path))) {
      if (x.verdict.kind === 'ours') continue; // pvcreate already done
      const settle = first ? [SETTLE] : [];
      first = false;
      out.push({
        kind: 'storage.pvcreate',
        device: x.path,
        sizeBytes: x.size,
        description: `pvcreate ${x.path}`,
        reason: `${why}: blank NVMe disk${x.model ? ` (${x.model}${x.serial ? `, serial ${x.serial}` : ''})` : ''}, no partitions, signatures or mounts`,
        commands: [...settle, ['pvcreate', x.path]],
        devices: [x.path],
      });
    }
    out.push({
      kind: 'storage.vgcreate',
      device: d.vgName,
      sizeBytes: total,
      description: `create volume group ${d.vgName} tagged ${d.tag} on ${list(devices)}`,
      reason: `the tag "${d.tag}" is what proves on later runs that these disks are ours`,
      commands: [['vgcreate', '--addtag', d.tag, d.vgName, ...devices]],
      devices,
    });
  }
  const per = layout.pvs[0]?.used ?? 0;
  const size = `${layout.lvExtents} extents × ${humanSize(LVM_EXTENT_BYTES)} = ${layout.lvBytes} bytes (${humanSize(layout.lvBytes)})`;
  out.push({
    kind: 'storage.lvcreate',
    device: lvPathOf(d),
    sizeBytes: layout.lvBytes,
    description:
      n > 1 ? `create ${n}-stripe LV ${d.vgName}/${d.lvName} (stripe ${d.stripeSize}): ${size}` : `create linear LV ${d.vgName}/${d.lvName}: ${size}`,
    reason:
      n > 1
        ? `${n} disks striped for throughput, ${per} extents from each (a stripe is as large as the smallest disk); a ${d.stripeSize} stripe avoids the xfs log-stripe warning`
        : 'one disk: a plain LV',
    commands: [['lvcreate', ...lvcreateArgs(d, n, layout.lvExtents)], SETTLE],
    devices,
  });
  out.push(mkfsAction(c, 'fresh'));
  return out;
}

/**
 * How the mkfs action treats what is already on our LV:
 *   'fresh'      the LV was just created (blank): mkfs;
 *   'inactive'   the LV was not active at inspection: probe first, keep an xfs, mkfs only a blank LV;
 *   'unfinished' our build never completed (state phase "creating") and the LV is not mounted: also
 *                check that its xfs is complete. A mkfs.xfs stopped midway (crash, reboot, kill) leaves
 *                an xfs signature with sb_inprogress set, which the kernel refuses to mount; only that
 *                one is made again. Nothing can be stored on such a filesystem.
 */
type MkfsMode = 'fresh' | 'inactive' | 'unfinished';

function mkfsAction(c: Ctx, mode: MkfsMode): StorageAction {
  const d = c.d;
  const lv = lvPathOf(d);
  const cmd = `mkfs.xfs -K -L ${d.fsLabel} ${lv}`;
  const description =
    mode === 'fresh'
      ? cmd
      : mode === 'inactive'
        ? `make sure ${lv} holds xfs; else ${cmd}`
        : `make sure ${lv} holds a complete xfs (an unfinished one is made again); else ${cmd}`;
  const reason =
    mode === 'fresh'
      ? 'xfs for containerd/kubelet; -K skips the discard pass, which takes hours on large disks'
      : mode === 'inactive'
        ? 'the volume was not active at inspection, so its filesystem is checked right before (never reformatting a filesystem)'
        : `the previous run stopped before ${d.mountPoint} was mounted (${d.stateFile} says "creating"): a mkfs.xfs stopped midway leaves an xfs the kernel refuses to mount, so it is checked (xfs_db -r) before mounting`;
  return {
    kind: 'storage.mkfs',
    device: lv,
    description,
    reason,
    commands: [['mkfs.xfs', '-K', '-L', d.fsLabel, lv]],
    probeFirst: mode !== 'fresh',
    ...(mode === 'unfinished' || (mode === 'inactive' && c.a.state?.phase === 'creating') ? { checkUnfinished: true } : {}),
  };
}

/** Mount unit + mount + record, given what is already there. */
function finishActions(c: Ctx, devices: string[], stripes: number, fresh: boolean): StorageAction[] {
  const d = c.d;
  const a = c.a;
  const out: StorageAction[] = [];
  const uuid = fresh ? undefined : a.lvFs?.uuid;
  const wanted = uuid ? renderMountUnit(d, uuid) : undefined;
  const unitOk = wanted !== undefined && a.unit.content === wanted;
  if (!unitOk)
    out.push({
      kind: 'storage.mount-unit',
      device: d.unitPath,
      description: `write ${d.unitPath} (What=/dev/disk/by-uuid/${uuid ?? '<new filesystem UUID>'}, Where=${d.mountPoint}, noatime, Before=${d.k0sUnit})`,
      reason: a.unit.content === undefined ? 'mounts the volume at every boot, before k0s starts' : 'the unit on disk differs from what it must be',
    });
  const mounted = !fresh && c.ourLv?.kernelMajMin && a.mounts.some((m) => m.mountPoint === d.mountPoint && m.majMin === c.ourLv!.kernelMajMin);
  const enabled = a.unit.enabled === 'enabled' && unitOk;
  if (!mounted || !enabled || !unitOk) {
    const hidden =
      !mounted && a.mountPointEntries?.length
        ? `; ${d.mountPoint} already has ${a.mountPointEntries.length} entr${a.mountPointEntries.length > 1 ? 'ies' : 'y'} on the root disk (${list(a.mountPointEntries.slice(0, 3))}), hidden (not deleted) under the mount`
        : '';
    out.push({
      kind: 'storage.mount',
      device: d.mountPoint,
      description: `systemctl daemon-reload; systemctl enable --now ${d.unitName}`,
      reason: `${!mounted ? `${d.mountPoint} is not mounted from ${d.vgName}/${d.lvName}` : !unitOk ? 'the unit changed' : `${d.unitName} is not enabled for boot`}${hidden}`,
      commands: [['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', d.unitName]],
    });
  }
  const st = a.state;
  const stateOk =
    st &&
    st.phase === 'ready' &&
    st.vgName === d.vgName &&
    sameSet(st.devices, devices) &&
    st.stripes === stripes &&
    (!a.lvFs?.uuid || st.fsUuid === a.lvFs.uuid) &&
    !fresh &&
    out.length === 0;
  if (!stateOk)
    out.push({
      kind: 'storage.record',
      description: `record ${d.vgName}/${d.lvName} on ${list(devices)} in ${d.stateFile}`,
      reason: 'so later runs can tell a changed device set from ours',
      state: { phase: 'ready', devices: [...devices].sort(), stripes },
    });
  return out;
}

export function planStorage(d: StorageDesired, a: StorageActual): StoragePlan {
  const c = context(d, a);
  const explicit = d.devices !== undefined;
  const notes: string[] = [];
  if (a.stateError) notes.push(`ignoring unreadable state file (${a.stateError})`);
  const topDisks = a.blockDevices.filter((x) => x.type === 'disk');
  // Verdicts are keyed by path: two disks with one path (inconsistent lsblk output) could hand the
  // verdict of one to the other. Refuse outright rather than guess which device a path means.
  const dupPaths = [...new Set(topDisks.map((x) => x.path).filter((p, i, all) => all.indexOf(p) !== i))];
  if (dupPaths.length) {
    return refusedPlan(
      { notes, disks: [] },
      dupPaths.map((p) => refuse(p, undefined, `lsblk lists ${p} for more than one disk (inconsistent output); refusing to guess which device it is`)),
    );
  }

  // --- which disks are we talking about, and what is each ---
  const requested: BlockDevice[] = [];
  const refusals: StorageRefusal[] = [];
  if (explicit) {
    const seen = new Set<string>();
    for (const entry of d.devices!) {
      const dev = findDevice(a, entry);
      const matches = allNodes(a.blockDevices).filter((n) => matchesEntry(a, n, entry));
      if (new Set(matches.map((n) => n.path)).size > 1) {
        refusals.push(refuse(entry, undefined, `matches more than one device in lsblk (${list([...new Set(matches.map((n) => n.path))])}); refusing to guess`));
        continue;
      }
      if (!dev) {
        refusals.push(refuse(entry, undefined, `no such block device (lsblk lists: ${list(topDisks.map((x) => x.path)) || 'none'})`));
        continue;
      }
      if (dev.type !== 'disk' || !topDisks.includes(dev)) {
        const parent = topDisks.find((t) => subtree(t).includes(dev));
        refusals.push(
          refuse(
            entry,
            dev.size,
            `is a ${dev.type} device, not a whole disk${parent ? ` (it is on ${parent.path})` : ''}; NVME_DEVICES takes whole NVMe disks`,
          ),
        );
        continue;
      }
      if (seen.has(dev.path)) continue;
      seen.add(dev.path);
      requested.push(dev);
    }
  }
  const judged = new Map<string, DiskInfo>();
  for (const t of topDisks) judged.set(t.path, judge(c, t, explicit && requested.includes(t)).info);
  if (explicit)
    for (const t of topDisks)
      if (!requested.includes(t)) {
        const j = judged.get(t.path)!;
        if (j.verdict.kind !== 'ours') judged.set(t.path, { ...j, verdict: { kind: 'not-candidate', reason: 'not listed in NVME_DEVICES' } });
      }
  const disks = [...judged.values()];
  const base = { notes, disks };

  if (explicit) {
    for (const r of requested) {
      const j = judged.get(r.path)!;
      if (j.verdict.kind === 'unsafe') refusals.push(refuse(r.path, r.size, j.verdict.reasons.join('; ')));
    }
  }

  // Our volume group's name taken by a VG without our tag: someone else's.
  const clash = a.lvm.vgs.find((v) => v.vgName === d.vgName && !v.tags.includes(d.tag));
  if (clash)
    refusals.push(refuse(d.vgName, clash.size, `a volume group named "${d.vgName}" exists without our tag "${d.tag}": not made by us, so not touched`));

  // Something else mounted at /var/lib/k0s.
  const atMp = a.mounts.filter((m) => m.mountPoint === d.mountPoint);
  const foreignMount = atMp.find((m) => !c.ourLv?.kernelMajMin || m.majMin !== c.ourLv.kernelMajMin);
  if (foreignMount && !refusals.length) {
    const msg = `${d.mountPoint} is already a mount of ${foreignMount.source} (${foreignMount.fstype}), not of our volume`;
    if (explicit || c.ourVg) refusals.push(refuse(d.mountPoint, undefined, `${msg}; unmount it (and remove its fstab/unit entry) or unset NVME_DEVICES`));
    else {
      notes.push(`${msg}: leaving storage alone, k0s uses that mount`);
      return skipped(base, `skipped: ${d.mountPoint} is already mounted from ${foreignMount.source}`);
    }
  }

  if (refusals.length) return refusedPlan(base, refusals);

  const needTools = (actions: StorageAction[]): StorageRefusal[] => {
    const r: StorageRefusal[] = [];
    const kinds = new Set(actions.map((x) => x.kind));
    if (!a.lvm.available && (kinds.has('storage.pvcreate') || kinds.has('storage.vgcreate') || kinds.has('storage.lvcreate') || kinds.has('storage.activate')))
      r.push(refuse(undefined, undefined, 'the LVM tools are not installed (pvs not found); install them: apt-get install lvm2'));
    if (!a.tools.mkfsXfs && kinds.has('storage.mkfs')) r.push(refuse(undefined, undefined, 'mkfs.xfs is not installed; install it: apt-get install xfsprogs'));
    return r;
  };
  const done = (actions: StorageAction[], summary: string, layout?: Layout): StoragePlan => {
    const missing = needTools(actions);
    if (missing.length) return refusedPlan(base, missing);
    return {
      ...base,
      ...(layout ? { layout } : {}),
      actions,
      refusals: [],
      refused: false,
      skipped: false,
      summary: actions.length ? summary : 'nothing to do',
    };
  };

  // --- our VG exists: never rebuilt, only completed, activated and mounted ---
  if (c.ourVg) {
    const vg = c.ourVg;
    const pvs = a.lvm.pvs.filter((p) => p.vgName === vg.vgName).map((p) => p.pvName);
    if (vg.attr[3] === 'p' || pvs.some((p) => p === '[unknown]' || p === '')) {
      return refusedPlan(base, [
        refuse(
          vg.vgName,
          vg.size,
          `our volume group ${vg.vgName} is missing a disk (partial: ${vg.pvCount} PVs expected, found ${list(pvs.filter((p) => p && p !== '[unknown]')) || 'none'}); its data is incomplete and it is not rebuilt automatically. To start over: castai-edge-initd reset --yes-really-reset --remove-volume-group`,
        ),
      ]);
    }
    if (explicit) {
      const want = requested.map((r) => r.path);
      if (!sameSet(want, pvs))
        return refusedPlan(base, [
          refuse(
            vg.vgName,
            vg.size,
            `NVME_DEVICES (${list(want)}) differs from the disks of our existing volume group ${vg.vgName} (${list(pvs)}); it is never rebuilt silently. Set NVME_DEVICES="${pvs.join(' ')}", or to rebuild (DATA LOSS) run castai-edge-initd reset --yes-really-reset --remove-volume-group first`,
          ),
        ]);
    } else {
      const unused = disks.filter((x) => x.verdict.kind === 'eligible').map((x) => x.path);
      if (unused.length)
        notes.push(
          `blank NVMe disk${unused.length > 1 ? 's' : ''} ${list(unused)} not added: the existing volume group ${vg.vgName} (${list(pvs)}) is never changed once made; to include ${unused.length > 1 ? 'them' : 'it'}, reset with --remove-volume-group and run again`,
        );
    }
    const actions: StorageAction[] = [];
    const lv = c.ourLv;
    if (!lv) {
      const pvInfos = pvs.map(
        (p): DiskInfo =>
          disks.find((x) => x.path === p) ?? {
            path: p,
            name: path.basename(p),
            size: 0,
            model: null,
            serial: null,
            nvme: true,
            root: false,
            verdict: { kind: 'ours', reason: '' },
          },
      );
      // The volume group exists: its PVs' real extents (pv_size is pe_count x the extent size), not an estimate.
      const layout = planLayout(
        pvs.map((p) => {
          const pv = a.lvm.pvs.find((x) => x.pvName === p);
          return { path: p, size: pvInfos.find((x) => x.path === p)!.size || (pv?.pvSize ?? 0), extents: Math.floor((pv?.pvSize ?? 0) / LVM_EXTENT_BYTES) };
        }),
        'all',
      );
      if (layout.lvBytes < XFS_MIN_BYTES)
        return refusedPlan({ ...base, layout }, [
          refuse(
            lvPathOf(d),
            layout.lvBytes,
            `our volume group ${vg.vgName} (${list(pvs)}) holds ${describeLayout(layout)}: below xfs's minimum of ${humanSize(XFS_MIN_BYTES)} (${XFS_MIN_BYTES} bytes), which mkfs.xfs refuses ("Filesystem must be larger than 300MB"). To start over on larger disks: castai-edge-initd reset --yes-really-reset --remove-volume-group`,
          ),
        ]);
      actions.push(...createActions(c, pvInfos, layout, 'finish our volume', true));
      actions.push(...finishActions(c, pvs, layout.stripes, true));
      return done(actions, `finish ${vg.vgName}: create LV (${humanSize(layout.lvBytes)}), mkfs, mount`, layout);
    }
    if (!lv.kernelMajMin) {
      actions.push({
        kind: 'storage.activate',
        device: vg.vgName,
        sizeBytes: vg.size,
        description: `vgchange -ay ${vg.vgName}`,
        reason: `our volume group ${vg.vgName} (tag ${d.tag}) exists but its LV is not active; only activate and mount, never rebuild`,
        commands: [['vgchange', '-ay', vg.vgName], SETTLE],
      });
      actions.push(mkfsAction(c, 'inactive'));
    } else if (!a.lvFs?.type) actions.push(mkfsAction(c, 'fresh'));
    else if (a.lvFs.type !== 'xfs')
      return refusedPlan(base, [
        refuse(lvPathOf(d), lv.size, `our LV holds a ${a.lvFs.type} filesystem, not xfs; refusing to reformat it (reset --remove-volume-group to start over)`),
      ]);
    // Our build was interrupted after mkfs.xfs started and before the mount (state still "creating"):
    // the xfs may be unfinished (crash inside mkfs.xfs), which no mount would ever accept.
    const unfinished = lv.kernelMajMin && a.lvFs?.type === 'xfs' && a.state?.phase === 'creating' && !a.mounts.some((m) => m.majMin === lv.kernelMajMin);
    if (unfinished) actions.push(mkfsAction(c, 'unfinished'));
    actions.push(...finishActions(c, pvs, lv.stripes || pvs.length, !lv.kernelMajMin || Boolean(unfinished)));
    const what = actions.some((x) => x.kind === 'storage.activate')
      ? 'activate and mount'
      : actions.some((x) => x.kind === 'storage.mount')
        ? 'mount'
        : 'update';
    return done(actions, `${what} existing ${vg.vgName}/${d.lvName} (${list(pvs)})`);
  }

  // --- no VG of ours ---
  const st = a.state;
  const halfMade = disks.filter((x) => x.verdict.kind === 'ours');
  let pool: DiskInfo[];
  if (explicit) pool = requested.map((r) => judged.get(r.path)!);
  else {
    pool = disks.filter((x) => x.verdict.kind === 'eligible' || x.verdict.kind === 'ours');
    for (const x of disks) {
      if (x.verdict.kind === 'unsafe') notes.push(`skipping ${x.path} (${humanSize(x.size)}): ${x.verdict.reasons.join('; ')}`);
      else if (x.verdict.kind === 'not-candidate' && x.nvme) notes.push(`skipping ${x.path} (${humanSize(x.size)}): ${x.verdict.reason}`);
    }
  }
  // The layout (./layout.ts): NVME_DEVICES uses every listed disk; auto-discovery the set that gives
  // the largest volume. A build we started and recorded is resumed on exactly its recorded disks.
  const toLayout = (x: DiskInfo): LayoutDisk => ({ path: x.path, size: x.size, extents: extentsOf(x.size, a.probes[x.path]?.topology) });
  const intent =
    st?.vgName === d.vgName && st.phase === 'creating' && halfMade.length > 0 && st.devices.every((p) => pool.some((x) => x.path === p))
      ? st.devices
      : undefined;
  const layout = planLayout(
    pool.filter((x) => !intent || intent.includes(x.path)).map(toLayout),
    explicit || intent ? 'all' : 'best',
  );
  const candidates = pool.filter((x) => layout.pvs.some((p) => p.path === x.path));
  const candPaths = candidates.map((x) => x.path).sort();

  if (st && st.vgName === d.vgName) {
    const recorded = [...st.devices].sort();
    const voidIntent = st.phase === 'creating' && halfMade.length === 0;
    if (!sameSet(recorded, candPaths) && !voidIntent) {
      const detail = recorded
        .map((p) => {
          const j = judged.get(p);
          if (!j) return `${p}: missing`;
          return `${p}: ${j.verdict.kind === 'eligible' ? 'blank' : j.verdict.kind === 'unsafe' ? j.verdict.reasons.join('; ') : j.verdict.kind === 'ours' ? 'ours' : j.verdict.reason}`;
        })
        .join(', ');
      return refusedPlan(base, [
        refuse(
          d.vgName,
          undefined,
          `${d.stateFile} records volume group ${d.vgName} on ${list(recorded)} (${detail}), but ${explicit ? 'NVME_DEVICES now lists' : 'auto-discovery would now use'} ${list(candPaths) || 'none'} and the volume group is gone; never rebuilt silently on a different set. If the old volume is really gone for good, remove ${d.stateFile} (or run castai-edge-initd reset --yes-really-reset --remove-volume-group) and run again`,
        ),
      ]);
    }
    if (voidIntent && !sameSet(recorded, candPaths)) notes.push(`a previous run recorded intent for ${list(recorded)} but made nothing; starting afresh`);
  }
  if (candidates.length === 0) {
    notes.push(`no eligible NVMe disk${explicit ? '' : ' (auto-discovery)'}: k0s keeps ${d.mountPoint} on the root disk`);
    return skipped(base, 'skipped: no eligible NVMe disk; k0s uses the root disk');
  }

  // What the layout leaves unused, in numbers.
  if (layout.leftOut.length) {
    const all = planLayout(pool.map(toLayout), 'all');
    notes.push(
      `blank NVMe disk${layout.leftOut.length > 1 ? 's' : ''} ${list(layout.leftOut.map((x) => `${x.path} (${humanSize(x.size)})`))} not used: striping ${layout.leftOut.length > 1 ? 'them' : 'it'} in too would give ${humanSize(all.lvBytes)} instead of ${humanSize(layout.lvBytes)} (a stripe is as large as the smallest disk); ${layout.leftOut.length > 1 ? 'they stay' : 'it stays'} untouched. To choose the disks yourself, list them in NVME_DEVICES`,
    );
  }
  if (layout.mismatchBytes > 0) {
    const per = layout.pvs[0]!.used;
    const spare = layout.pvs.filter((x) => x.extents > per).map((x) => `${humanSize((x.extents - per) * LVM_EXTENT_BYTES)} of ${x.path}`);
    notes.push(
      `disks of unequal size: each stripe takes ${humanSize(per * LVM_EXTENT_BYTES)} (the smallest disk's extents), so ${list(spare)} stay${spare.length > 1 ? '' : 's'} unused (${humanSize(layout.mismatchBytes)} in all)`,
    );
  }

  // Too small for xfs: refused (or, in auto-discovery, left alone) before anything is written.
  if (layout.lvBytes < XFS_MIN_BYTES) {
    const why = `${describeLayout(layout)}: below xfs's minimum of ${humanSize(XFS_MIN_BYTES)} (${XFS_MIN_BYTES} bytes), which mkfs.xfs (xfsprogs ≥ 5.19) refuses ("Filesystem must be larger than 300MB")`;
    if (explicit)
      return refusedPlan({ ...base, layout }, [
        refuse(lvPathOf(d), layout.lvBytes, `NVME_DEVICES (${list(candPaths)}) would give ${why}. List larger disks, or more of them`),
      ]);
    notes.push(`no volume made: the blank NVMe disk${candidates.length > 1 ? 's' : ''} would give ${why}; k0s keeps ${d.mountPoint} on the root disk`);
    return skipped(
      { ...base, layout },
      `skipped: the blank NVMe disks give ${humanSize(layout.lvBytes)}, below xfs's ${humanSize(XFS_MIN_BYTES)} minimum; k0s uses the root disk`,
    );
  }

  const rebuild = st?.phase === 'ready' && st.vgName === d.vgName && sameSet(st.devices, candPaths);
  const why = rebuild
    ? `rebuild: our volume group ${d.vgName} recorded on ${list(candPaths)} is gone and these disks are blank (instance store after stop/start)`
    : halfMade.length
      ? 'resume the interrupted build'
      : explicit
        ? 'listed in NVME_DEVICES'
        : 'auto-discovered';
  const actions = [...createActions(c, candidates, layout, why, false), ...finishActions(c, candPaths, layout.stripes, true)];
  const n = layout.stripes;
  return done(
    actions,
    `${rebuild ? 'rebuild' : 'create'} ${n > 1 ? `${n}-stripe` : 'linear'} LV ${d.vgName}/${d.lvName} on ${list(candPaths)} (${humanSize(layout.lvBytes)}; ${humanSize(layout.unusedBytes)} of the disks unused), xfs, mounted at ${d.mountPoint}`,
    layout,
  );
}

/** "180 MiB (3 stripes × 15 extents of 4 MiB over /dev/a, /dev/b, /dev/c)" */
function describeLayout(l: Layout): string {
  const per = l.pvs[0]?.used ?? 0;
  const over = list(l.pvs.map((x) => x.path));
  return `${humanSize(l.lvBytes)} (${l.lvBytes} bytes: ${l.stripes > 1 ? `${l.stripes} stripes × ` : ''}${per} extent${per === 1 ? '' : 's'} of ${humanSize(LVM_EXTENT_BYTES)} over ${over})`;
}

// The operator's view of a plan (rows, the text table) is ./render.ts.
export { describeStorage, renderStoragePlan } from './render.ts';
