/**
 * Issue 16, item 6: a quiet steady state with skipped disks. On a host whose NVMe disks we skip
 * (Amazon EBS volumes are NVMe too; a disk with someone's filesystem; a disk with data and no
 * signature; a RAID member), a steady-state pass runs no process for storage while those disks are
 * unchanged — with and without a volume of ours. The recording fake host counts the processes.
 */
import { describe, expect, test } from 'vitest';
import { runStorageStep } from '../../agent/storage/index.ts';
import { MiB } from '../../agent/storage/content.ts';
import { StorageSim, GiB } from '../fixtures/storage/sim.ts';
import { CENSUS_FILE, DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;
const CENSUS = `${STATE_DIR}/${CENSUS_FILE}`;
const EBS = 'Amazon Elastic Block Store';
const junk = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) % 253 || 1));

/** A Nitro host: the EBS root (partitioned), an EBS data volume with a whole-disk ext4 mounted at /data, and local NVMe disks. */
function nitro(local: ReturnType<typeof StorageSim.nvme>[]): StorageSim {
  const sim = new StorageSim([
    StorageSim.nvme(0, {
      size: 100 * GiB,
      model: EBS,
      serial: 'vol0aaa',
      children: [{ name: 'nvme0n1p1', type: 'part', majMin: '259:1', mountpoints: ['/'] }],
    }),
    StorageSim.nvme(1, { size: 500 * GiB, model: EBS, serial: 'vol0bbb', sig: 'ext4', majMin: '259:2' }),
    ...local,
  ]);
  sim.systemDisk = undefined;
  sim.mountinfo = sim.mountinfo.filter((l) => !l.includes(' / / '));
  sim.addMount('259:1', '/', 'ext4', '/dev/nvme0n1p1');
  sim.addMount('259:2', '/data', 'ext4', '/dev/nvme1n1');
  sim.sysfs = true;
  return sim;
}

const pass = async (sim: StorageSim, devices?: string[]) => {
  sim.host.calls.length = 0;
  const r = await runStorageStep(sim.host, devices ? { nvmeDevices: devices } : {}, STATE_DIR, undefined, { quick: true });
  return { r, execs: sim.host.execLines(), writes: sim.host.mutations().filter((c) => c.kind === 'write') };
};

describe('no volume of ours: every NVMe disk skipped', () => {
  const skippedOnly = () =>
    nitro([
      StorageSim.nvme(2, { sig: 'ext4' }), // someone's filesystem
      StorageSim.nvme(3, { data: [{ offset: 0, bytes: junk(4 * MiB) }] }), // data, no signature
      StorageSim.nvme(4, { sig: 'linux_raid_member', children: [{ name: 'md0', type: 'raid1', majMin: '9:0' }] }), // an active array member
    ]);

  test('the first pass inspects and records the census; the next passes run no process at all', async () => {
    const sim = skippedOnly();
    const first = await pass(sim);
    expect(first.r.summary).toBe('skipped: no eligible NVMe disk; k0s uses the root disk');
    expect(first.execs.length).toBeGreaterThan(5); // lsblk, LVM, wipefs + blkid of every disk
    expect(first.writes.map((w) => (w.kind === 'write' ? w.path : ''))).toEqual([CENSUS]);
    const census = JSON.parse(sim.host.files.get(CENSUS)!.data) as { mode: string; disks: Array<{ name: string; hold: string }> };
    expect(census.mode).toBe('none');
    expect(census.disks.map((d) => `${d.name}:${d.hold}`)).toEqual([
      'nvme0n1:partitions',
      'nvme1n1:mounted',
      'nvme2n1:content',
      'nvme3n1:content',
      'nvme4n1:holders',
    ]);

    for (let i = 0; i < 3; i++) {
      const again = await pass(sim);
      expect(again.execs).toEqual([]); // not one process
      expect(again.writes).toEqual([]);
      expect(again.r.summary).toBe('skipped: no NVMe disk to use (5 unchanged since the last full pass); k0s uses the root disk');
      expect(again.r.changed).toBe(false);
    }
  });

  const changes: Array<[string, (s: StorageSim) => void]> = [
    ['the disk with data is wiped (it becomes usable)', (s) => void (s.disk('nvme3n1').data = [])],
    ["someone's filesystem is wiped", (s) => void delete s.disk('nvme2n1').sig],
    ['the data volume is unmounted', (s) => void (s.mountinfo = s.mountinfo.filter((l) => !l.includes(' /data ')))],
    ['the array is stopped', (s) => void (s.disk('nvme4n1').children = [])],
    ['a new disk appears', (s) => void s.disks.push(StorageSim.nvme(5))],
    ['a disk grows', (s) => void (s.disk('nvme2n1').size += GiB)],
  ];
  for (const [what, change] of changes) {
    test(`the full pass runs again at once when ${what}`, async () => {
      const sim = skippedOnly();
      await pass(sim);
      expect((await pass(sim)).execs).toEqual([]);
      change(sim);
      const after = await pass(sim);
      expect(after.execs[0]).toMatch(/^lsblk /);
    });
  }

  test('a fixed host recovers at once: the wiped disk is used on that very pass', async () => {
    const sim = skippedOnly();
    await pass(sim);
    sim.disk('nvme3n1').data = [];
    const r = (await pass(sim)).r;
    expect(r.changed).toBe(true);
    expect(r.summary).toMatch(/^create linear LV castai-edge\/k0s on \/dev\/nvme3n1 /);
  });

  test('the `plan` command never writes the census; only `run` does', async () => {
    const sim = skippedOnly();
    const { planStorageStep } = await import('../../agent/storage/index.ts');
    await planStorageStep(sim.host, {}, STATE_DIR);
    expect(sim.host.files.has(CENSUS)).toBe(false);
  });
});

describe('our volume made, other NVMe disks skipped', () => {
  test('after the build, a steady-state pass runs no process although an EBS volume and a disk with data are not ours', async () => {
    const sim = nitro([StorageSim.nvme(2), StorageSim.nvme(3), StorageSim.nvme(4, { data: [{ offset: 0, bytes: junk(MiB) }] })]);
    const build = await pass(sim);
    expect(build.r.summary).toMatch(/^create 2-stripe LV castai-edge\/k0s on \/dev\/nvme2n1, \/dev\/nvme3n1 .* — done$/);
    const census = JSON.parse(sim.host.files.get(CENSUS)!.data) as { mode: string; disks: Array<{ name: string }> };
    expect(census).toMatchObject({ mode: 'volume' });
    expect(census.disks.map((d) => d.name)).toEqual(['nvme0n1', 'nvme1n1', 'nvme4n1']);

    const again = await pass(sim);
    expect(again.execs).toEqual([]);
    expect(again.r.summary).toBe('nothing to do (mounted, on the recorded disks)');

    // A disk nobody saw before: the full pass runs (and notes that it is not added).
    sim.disks.push(StorageSim.nvme(5, { majMin: '259:10' }));
    const fresh = await pass(sim);
    expect(fresh.execs[0]).toMatch(/^lsblk /);
    expect(fresh.r.plan.notes.join('\n')).toMatch(/blank NVMe disk \/dev\/nvme5n1 not added/);
    expect((await pass(sim)).execs).toEqual([]); // and is quiet again
  });
});
