import type { Host } from '../host/host.ts';
import { SYS_BLOCK_DIR } from '../host/paths.ts';

/**
 * The host's disks, from the kernel's own list of block devices (/sys/block), so virtio, Xen,
 * SCSI/SATA/SAS, NVMe, IDE and eMMC disks all count (docs/decisions/0180-inventory-disks.md).
 *
 * A disk is a /sys/block entry whose name is one of the kernel's whole-disk names below, that is
 * not removable and has a medium (size > 0). Everything else in /sys/block is a software device
 * built on top of disks, or no disk at all, and is not counted: loop*, ram*, zram* (memory),
 * dm-* (LVM/LUKS/multipath), md* (software RAID: its members are already counted), nbd*, rbd*
 * (network), sr*, fd* (optical, floppy), nvme*c*n* (the hidden per-path nodes of NVMe multipath,
 * whose namespace nvme*n* is counted once), mmcblk*boot*, mmcblk*rpmb (eMMC hardware partitions).
 */
const WHOLE_DISK: ReadonlyArray<[RegExp, string]> = [
  [/^vd[a-z]+$/, 'virtio'],
  [/^xvd[a-z]+$/, 'xen'],
  [/^sd[a-z]+$/, 'scsi'],
  [/^nvme\d+n\d+$/, 'nvme'],
  [/^hd[a-z]+$/, 'ide'],
  [/^mmcblk\d+$/, 'mmc'],
];

/** /sys/block/<dev>/size is always in 512-byte sectors, whatever the device's logical block size. */
const SECTOR = 512;

export interface BlockDisk {
  name: string;
  /** virtio, xen, scsi, nvme, ide or mmc (from the kernel's naming). */
  type: string;
  sizeBytes: number;
}

/** The kind of whole disk a /sys/block name is, or undefined when it is not a disk we count. */
export function diskKind(name: string): string | undefined {
  return WHOLE_DISK.find(([re]) => re.test(name))?.[1];
}

/**
 * Pure: the disks among /sys/block entries. `read(dev, attr)` gives the text of
 * /sys/block/<dev>/<attr> (undefined when absent).
 */
export function disksFromSysBlock(names: readonly string[], read: (dev: string, attr: string) => string | undefined): BlockDisk[] {
  const out: BlockDisk[] = [];
  for (const name of [...names].sort()) {
    const type = diskKind(name);
    if (!type) continue;
    if (read(name, 'removable')?.trim() === '1') continue;
    const sectors = Number(read(name, 'size')?.trim());
    if (!Number.isSafeInteger(sectors) || sectors <= 0) continue;
    out.push({ name, type, sizeBytes: sectors * SECTOR });
  }
  return out;
}

/** The attributes `disksFromSysBlock` reads (and the capture script records). */
export const SYS_BLOCK_ATTRS = ['size', 'removable'] as const;

/** Reads /sys/block through the Host port (files only: no process is started). */
export async function blockDisks(host: Host): Promise<BlockDisk[]> {
  const names = await host.readdir(SYS_BLOCK_DIR).catch(() => [] as string[]);
  const wanted = names.filter((n) => diskKind(n));
  const attrs = new Map<string, string | undefined>();
  await Promise.all(
    wanted.flatMap((n) => SYS_BLOCK_ATTRS.map(async (a) => attrs.set(`${n}/${a}`, await host.readFile(`${SYS_BLOCK_DIR}/${n}/${a}`).catch(() => undefined)))),
  );
  return disksFromSysBlock(names, (dev, attr) => attrs.get(`${dev}/${attr}`));
}
