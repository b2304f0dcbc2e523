/**
 * RealHost.readAt against the real OS (issue 16): a bounded read at an offset, O_DIRECT where the
 * kernel allows it (ext4 files, loop block devices), buffered where it does not (tmpfs), never past
 * the end. The block-device case runs when this machine lets root attach a loop device.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealHost } from '../../agent/host/real.ts';
import { readContent } from '../../agent/storage/content.ts';
import { itNeeding, notRoot } from '../helpers/needs.ts';

const h = new RealHost();
const MiB = 1024 * 1024;
let dir: string;
const loops: string[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'host-readat-'));
});
afterAll(async () => {
  for (const l of loops) execFileSync('losetup', ['-d', l]); // test cleanup: only the loop devices this file attached
  await fs.rm(dir, { recursive: true, force: true });
});

/** A file of `size` bytes, zeros except `marker` at `at`. */
async function image(name: string, size: number, at: number, marker: Buffer): Promise<string> {
  const p = path.join(dir, name);
  const fh = await fs.open(p, 'w');
  await fh.truncate(size);
  await fh.write(marker, 0, marker.length, at);
  await fh.close();
  return p;
}

const loopMissing = (() => {
  const missing = notRoot('loop devices (losetup)');
  if (missing.length) return missing;
  try {
    return execFileSync('losetup', ['-f'], { encoding: 'utf8' }).startsWith('/dev/loop') ? [] : ['a free loop device (losetup -f)'];
  } catch (e) {
    return [`a free loop device: losetup -f failed (${(e as Error).message.split('\n')[0]})`];
  }
})();

describe('RealHost.readAt', () => {
  it('reads exactly the bytes at an offset, aligned or not; shorter only at the end; never past it', async () => {
    const p = await image('a.img', 4 * MiB, 3 * MiB + 5, Buffer.from('HELLO'));
    expect((await h.readAt(p, 3 * MiB, MiB)).indexOf('HELLO')).toBe(5);
    expect((await h.readAt(p, 3 * MiB + 5, 5)).toString()).toBe('HELLO'); // unaligned: the buffered path
    expect((await h.readAt(p, 4 * MiB - 2, 100)).length).toBe(2);
    expect((await h.readAt(p, 8 * MiB, 100)).length).toBe(0);
  });

  it('a missing path throws ENOENT; a length above 16 MiB is refused before anything is read', async () => {
    await expect(h.readAt(path.join(dir, 'nope'), 0, 10)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(h.readAt(path.join(dir, 'nope'), 0, 17 * MiB)).rejects.toThrow(RangeError);
    await expect(h.readAt(path.join(dir, 'nope'), -1, 1)).rejects.toThrow(RangeError);
  });

  itNeeding('a block device (loop), O_DIRECT: the sample reads find data without a signature, and a blank device reads as zeros', loopMissing, async () => {
    const data = await image('data.img', 64 * MiB, 63 * MiB + 4096, Buffer.from('raw database page'));
    const blank = await image('blank.img', 64 * MiB, 0, Buffer.alloc(0));
    for (const f of [data, blank]) loops.push(execFileSync('losetup', ['-f', '--show', f], { encoding: 'utf8' }).trim());
    const [dataDev, blankDev] = loops as [string, string];
    const found = await readContent(h, dataDev, 64 * MiB);
    expect(found.error).toBeUndefined();
    expect(found.nonZero).toEqual({ offset: 63 * MiB + 4096, where: 'the last MiB' });
    const empty = await readContent(h, blankDev, 64 * MiB);
    expect(empty).toMatchObject({ bytes: 2 * MiB + 320 * 1024 }); // the sample regions of a 64 MiB disk
    expect(empty.nonZero).toBeUndefined();
    expect(empty.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });
});
