/**
 * Safety rules of the storage plan, through the real inspect + plan code on a
 * simulated host (test/fixtures/storage/sim.ts, whose probe outputs are the
 * captured real ones). Every refusal must name the device and the reason, and
 * change nothing at all — not even the other, blank, listed disks.
 */
import { describe, expect, test } from 'vitest';
import { AgentError, EXIT } from '../../agent/errors.ts';
import { READ_ONLY_COMMANDS } from '../../agent/storage/inspect.ts';
import { planStorageStep, renderStoragePlan, runStorageStep, describeStorage } from '../../agent/storage/index.ts';
import { StorageSim, type SimDisk } from '../fixtures/storage/sim.ts';
import { CENSUS_FILE, DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;
const plan = async (sim: StorageSim, devices?: string[]) => (await planStorageStep(sim.host, devices ? { nvmeDevices: devices } : {}, STATE_DIR)).plan;

/** Run the step with NVME_DEVICES and expect a refusal that changed nothing. Returns the error message. */
async function expectRefusal(sim: StorageSim, devices: string[] | undefined): Promise<string> {
  let err: unknown;
  try {
    await runStorageStep(sim.host, devices ? { nvmeDevices: devices } : {}, STATE_DIR);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AgentError);
  expect((err as AgentError).exitCode).toBe(EXIT.CONFIG);
  expect(sim.host.mutations(READ_ONLY_COMMANDS)).toEqual([]); // not a single write or mutating command
  return (err as AgentError).message;
}

const blank = StorageSim.nvme(0);

/** One unsafe disk listed together with a blank one: the whole plan is refused. */
const cases: Array<{ name: string; disk: SimDisk; setup?: (s: StorageSim) => void; expect: RegExp }> = [
  {
    name: 'root disk (partitioned, / on p2, /boot/efi on p1)',
    disk: StorageSim.nvme(1, {
      children: [
        { name: 'nvme1n1p1', type: 'part', majMin: '259:3', mountpoints: ['/boot/efi'] },
        { name: 'nvme1n1p2', type: 'part', majMin: '259:4' },
      ],
    }),
    setup: (s) => {
      s.systemDisk = undefined;
      s.mountinfo = s.mountinfo.filter((l) => !l.includes(' / / '));
      s.addMount('259:4', '/', 'ext4', '/dev/nvme1n1p2');
      s.addMount('259:3', '/boot/efi', 'vfat', '/dev/nvme1n1p1');
    },
    expect:
      /\/dev\/nvme1n1: root disk: holds \/ via \/dev\/nvme1n1p2, \/boot\/efi via \/dev\/nvme1n1p1; has 2 partitions \(\/dev\/nvme1n1p1, \/dev\/nvme1n1p2\)\n?$/m,
  },
  {
    name: 'root on LVM directly on the whole disk (no partitions), found through the dm child',
    disk: StorageSim.nvme(1, { sig: 'lvm2-member', children: [{ name: 'debian--vg-root', type: 'lvm', majMin: '253:7' }] }),
    setup: (s) => {
      s.systemDisk = undefined;
      s.mountinfo = s.mountinfo.filter((l) => !l.includes(' / / '));
      s.addMount('253:7', '/', 'ext4', '/dev/mapper/debian--vg-root');
    },
    expect: /\/dev\/nvme1n1: root disk: holds \/ via \/dev\/mapper\/debian--vg-root.*LVM/,
  },
  {
    name: 'swap partition in /proc/swaps',
    disk: StorageSim.nvme(1, { sig: 'swap' }),
    setup: (s) => s.swaps.push('/dev/nvme1n1'),
    expect: /\/dev\/nvme1n1: root disk: holds swap.*swap signature/,
  },
  {
    name: 'partition children',
    disk: StorageSim.nvme(1, { children: [{ name: 'nvme1n1p1', type: 'part', majMin: '259:3' }] }),
    expect: /\/dev\/nvme1n1: has 1 partition \(\/dev\/nvme1n1p1\)/,
  },
  { name: 'empty GPT (no partitions yet)', disk: StorageSim.nvme(1, { sig: 'gpt' }), expect: /\/dev\/nvme1n1: partition table signature \(gpt, PMBR\)/ },
  { name: 'dos partition table', disk: StorageSim.nvme(1, { sig: 'dos' }), expect: /\/dev\/nvme1n1: partition table signature \(dos\)/ },
  {
    name: 'ext4 filesystem',
    disk: StorageSim.nvme(1, { sig: 'ext4' }),
    expect: /\/dev\/nvme1n1: ext4 filesystem signature \(offset 0x438, UUID 9824daf4-c874-484c-89c4-95d0338408fd\)/,
  },
  { name: 'xfs filesystem', disk: StorageSim.nvme(1, { sig: 'xfs' }), expect: /\/dev\/nvme1n1: xfs filesystem signature \(offset 0x0, UUID fc5b09de/ },
  { name: 'LUKS', disk: StorageSim.nvme(1, { sig: 'crypto_LUKS' }), expect: /\/dev\/nvme1n1: LUKS encryption signature/ },
  {
    name: 'foreign LVM (PV of VG "data")',
    disk: StorageSim.nvme(1),
    setup: (s) => {
      s.pvs.set('/dev/nvme1n1', { vg: 'data', uuid: 'u3myea-21ss-W9Tx-GB0O-Eoan-ddpr-TF9qx2' });
      s.vgs.set('data', { name: 'data', tags: [] });
    },
    expect: /\/dev\/nvme1n1: LVM physical volume of volume group "data" \(LVM2_member, not ours: no tag "castai-edge-initd"\)/,
  },
  {
    name: 'orphan LVM PV not recorded by us',
    disk: StorageSim.nvme(1, { sig: 'lvm2-member' }),
    expect: /\/dev\/nvme1n1: LVM physical volume signature \(LVM2_member, PV UUID u3myea/,
  },
  {
    name: 'mdadm RAID member with an md child',
    disk: StorageSim.nvme(1, { sig: 'linux_raid_member', children: [{ name: 'md0', type: 'raid1', majMin: '9:0' }] }),
    expect:
      /\/dev\/nvme1n1: in use by raid1 device \/dev\/md0; RAID member signature \(linux_raid_member\) \(offset 0x1000, UUID aefe83c9-0523-657f-e2be-dc607f7764db, label "vm1:0"\)/,
  },
  {
    name: 'mounted (whole-disk filesystem)',
    disk: StorageSim.nvme(1, { sig: 'ext4' }),
    setup: (s) => s.addMount('259:2', '/mnt/data', 'ext4', '/dev/nvme1n1'),
    expect: /\/dev\/nvme1n1: ext4 filesystem signature.*; mounted at \/mnt\/data/,
  },
  {
    name: 'non-NVMe disk listed (SATA SSD)',
    disk: { name: 'sdb', size: 960e9, tran: 'sata', model: 'INTEL SSDSC2KB96', majMin: '8:16' },
    expect: /\/dev\/sdb: not an NVMe disk \(transport sata, model "INTEL SSDSC2KB96"\); NVME_DEVICES takes NVMe disks only/,
  },
  { name: 'read-only namespace', disk: StorageSim.nvme(1, { ro: true }), expect: /\/dev\/nvme1n1: read-only device/ },
  {
    name: 'probe failure is never "blank"',
    disk: StorageSim.nvme(1, { probeError: 'Permission denied' }),
    expect: /\/dev\/nvme1n1: could not read its signatures \(wipefs: .*Permission denied.*refusing to guess/,
  },
];

describe('NVME_DEVICES never overrides the safety rules: refuse, name device + reason, change nothing', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const sim = new StorageSim([blank, c.disk]);
      c.setup?.(sim);
      const msg = await expectRefusal(sim, ['/dev/nvme0n1', `/dev/${c.disk.name}`]);
      expect(msg).toMatch(c.expect);
      expect(msg).toMatch(/nothing was changed/);
      expect(msg).not.toMatch(/nvme0n1:/); // the blank disk is not a problem, and is not touched either
      // plan shows the refusal row
      const p = await plan(sim, ['/dev/nvme0n1', `/dev/${c.disk.name}`]);
      expect(p.refused).toBe(true);
      expect(p.actions).toEqual([]);
      expect(p.refusals.length).toBeGreaterThan(0);
      expect(describeStorage(p).rows[0]).toMatchObject({ device: `/dev/${c.disk.name}`, action: 'REFUSE' });
    });
  }

  test('every problem is listed at once', async () => {
    const sim = new StorageSim([blank, StorageSim.nvme(1, { sig: 'ext4' }), StorageSim.nvme(2, { sig: 'gpt' })]);
    const msg = await expectRefusal(sim, ['/dev/nvme0n1', '/dev/nvme1n1', '/dev/nvme2n1', '/dev/nvme9n1']);
    expect(msg).toMatch(/\/dev\/nvme1n1: ext4 filesystem signature/);
    expect(msg).toMatch(/\/dev\/nvme2n1: partition table signature \(gpt, PMBR\)/);
    expect(msg).toMatch(/\/dev\/nvme9n1: no such block device \(lsblk lists: \/dev\/vda, \/dev\/nvme0n1, \/dev\/nvme1n1, \/dev\/nvme2n1\)/);
  });

  test('a partition listed instead of a disk', async () => {
    const sim = new StorageSim([StorageSim.nvme(1, { children: [{ name: 'nvme1n1p1', type: 'part', majMin: '259:3' }] })]);
    const msg = await expectRefusal(sim, ['/dev/nvme1n1p1']);
    expect(msg).toMatch(/\/dev\/nvme1n1p1: is a part device, not a whole disk \(it is on \/dev\/nvme1n1\)/);
  });

  test('a volume group named like ours but without our tag', async () => {
    const sim = new StorageSim([blank]);
    sim.vgs.set('castai-edge', { name: 'castai-edge', tags: ['someone-else'] });
    const msg = await expectRefusal(sim, undefined);
    expect(msg).toMatch(/castai-edge: a volume group named "castai-edge" exists without our tag "castai-edge-initd"/);
  });

  test('something else mounted at /var/lib/k0s: refused with NVME_DEVICES, skipped in auto mode', async () => {
    const sim = new StorageSim([blank, { name: 'sdb', size: 1e12, tran: 'sata', majMin: '8:16', sig: 'ext4' }]);
    sim.addMount('8:16', '/var/lib/k0s', 'ext4', '/dev/sdb');
    const msg = await expectRefusal(sim, ['/dev/nvme0n1']);
    expect(msg).toMatch(/\/var\/lib\/k0s is already a mount of \/dev\/sdb \(ext4\)/);
    const p = await plan(sim);
    expect(p).toMatchObject({ refused: false, actions: [] });
    expect(p.summary).toMatch(/skipped: \/var\/lib\/k0s is already mounted from \/dev\/sdb/);
  });

  test('missing LVM tools or mkfs.xfs: refused with the package to install', async () => {
    const sim = new StorageSim([blank]);
    sim.host.files.delete('/usr/sbin/mkfs.xfs');
    sim.host.onExec((c) => c === 'pvs' || c === 'vgs' || c === 'lvs', { exitCode: 127, notFound: true, stderr: 'not found' });
    const msg = await expectRefusal(sim, undefined);
    expect(msg).toMatch(/apt-get install lvm2/);
    expect(msg).toMatch(/apt-get install xfsprogs/);
  });
});

describe('auto-discovery (NVME_DEVICES unset): unsafe disks are skipped with a note, never refused', () => {
  test('uses only the blank non-root NVMe disks', async () => {
    const sim = new StorageSim([
      StorageSim.nvme(0, { children: [{ name: 'nvme0n1p1', type: 'part', majMin: '259:1' }] }),
      StorageSim.nvme(1),
      StorageSim.nvme(2, { sig: 'ext4' }),
      StorageSim.nvme(3),
      StorageSim.nvme(4, { sig: 'linux_raid_member' }),
    ]);
    sim.systemDisk = undefined;
    sim.mountinfo = sim.mountinfo.filter((l) => !l.includes(' / / '));
    sim.addMount('259:1', '/', 'ext4', '/dev/nvme0n1p1');
    const p = await plan(sim);
    expect(p.refused).toBe(false);
    expect(p.actions.find((a) => a.kind === 'storage.vgcreate')!.devices).toEqual(['/dev/nvme1n1', '/dev/nvme3n1']);
    expect(p.notes.join('\n')).toMatch(/skipping \/dev\/nvme0n1 \(3\.5 TiB\): root disk: holds \/ via \/dev\/nvme0n1p1/);
    expect(p.notes.join('\n')).toMatch(/skipping \/dev\/nvme2n1 .*ext4 filesystem signature/);
    expect(p.notes.join('\n')).toMatch(/skipping \/dev\/nvme4n1 .*RAID member signature \(linux_raid_member\) \(offset 0x1000/);
    const text = renderStoragePlan(p);
    expect(text).toMatch(/\/dev\/nvme2n1 +3\.5 TiB +skip +ext4 filesystem signature/);
    expect(text).toMatch(/\/dev\/nvme1n1 +3\.5 TiB +pvcreate/);
  });

  test('zero candidates: nothing to do, an info line, k0s uses the root disk', async () => {
    const sim = new StorageSim([StorageSim.nvme(0, { sig: 'xfs' })]);
    const r = await runStorageStep(sim.host, {}, STATE_DIR);
    expect(r.changed).toBe(false);
    expect(r.plan.actions).toEqual([]);
    expect(r.summary).toBe('skipped: no eligible NVMe disk; k0s uses the root disk');
    expect(r.plan.notes.join('\n')).toMatch(/k0s keeps \/var\/lib\/k0s on the root disk/);
    // Nothing on any disk; only the disk census in our state dir (for the steady-state check).
    expect(sim.host.mutations(READ_ONLY_COMMANDS).filter((c) => c.kind !== 'mkdir')).toEqual([
      expect.objectContaining({ kind: 'write', path: `${STATE_DIR}/${CENSUS_FILE}` }),
    ]);
  });

  test('no NVMe at all (this dev host: vda only)', async () => {
    const sim = new StorageSim([]);
    const p = await plan(sim);
    expect(p.summary).toMatch(/^skipped/);
    expect(describeStorage(p).rows).toEqual([{ device: '/dev/vda', size: '20 GiB', action: 'skip', reason: 'not an NVMe disk' }]);
  });

  test('Amazon EBS (network NVMe) is skipped in auto mode but usable when listed', async () => {
    const ebs = StorageSim.nvme(1, { model: 'Amazon Elastic Block Store', serial: 'vol0abc' });
    const sim = new StorageSim([ebs]);
    const p = await plan(sim);
    expect(p.actions).toEqual([]);
    expect(p.notes.join()).toMatch(/network volume \("Amazon Elastic Block Store"\)/);
    const p2 = await plan(sim, ['/dev/nvme1n1']);
    expect(p2.actions.some((a) => a.kind === 'storage.pvcreate' && a.device === '/dev/nvme1n1')).toBe(true);
  });

  test('NVME_DEVICES by /dev/disk/by-id/ symlink resolves to the disk', async () => {
    const sim = new StorageSim([StorageSim.nvme(0), StorageSim.nvme(1)]);
    const p = await plan(sim, ['/dev/disk/by-id/nvme-SAMSUNG_MZQL23T8HCLS-00A07_S64HNE0T500001']);
    expect(p.actions.find((a) => a.kind === 'storage.vgcreate')!.devices).toEqual(['/dev/nvme1n1']);
  });
});
