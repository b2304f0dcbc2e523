/**
 * "Provably empty": where a disk is read to see whether it holds data that no signature probe
 * (wipefs, blkid) recognises. Auto-discovery takes a disk only when every region below reads as
 * zeros. The regions and why each one: docs/decisions/0170-provably-empty-disks.md.
 *
 * Pure helpers (regions, zero scan) plus the reads through the Host port; the fingerprint lets the
 * census (./census.ts) see a skipped disk unchanged cheaply.
 */
import { createHash } from 'node:crypto';
import type { Host } from '../host/host.ts';

export const MiB = 1024 * 1024;

export interface Region {
  offset: number;
  length: number;
  /** For the operator: "the first MiB", "the last MiB", "the middle of the disk"... */
  where: string;
}

const KiB = 1024;

/**
 * The regions read from a whole disk of `size` bytes, in disk order, clipped to the disk and
 * merged where they overlap (a small disk is read once, not twice), 2.3 MiB in all:
 *   [0, 1 MiB)            partition tables, LVM label + metadata, mdadm 1.1/1.2, LUKS, bcache, ZFS
 *                         L0/L1, every filesystem's primary superblock, raw database/ASM/Ceph headers
 *   [1 MiB, +128 KiB)     where the first partition starts on an aligned partition table: its
 *                         filesystem/PV/LUKS header is still there after the table alone was wiped
 *   64 KiB at 1/4, 1/2, 3/4 of the disk (aligned down to 1 MiB): the body of a disk a database or an
 *                         array used raw; xfs's secondary superblocks (4 AGs)
 *   [size - 1 MiB, size)  backup GPT, mdadm 0.90/1.0, ZFS L2/L3, DDF/IMSM and other firmware RAID
 *                         metadata, LVM's second metadata area, DRBD internal metadata
 * Offsets are multiples of 1 MiB except the last region's, which is the disk size minus 1 MiB: a
 * multiple of the logical block size (512 or 4096) because the size is, so O_DIRECT reads work
 * on 4Kn disks too.
 */
export function sampleRegions(size: number): Region[] {
  if (!(size > 0)) return [];
  const down = (n: number) => Math.floor(n / MiB) * MiB;
  const raw: Region[] = [
    { offset: 0, length: MiB, where: 'the first MiB' },
    { offset: MiB, length: 128 * KiB, where: 'the second MiB (where a first partition starts)' },
    { offset: down(size / 4), length: 64 * KiB, where: 'a quarter into the disk' },
    { offset: down(size / 2), length: 64 * KiB, where: 'the middle of the disk' },
    { offset: down((size * 3) / 4), length: 64 * KiB, where: 'three quarters into the disk' },
    { offset: Math.max(0, size - MiB), length: MiB, where: 'the last MiB' },
  ];
  const out: Region[] = [];
  for (const r of raw.sort((a, b) => a.offset - b.offset)) {
    const end = Math.min(size, r.offset + r.length);
    if (end <= r.offset) continue;
    const last = out[out.length - 1];
    if (last && r.offset < last.offset + last.length) {
      // Overlap (small disks): extend the previous region; it keeps its name unless this one is the end.
      const lastEnd = Math.max(last.offset + last.length, end);
      last.length = lastEnd - last.offset;
      if (end === size) last.where = `${last.where} (up to the end)`;
      continue;
    }
    out.push({ offset: r.offset, length: end - r.offset, where: r.where });
  }
  return out;
}

/** What the sample reads found: facts only; the plan decides. */
export interface ContentProbe {
  /** Bytes read in all. */
  bytes: number;
  /** The first non-zero byte (absolute offset on the disk) and the region it is in; absent when every byte read was zero. */
  nonZero?: { offset: number; where: string };
  /** fingerprint() of the disk: the census compares it to see the disk unchanged (./census.ts). */
  fingerprint: string;
  /** A read failed (EIO, EACCES...): never read as "empty". */
  error?: string;
}

/**
 * Bytes of each end of the disk in its fingerprint. Whoever cleans a disk (wipefs -a, sgdisk
 * --zap-all, blkdiscard, dd over its start) changes these: every magic wipefs erases is within the
 * first 128 KiB (MBR/GPT, ext4, xfs, btrfs at 64 KiB, LVM, mdadm 1.x, LUKS, bcache, swap, ZFS L0)
 * or the last 128 KiB (backup GPT, mdadm 0.90 and 1.0, DDF, IMSM).
 */
export const FINGERPRINT_BYTES = 128 * 1024;

/** The regions of a disk's fingerprint: its first and last FINGERPRINT_BYTES (once on a small disk). */
export function fingerprintRegions(size: number): Region[] {
  if (!(size > 0)) return [];
  const head = Math.min(FINGERPRINT_BYTES, size);
  const tailAt = Math.max(head, size - FINGERPRINT_BYTES);
  return [
    { offset: 0, length: head, where: 'the first 128 KiB' },
    ...(tailAt < size ? [{ offset: tailAt, length: size - tailAt, where: 'the last 128 KiB' }] : []),
  ];
}

/** sha256 over the fingerprint regions (offsets included), read through the Host port; throws on a read error. */
export async function fingerprint(host: Host, dev: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  for (const r of fingerprintRegions(size)) {
    const b = await host.readAt(dev, r.offset, r.length);
    if (b.length !== r.length) throw new Error(`short read of ${r.where}: ${b.length} of ${r.length} bytes`);
    hash.update(`${r.offset}:${r.length}:`).update(b);
  }
  return hash.digest('hex');
}

const ZERO = Buffer.alloc(64 * 1024);

/** The index of the first non-zero byte of `b`, or -1. Whole chunks are compared with memcmp (Buffer.equals). */
export function firstNonZero(b: Buffer): number {
  for (let at = 0; at < b.length; at += ZERO.length) {
    const chunk = b.subarray(at, at + ZERO.length);
    if (chunk.equals(chunk.length === ZERO.length ? ZERO : ZERO.subarray(0, chunk.length))) continue;
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return at + i;
  }
  return -1;
}

/** Read the sample regions of a whole disk through the Host port (no process): zeros or not, and its fingerprint. */
export async function readContent(host: Host, dev: string, size: number): Promise<ContentProbe> {
  let bytes = 0;
  let nonZero: ContentProbe['nonZero'];
  const failed = (what: string, e: unknown): ContentProbe => {
    const err = e as NodeJS.ErrnoException;
    return { bytes, fingerprint: '', error: `reading ${what} failed: ${err.code ?? err.message}` };
  };
  for (const r of sampleRegions(size)) {
    let buf: Buffer;
    try {
      buf = await host.readAt(dev, r.offset, r.length);
    } catch (e) {
      return failed(`${r.where} (offset ${hex(r.offset)})`, e);
    }
    if (buf.length !== r.length)
      return { bytes, fingerprint: '', error: `reading ${r.where} (offset ${hex(r.offset)}) returned ${buf.length} of ${r.length} bytes` };
    bytes += buf.length;
    if (!nonZero) {
      const i = firstNonZero(buf);
      if (i >= 0) nonZero = { offset: r.offset + i, where: r.where };
    }
  }
  try {
    return { bytes, fingerprint: await fingerprint(host, dev, size), ...(nonZero ? { nonZero } : {}) };
  } catch (e) {
    return failed('its fingerprint', e);
  }
}

export const hex = (n: number): string => `0x${n.toString(16)}`;
