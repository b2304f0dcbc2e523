/**
 * Storage subsystem data model: NVMe disks -> LVM (striped) -> xfs -> /var/lib/k0s.
 *
 * `inspect` fills a `StorageActual` with parsed command output only (no
 * decisions). `plan` (pure) derives every verdict from it. See
 * docs/decisions/0050-storage-safety.md for the rules.
 */
import { K0S_DATA_DIR, K0S_UNIT } from '../k0s/paths.ts';
import { STORAGE_STATE_FILE } from '../state/files.ts';
import type { Action } from '../contract.ts';
import type { ContentProbe } from './content.ts';
import type { Layout } from './layout.ts';

/** Names of what we create. "Ours" is proven only by the LVM tag. */
export const STORAGE_DEFAULTS = {
  vgName: 'castai-edge',
  lvName: 'k0s',
  tag: 'castai-edge-initd',
  mountPoint: K0S_DATA_DIR,
  unitName: 'var-lib-k0s.mount',
  unitPath: '/etc/systemd/system/var-lib-k0s.mount',
  stripeSize: '256k',
  fsLabel: 'castai-k0s',
  stateFileName: STORAGE_STATE_FILE,
  /** The unit k0s installs; our mount is ordered before it and required by it. */
  k0sUnit: K0S_UNIT,
} as const;

/** lsblk columns we read (all present in util-linux 2.38, Debian 12). */
export const LSBLK_COLUMNS = 'NAME,KNAME,PATH,MAJ:MIN,TYPE,TRAN,MODEL,SERIAL,SIZE,RO,MOUNTPOINTS,FSTYPE,PKNAME';

export interface StorageDesired {
  /** NVME_DEVICES; undefined = every eligible non-root NVMe disk. */
  devices?: string[];
  vgName: string;
  lvName: string;
  tag: string;
  mountPoint: string;
  unitName: string;
  unitPath: string;
  stripeSize: string;
  fsLabel: string;
  /** Absolute path of the state file, e.g. /var/lib/castai-edge-initd/storage.json. */
  stateFile: string;
  k0sUnit: string;
}

/** One node of `lsblk -J -b` (tree form; children nested). */
export interface BlockDevice {
  name: string;
  kname: string;
  path: string;
  majMin: string; // "259:1"
  type: string; // disk, part, lvm, raid1, crypt, loop, rom, ...
  tran: string | null; // nvme, sata, usb, ... (null for virtio)
  model: string | null;
  serial: string | null;
  size: number; // bytes
  ro: boolean;
  mountpoints: string[]; // nulls removed
  fstype: string | null; // from the udev db: informative only, never trusted for safety
  pkname: string | null;
  children: BlockDevice[];
}

/** One signature found by `wipefs -n -J`. */
export interface Signature {
  offset: string;
  type: string;
  uuid: string | null;
  label: string | null;
}

/** Low-level probes of one whole disk. */
export interface DiskProbe {
  /** `wipefs -n -J` signatures (every magic string, incl. backup GPT and PMBR). */
  signatures: Signature[];
  /** `blkid -p -o export` key/values (TYPE, PTTYPE, UUID, USAGE...); {} when nothing found (exit 2). */
  blkid: Record<string, string>;
  /** A probe failed (e.g. permission denied): treated as "unknown content", never as blank. */
  error?: string;
  /**
   * Auto-discovery only: what the sample reads of the disk found (./content.ts). Absent for disks
   * that are unsafe by their structure alone (children, read-only, size 0) and with NVME_DEVICES.
   */
  content?: ContentProbe;
  /** The I/O topology LVM aligns a new PV to (/sys/block/<name>/queue and alignment_offset). */
  topology?: Topology;
}

/** Bytes, from sysfs; 0 or absent = not reported. */
export interface Topology {
  minIo?: number;
  optIo?: number;
  alignOffset?: number;
}

/** One line of /proc/self/mountinfo. */
export interface MountEntry {
  majMin: string;
  root: string;
  mountPoint: string;
  fstype: string;
  source: string;
}

export interface LvmPv {
  pvName: string;
  vgName: string; // "" for an orphan PV
  pvUuid: string;
  pvSize: number;
  tags: string[];
  attr: string;
}

export interface LvmVg {
  vgName: string;
  vgUuid: string;
  tags: string[];
  attr: string; // wz--n- ; 4th char 'p' = partial (a PV is missing)
  pvCount: number;
  lvCount: number;
  size: number;
  free: number;
}

export interface LvmLv {
  lvName: string;
  vgName: string;
  lvPath: string;
  dmPath: string;
  size: number;
  attr: string; // -wi-ao---- ; 5th char 'a' = active, 6th 'o' = open
  tags: string[];
  stripes: number;
  segtype: string;
  devices: string[]; // "/dev/nvme0n1(0)" -> "/dev/nvme0n1"
  kernelMajMin: string | null; // "253:0" when active
}

export interface LvmReport {
  /** false when the LVM tools are not installed (pvs not found). */
  available: boolean;
  pvs: LvmPv[];
  vgs: LvmVg[];
  lvs: LvmLv[];
}

/** What we recorded in <stateDir>/storage.json. */
export interface StorageState {
  version: 1;
  /** creating: written before the first disk is touched; ready: mounted. */
  phase: 'creating' | 'ready';
  vgName: string;
  lvName: string;
  devices: string[]; // sorted /dev paths
  /** serial/size per device at creation time, for the operator. */
  deviceInfo?: Array<{ path: string; serial: string | null; model: string | null; sizeBytes: number }>;
  stripes: number;
  fsUuid?: string;
  createdAt: string;
  updatedAt: string;
}

export interface StorageActual {
  blockDevices: BlockDevice[];
  mounts: MountEntry[];
  /** Device paths from /proc/swaps (type partition). */
  swaps: string[];
  /** Probes of whole disks, keyed by disk path. Only NVMe disks and requested devices are probed. */
  probes: Record<string, DiskProbe>;
  /** A requested NVME_DEVICES entry that is a symlink (e.g. /dev/disk/by-id/...) -> its /dev path. */
  resolved: Record<string, string>;
  lvm: LvmReport;
  /** `blkid -p` of our LV when it is active; undefined when not probed. */
  lvFs?: { type?: string; uuid?: string };
  unit: { content?: string; enabled?: string };
  state?: StorageState;
  /** State file present but unreadable: we say so and treat it as absent. */
  stateError?: string;
  tools: { mkfsXfs: boolean };
  /** Entries in the mount point when nothing is mounted there (k0s data that a mount would hide). */
  mountPointEntries?: string[];
}

/** Verdict on one whole disk. */
export type DiskVerdict =
  | { kind: 'eligible' } // blank, safe to use
  | { kind: 'ours'; reason: string } // a PV of our tagged VG (or our half-made PV)
  | { kind: 'unsafe'; reasons: string[] } // never touched
  | { kind: 'not-candidate'; reason: string }; // e.g. not NVMe in auto mode

export interface DiskInfo {
  path: string;
  name: string;
  size: number;
  model: string | null;
  serial: string | null;
  nvme: boolean;
  root: boolean;
  verdict: DiskVerdict;
}

export type StorageActionKind =
  | 'storage.pvcreate'
  | 'storage.vgcreate'
  | 'storage.lvcreate'
  | 'storage.activate'
  | 'storage.mkfs'
  | 'storage.mount-unit'
  | 'storage.mount'
  | 'storage.record';

export interface StorageAction extends Action {
  kind: StorageActionKind;
  /** The disk (or LV) this row is about, for the operator table. */
  device?: string;
  sizeBytes?: number;
  /** The commands this action runs (argv), for `plan --json` and tests. Filled where known at plan time. */
  commands?: string[][];
  /** pvcreate/vgcreate/lvcreate: the disks. */
  devices?: string[];
  /** storage.record: what to record. */
  state?: { phase: 'creating' | 'ready'; devices: string[]; stripes: number };
  /** storage.mkfs: true when the LV may already hold our xfs (only probed at apply time). */
  probeFirst?: boolean;
  /** storage.mkfs: our build never completed; an xfs with sb_inprogress set (mkfs.xfs stopped midway) is made again. */
  checkUnfinished?: boolean;
}

/** One reason the plan refuses: the device (or VG, LV, mount point) and why. */
export interface StorageRefusal {
  device?: string;
  sizeBytes?: number;
  reason: string;
}

export interface StoragePlan {
  actions: StorageAction[];
  /** Why the plan refuses (then `actions` is empty and nothing is changed); empty otherwise. */
  refusals: StorageRefusal[];
  /** The step has nothing to do on this host (no eligible disk, a foreign mount in auto mode...): a typed skip. */
  skipped: boolean;
  /** The volume a create plan makes: stripes, the LV's exact size, what stays unused (./layout.ts). */
  layout?: Layout;
  /** Info lines: skipped disks, zero candidates, unused new disks... */
  notes: string[];
  disks: DiskInfo[];
  /** True when `refusals` is not empty (then no action is present). */
  refused: boolean;
  /** One line: "nothing to do", "refused: ...", "create 2-stripe LV on 2 disks"... */
  summary: string;
}
