import { describe, expect, test } from 'vitest';
import {
  parseBlkidExport,
  parseLsblk,
  parseLvs,
  parseMountinfo,
  parsePvs,
  parseSwaps,
  parseVgs,
  parseWipefs,
  unescapeOctal,
} from '../../agent/storage/parse.ts';
import { renderMountUnit, unitFsUuid } from '../../agent/storage/unit.ts';
import { STORAGE_DEFAULTS } from '../../agent/storage/types.ts';
import { fixture } from '../fixtures/storage/sim.ts';

// Captured real outputs: test/fixtures/storage/SOURCES.md
describe('lsblk -J -b (util-linux 2.38.1, captured on the dev host)', () => {
  const devs = parseLsblk(fixture('devhost/lsblk.loops.json'));
  test('disks, loops, numbers and mountpoints', () => {
    const vda = devs.find((d) => d.name === 'vda')!;
    expect(vda).toMatchObject({ path: '/dev/vda', type: 'disk', majMin: '254:0', size: 274877906944, ro: false, tran: null, children: [] });
    expect(vda.mountpoints).toContain('/');
    const zram = devs.find((d) => d.name === 'zram0')!;
    expect(zram.mountpoints).toEqual([]); // [null] -> []
    expect(devs.filter((d) => d.type === 'loop').map((d) => d.name)).toEqual(['loop0', 'loop1', 'loop2']);
  });
  test('older lsblk prints numbers and booleans as strings, and `mountpoint`', () => {
    const old = parseLsblk('{"blockdevices":[{"name":"nvme0n1","size":"512","ro":"1","mountpoint":"/x","children":[{"name":"nvme0n1p1","type":"part"}]}]}');
    expect(old[0]).toMatchObject({ size: 512, ro: true, mountpoints: ['/x'], path: '/dev/nvme0n1', kname: 'nvme0n1' });
    expect(old[0]!.children[0]!.name).toBe('nvme0n1p1');
  });
  test('garbage is a parse error naming lsblk', () => {
    expect(() => parseLsblk('not json')).toThrow(/lsblk JSON/);
    expect(() => parseLsblk('{}')).toThrow(/blockdevices/);
  });
});

describe('wipefs -n -J (captured)', () => {
  test('ext4 at 0x438 with UUID', () => {
    expect(parseWipefs(fixture('devhost/wipefs.ext4.json'))).toEqual([
      { offset: '0x438', type: 'ext4', uuid: '9824daf4-c874-484c-89c4-95d0338408fd', label: null },
    ]);
  });
  test('GPT: primary, backup header and protective MBR', () => {
    expect(parseWipefs(fixture('devhost/wipefs.gpt.json')).map((s) => `${s.type}@${s.offset}`)).toEqual(['gpt@0x200', 'gpt@0x1ffffe00', 'PMBR@0x1fe']);
  });
  test('blank: empty list (and empty output)', () => {
    expect(parseWipefs(fixture('devhost/wipefs.blank.json'))).toEqual([]);
    expect(parseWipefs('')).toEqual([]);
  });
  test('LVM2 member, LUKS, swap, xfs, dos', () => {
    expect(parseWipefs(fixture('devhost/wipefs.lvm2-member.json'))[0]!.type).toBe('LVM2_member');
    expect(parseWipefs(fixture('devhost/wipefs.crypto_LUKS.json')).map((s) => s.type)).toEqual(['crypto_LUKS', 'crypto_LUKS']);
    expect(parseWipefs(fixture('devhost/wipefs.swap.json'))[0]!.type).toBe('swap');
    expect(parseWipefs(fixture('devhost/wipefs.xfs.json'))[0]).toMatchObject({ type: 'xfs', offset: '0x0' });
    expect(parseWipefs(fixture('devhost/wipefs.dos.json'))[0]).toMatchObject({ type: 'dos', offset: '0x1fe' });
  });
});

describe('blkid -p -o export (captured)', () => {
  test('filesystem, partition table, LVM (escaped value)', () => {
    expect(parseBlkidExport(fixture('devhost/blkid.ext4.txt'))).toMatchObject({ TYPE: 'ext4', USAGE: 'filesystem' });
    expect(parseBlkidExport(fixture('devhost/blkid.gpt.txt'))).toMatchObject({ PTTYPE: 'gpt' });
    expect(parseBlkidExport(fixture('devhost/blkid.lvm2-member.txt'))).toMatchObject({ TYPE: 'LVM2_member', VERSION: 'LVM2 001', USAGE: 'raid' });
    expect(parseBlkidExport('')).toEqual({});
  });
});

describe('mountinfo and swaps', () => {
  test('captured mountinfo: / by major:minor', () => {
    const m = parseMountinfo(fixture('devhost/mountinfo.txt'));
    expect(m.find((x) => x.mountPoint === '/')).toMatchObject({ majMin: '254:0', fstype: 'ext4', source: '/dev/vda' });
    expect(m.length).toBeGreaterThan(5);
  });
  test('octal escapes and optional fields', () => {
    const [e] = parseMountinfo('100 27 253:0 / /mnt/my\\040data rw,noatime shared:7 master:2 - xfs /dev/mapper/castai--edge-k0s rw,attr2\n');
    expect(e).toEqual({ majMin: '253:0', root: '/', mountPoint: '/mnt/my data', fstype: 'xfs', source: '/dev/mapper/castai--edge-k0s' });
    expect(unescapeOctal('a\\011b\\134c')).toBe('a\tb\\c');
  });
  test('/proc/swaps', () => {
    expect(parseSwaps(fixture('devhost/swaps.txt'))).toEqual([]);
    expect(parseSwaps('Filename\tType\tSize\tUsed\tPriority\n/dev/dm-1                               partition\t1003516\t\t0\t\t-2\n')).toEqual(['/dev/dm-1']);
  });
});

describe('LVM JSON reports (captured: a foreign VG on a loop device)', () => {
  test('pvs / vgs: strings to numbers, tags to lists', () => {
    expect(parsePvs(fixture('devhost/pvs.foreign-vg.json'))).toEqual([
      { pvName: '/dev/loop0', vgName: 'foreignvg', pvUuid: 'u3myea-21ss-W9Tx-GB0O-Eoan-ddpr-TF9qx2', pvSize: 532676608, tags: [], attr: 'a--' },
    ]);
    expect(parseVgs(fixture('devhost/vgs.foreign-vg.json'))[0]).toMatchObject({
      vgName: 'foreignvg',
      tags: ['other-team'],
      pvCount: 1,
      lvCount: 0,
      size: 532676608,
    });
    expect(parseLvs(fixture('devhost/lvs.foreign-vg.json'))).toEqual([]);
  });
  test('lvs: segments merged, devices cleaned, inactive has no major:minor', () => {
    const text = JSON.stringify({
      report: [
        {
          lv: [
            {
              lv_name: 'k0s',
              vg_name: 'castai-edge',
              lv_path: '/dev/castai-edge/k0s',
              lv_dm_path: '/dev/mapper/castai--edge-k0s',
              lv_size: '100',
              lv_attr: '-wi-ao----',
              lv_tags: 'castai-edge-initd',
              stripes: '2',
              segtype: 'striped',
              devices: '/dev/nvme0n1(0),/dev/nvme1n1(0)',
              lv_kernel_major: '253',
              lv_kernel_minor: '0',
            },
            {
              lv_name: 'data',
              vg_name: 'other',
              lv_path: '/dev/other/data',
              lv_dm_path: '',
              lv_size: '5',
              lv_attr: '-wi-------',
              lv_tags: '',
              stripes: '1',
              segtype: 'linear',
              devices: '/dev/sdb(0)',
              lv_kernel_major: '-1',
              lv_kernel_minor: '-1',
            },
          ],
        },
      ],
    });
    const lvs = parseLvs(text);
    expect(lvs[0]).toMatchObject({ stripes: 2, devices: ['/dev/nvme0n1', '/dev/nvme1n1'], kernelMajMin: '253:0', tags: ['castai-edge-initd'] });
    expect(lvs[1]!.kernelMajMin).toBeNull();
  });
});

describe('mount unit', () => {
  test('by UUID, noatime, before and required by k0sworker, wanted by local-fs', () => {
    const u = renderMountUnit(STORAGE_DEFAULTS, '0b5a3a1e-6f0c-4b9e-9d57-2f9a1c2e3d4f');
    for (const line of [
      'What=/dev/disk/by-uuid/0b5a3a1e-6f0c-4b9e-9d57-2f9a1c2e3d4f',
      'Where=/var/lib/k0s',
      'Type=xfs',
      'Options=noatime',
      'Before=k0sworker.service',
      'WantedBy=local-fs.target',
      'RequiredBy=k0sworker.service',
    ])
      expect(u.split('\n')).toContain(line);
    expect(unitFsUuid(u)).toBe('0b5a3a1e-6f0c-4b9e-9d57-2f9a1c2e3d4f');
    expect(() => renderMountUnit(STORAGE_DEFAULTS, '../../etc')).toThrow(/invalid filesystem UUID/);
  });
});
