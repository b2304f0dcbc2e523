/**
 * PURE: the size our LV will really have, from LVM's own extent arithmetic (lvm2 2.03.16, Debian 12),
 * and the layout for disks of unequal size. docs/decisions/0171-lvm-layout-real-size.md.
 *
 *   pe_start   where a PV's first extent starts: 1 MiB (label + metadata area; lvm2 sizes the
 *              default metadata area so that it ends at 1 MiB for 4 KiB and 64 KiB pages), rounded
 *              up to the device's I/O topology when that does not divide it (set_pe_align in
 *              lib/metadata/metadata.c: minimum_io_size, then optimal_io_size), plus its
 *              alignment_offset (set_pe_align_offset)
 *   extents    floor((disk size - pe_start) / 4 MiB) per PV (_text_pv_setup in format_text/format-text.c;
 *              4 MiB is vgcreate's default --physicalextentsize)
 *   striped LV every stripe takes the same number of extents from each of its PVs, so a
 *              k-stripe LV is k x the smallest PV's extents; the rest of larger PVs stays free
 *
 * Checked against the real lvm2 2.03.16 (test/fixtures/storage/lvm/extents.json, captured by
 * capture-lvm-extents.sh) and in the VM lab (test/e2e/disk-safety.test.ts: plan size == `lvs`).
 */
import type { Topology } from './types.ts';

const MiB = 1024 * 1024;
/** vgcreate's default physical extent size. */
export const LVM_EXTENT_BYTES = 4 * MiB;
/** Where lvm2 puts the first extent by default (label, then a metadata area that ends here). */
export const LVM_DEFAULT_PE_START = MiB;

/**
 * xfs's smallest data device: xfsprogs >= 5.19 (Debian 12: 6.1.0) refuses anything below 300 MiB,
 * `sb_dblocks < MEGABYTES(300, blocklog)` in validate_supported() of mkfs/xfs_mkfs.c, printing
 * "Filesystem must be larger than 300MB." (measured: 300 MiB is accepted, 299 MiB is not;
 * test/fixtures/storage/mkfs/). Smaller is possible only through fstests' test-only escape hatch.
 */
export const XFS_MIN_BYTES = 300 * MiB;

/** Where a new PV's first extent starts on a disk with this topology (bytes). */
export function peStart(t: Topology = {}): number {
  let align = LVM_DEFAULT_PE_START;
  const minIo = t.minIo ?? 0;
  const optIo = t.optIo ?? 0;
  // lvm2 works in 512-byte sectors; values that are not whole sectors are read as sectors, rounded down.
  const sectors = (n: number) => Math.floor(n / 512) * 512;
  if (sectors(minIo) > 0 && align % sectors(minIo) !== 0) align = sectors(minIo);
  if (sectors(optIo) > 0 && align % sectors(optIo) !== 0) align = sectors(optIo);
  const start = Math.ceil(LVM_DEFAULT_PE_START / align) * align;
  const offset = t.alignOffset && t.alignOffset > 0 ? sectors(t.alignOffset) : 0;
  return start + offset;
}

/** Extents of a new PV on a disk of `size` bytes. */
export function extentsOf(size: number, t: Topology = {}): number {
  const start = peStart(t);
  return size > start ? Math.floor((size - start) / LVM_EXTENT_BYTES) : 0;
}

export interface LayoutDisk {
  path: string;
  /** The whole disk, bytes. */
  size: number;
  /** Its extents as a PV: computed for a new PV, or the real pe_count of an existing one. */
  extents: number;
}

export interface LayoutPv {
  path: string;
  size: number;
  extents: number;
  /** Extents the LV takes from this PV. */
  used: number;
  /** What the LV does not take from this disk (bytes): LVM's 1 MiB header, the tail below one extent, and stripe mismatch. */
  unusedBytes: number;
}

export interface Layout {
  /** 1 = linear. */
  stripes: number;
  pvs: LayoutPv[];
  /** Disks considered but left out (auto-discovery only): blank and untouched. */
  leftOut: LayoutDisk[];
  lvExtents: number;
  /** What `lvs` reports as lv_size after lvcreate -l <lvExtents>. */
  lvBytes: number;
  /** Sum of the used disks' sizes minus lvBytes. */
  unusedBytes: number;
  /** Of unusedBytes, what stripe mismatch leaves free on larger disks (the rest is LVM's header and rounding). */
  mismatchBytes: number;
}

function layoutOf(chosen: LayoutDisk[], leftOut: LayoutDisk[]): Layout {
  const per = chosen.length ? Math.min(...chosen.map((d) => d.extents)) : 0;
  const pvs = [...chosen]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((d) => ({ path: d.path, size: d.size, extents: d.extents, used: per, unusedBytes: d.size - per * LVM_EXTENT_BYTES }));
  const lvExtents = per * chosen.length;
  const lvBytes = lvExtents * LVM_EXTENT_BYTES;
  return {
    stripes: Math.max(1, chosen.length),
    pvs,
    leftOut: [...leftOut].sort((a, b) => a.path.localeCompare(b.path)),
    lvExtents,
    lvBytes,
    unusedBytes: chosen.reduce((s, d) => s + d.size, 0) - lvBytes,
    mismatchBytes: chosen.reduce((s, d) => s + (d.extents - per) * LVM_EXTENT_BYTES, 0),
  };
}

/**
 * `all`: one stripe per disk, each as large as the smallest (NVME_DEVICES: the operator chose the disks).
 * `best` (auto-discovery): the k largest disks striped at the k-th largest size, for the k that gives
 * the largest volume; on a tie, more stripes (more disks' bandwidth). Equal disks (the usual
 * instance store) always give k = all. Disks left out stay blank and untouched.
 */
export function planLayout(disks: LayoutDisk[], mode: 'all' | 'best'): Layout {
  if (mode === 'all' || disks.length <= 1) return layoutOf(disks, []);
  const bySize = [...disks].sort((a, b) => b.extents - a.extents || a.path.localeCompare(b.path));
  let bestK = 1;
  for (let k = 1; k <= bySize.length; k++) {
    if (k * bySize[k - 1]!.extents >= bestK * bySize[bestK - 1]!.extents) bestK = k;
  }
  return layoutOf(bySize.slice(0, bestK), bySize.slice(bestK));
}
