/**
 * "Provably empty": where a disk is read to see whether it holds data that no signature probe
 * (wipefs, blkid) recognises. Auto-discovery takes a disk only when every region below reads as
 * zeros. The regions and why each one: docs/decisions/0170-provably-empty-disks.md.
 *
 * Pure helpers (regions, zero scan, fingerprint) plus the one read through the Host port.
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

/**
 * The regions read from a whole disk of `size` bytes, in disk order, clipped to the disk and
 * merged where they overlap (a small disk is read once, not twice):
 *   [0, 1 MiB)         partition tables, LVM label + metadata, mdadm 1.1/1.2, LUKS, bcache, ZFS L0/L1,
 *                      every filesystem's primary superblock, raw database/ASM/Ceph headers
 *   [1 MiB, 2 MiB)     where the first partition starts on an aligned partition table: what it held
 *                      is still there after the table alone was wiped
 *   1 MiB at 1/4, 1/2, 3/4 of the disk (aligned down to 1 MiB): data in the body of a disk a
 *                      database or an array used raw; xfs's secondary superblocks (4 AGs)
 *   [size - 1 MiB, size)  backup GPT, mdadm 0.90/1.0, ZFS L2/L3, DDF/IMSM and other firmware RAID
 *                      metadata, LVM's second metadata area, DRBD internal metadata
 * Offsets are multiples of 1 MiB except the last region's, which is the disk size minus 1 MiB: a
 * multiple of the logical block size (512 or 4096) because the size is, so O_DIRECT reads work
 * on 4Kn disks too.
 */
export function sampleRegions(size: number): Region[] {
  if (!(size > 0)) return [];
  const down = (n: number) => Math.floor(n / MiB) * MiB;
  const raw: Region[] = [
    { offset: 0, length: MiB, where: 'the first MiB' },
    { offset: MiB, length: MiB, where: 'the second MiB (where a first partition starts)' },
    { offset: down(size / 4), length: MiB, where: 'a quarter into the disk' },
    { offset: down(size / 2), length: MiB, where: 'the middle of the disk' },
    { offset: down((size * 3) / 4), length: MiB, where: 'three quarters into the disk' },
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
  /** sha256 over every region (offset, length and bytes): the census compares it to see a disk unchanged. */
  sha256: string;
  /** A read failed (EIO, EACCES...): never read as "empty". */
  error?: string;
}

/** The index of the first non-zero byte of `b`, or -1. */
export function firstNonZero(b: Buffer): number {
  // 8 bytes at a time while aligned, then byte by byte to find the exact offset.
  let i = 0;
  const words = Math.floor(b.length / 8);
  for (let w = 0; w < words; w++) {
    if (b.readBigUInt64LE(w * 8) !== 0n) {
      i = w * 8;
      while (b[i] === 0) i++;
      return i;
    }
  }
  for (i = words * 8; i < b.length; i++) if (b[i] !== 0) return i;
  return -1;
}

/** Read the sample regions of a whole disk through the Host port (no process). */
export async function readContent(host: Host, dev: string, size: number): Promise<ContentProbe> {
  const hash = createHash('sha256');
  let bytes = 0;
  let nonZero: ContentProbe['nonZero'];
  for (const r of sampleRegions(size)) {
    let buf: Buffer;
    try {
      buf = await host.readAt(dev, r.offset, r.length);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return { bytes, sha256: '', error: `reading ${r.where} (offset ${hex(r.offset)}) failed: ${err.code ?? err.message}` };
    }
    if (buf.length !== r.length) return { bytes, sha256: '', error: `reading ${r.where} (offset ${hex(r.offset)}) returned ${buf.length} of ${r.length} bytes` };
    hash.update(`${r.offset}:${r.length}:`).update(buf);
    bytes += buf.length;
    if (!nonZero) {
      const i = firstNonZero(buf);
      if (i >= 0) nonZero = { offset: r.offset + i, where: r.where };
    }
  }
  return { bytes, sha256: hash.digest('hex'), ...(nonZero ? { nonZero } : {}) };
}

export const hex = (n: number): string => `0x${n.toString(16)}`;
