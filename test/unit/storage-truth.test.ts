/**
 * Issue 16, items 1–3: auto-discovery takes only provably empty disks; the plan states the LV's
 * real size (LVM's extent arithmetic, checked against the real lvm2 2.03.16); a volume below xfs's
 * minimum is refused in the plan, before anything is written. Through the real inspect -> plan ->
 * apply code on the simulated host (test/fixtures/storage/sim.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { AgentError, EXIT } from '../../agent/errors.ts';
import { MiB, fingerprintRegions, firstNonZero, sampleRegions } from '../../agent/storage/content.ts';
import { READ_ONLY_COMMANDS } from '../../agent/storage/inspect.ts';
import { planStorageStep, runStorageStep } from '../../agent/storage/index.ts';
import { LVM_EXTENT_BYTES, XFS_MIN_BYTES, extentsOf, peStart, planLayout } from '../../agent/storage/layout.ts';
import { FIXTURES, StorageSim, TB, type SimDisk } from '../fixtures/storage/sim.ts';
import { CENSUS_FILE, DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;
const cfg = (devices?: string[]) => (devices ? { nvmeDevices: devices } : {});
const plan = async (sim: StorageSim, devices?: string[]) => (await planStorageStep(sim.host, cfg(devices), STATE_DIR)).plan;
const pvcreated = (sim: StorageSim) => sim.host.execLines().filter((l) => l.startsWith('pvcreate ')).map((l) => l.split(' ')[1]);
/** Bytes that no signature probe knows: what a database writes to a raw disk. */
const junk = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 13) % 251 || 1));

describe('item 1: auto-discovery takes only provably empty disks', () => {
  const cases: Array<{ name: string; disk: SimDisk; offset: RegExp }> = [
    { name: 'data from offset 0 (a database used it raw)', disk: StorageSim.nvme(2, { data: [{ offset: 0, bytes: junk(4 * MiB) }] }), offset: /offset 0x0 \(in the first MiB\)/ },
    { name: 'a wiped partition table, the first partition\'s filesystem still at 1 MiB', disk: StorageSim.nvme(2, { data: [{ offset: MiB + 1024, bytes: junk(512) }] }), offset: /offset 0x100400 \(in the second MiB/ },
    { name: 'an array member whose superblock sits at the end (mdadm 0.90/1.0)', disk: StorageSim.nvme(2, { data: [{ offset: 3.84 * TB - 64 * 1024, bytes: junk(4096) }] }), offset: /offset 0x37e11d50000 \(in the last MiB\)/ },
    { name: 'data only in the middle of the disk', disk: StorageSim.nvme(2, { data: [{ offset: Math.floor(1.92e12 / MiB) * MiB + 100, bytes: junk(8) }] }), offset: /offset 0x1bf08e00064 \(in the middle of the disk\)/ },
  ];
  for (const c of cases) {
    test(`${c.name}: skipped with a note naming the disk, what was found and how to use it anyway; never touched`, async () => {
      const sim = new StorageSim([StorageSim.nvme(1), c.disk]);
      const p = await plan(sim);
      const note = p.notes.find((n) => n.startsWith('skipping /dev/nvme2n1 '));
      expect(note).toMatch(/^skipping \/dev\/nvme2n1 \(3\.5 TiB\): no known signature, but it holds data: non-zero bytes at /);
      expect(note).toMatch(c.offset);
      expect(note).toMatch(/To use it anyway \(its data is lost\), list it in NVME_DEVICES$/);
      expect(p.disks.find((x) => x.path === '/dev/nvme2n1')!.verdict.kind).toBe('unsafe');
      const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
      expect(r.changed).toBe(true);
      expect(pvcreated(sim)).toEqual(['/dev/nvme1n1']); // the empty disk is used, the other one is not
      expect(sim.host.execLines().filter((l) => l.includes('nvme2n1') && !/^(wipefs -n|blkid -p)/.test(l))).toEqual([]);
    });
  }

  test('a read error is never "empty": skipped, refusing to guess', async () => {
    const sim = new StorageSim([StorageSim.nvme(1, { readError: 'EIO' })]);
    const p = await plan(sim);
    expect(p.notes.join('\n')).toMatch(/skipping \/dev\/nvme1n1 \(3\.5 TiB\): could not read it to prove it empty \(reading the first MiB \(offset 0x0\) failed: EIO\); refusing to guess/);
    expect(p.summary).toBe('skipped: no eligible NVMe disk; k0s uses the root disk');
  });

  test('reads only: the sample regions, through the Host port, no process', async () => {
    const sim = new StorageSim([StorageSim.nvme(1)]);
    await plan(sim);
    const reads = sim.host.calls.filter((c) => c.kind === 'read');
    // the six sample regions (6 MiB), then the fingerprint (first and last 128 KiB) the census keeps
    expect(reads.map((r) => (r as { offset: number }).offset)).toEqual([...sampleRegions(3.84 * TB), ...fingerprintRegions(3.84 * TB)].map((r) => r.offset));
    expect(sim.host.mutations(READ_ONLY_COMMANDS)).toEqual([]);
  });

  test('NVME_DEVICES set: a disk without a signature is used as today (the operator chose it); nothing is read', async () => {
    const sim = new StorageSim([StorageSim.nvme(2, { data: [{ offset: 0, bytes: junk(4 * MiB) }] })]);
    await runStorageStep(sim.host, cfg(['/dev/nvme2n1']), STATE_DIR);
    expect(pvcreated(sim)).toEqual(['/dev/nvme2n1']);
    expect(sim.host.calls.filter((c) => c.kind === 'read')).toEqual([]);
  });

  test('disks our state records as ours keep the rebuild rule (instance store after stop/start)', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    sim.instanceStoreWipe();
    // The fresh instance store does not read as zeros (another key, another drive): still ours by the record.
    sim.disk('nvme1n1').data = [{ offset: 0, bytes: junk(4096) }];
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.summary).toMatch(/^rebuild 2-stripe LV castai-edge\/k0s on \/dev\/nvme1n1, \/dev\/nvme2n1/);
  });

  test('sample regions: first MiB, the start of the second, a quarter, the middle, three quarters, the last MiB; 4 KiB-aligned on a 4Kn disk', () => {
    const size = 3.84 * TB; // a multiple of 4096, like every 4Kn disk
    const r = sampleRegions(size);
    expect(r.map((x) => x.where)).toEqual([
      'the first MiB',
      'the second MiB (where a first partition starts)',
      'a quarter into the disk',
      'the middle of the disk',
      'three quarters into the disk',
      'the last MiB',
    ]);
    expect(r.map((x) => x.length / 1024)).toEqual([1024, 128, 64, 64, 64, 1024]); // 2.3 MiB in all
    expect(r.every((x) => x.offset % 4096 === 0)).toBe(true);
    expect(r[r.length - 1]!.offset + MiB).toBe(size);
    // A small disk is read once, never past its end.
    const small = sampleRegions(3 * MiB);
    expect(small.map((x) => [x.offset / 1024, x.length / 1024])).toEqual([[0, 1024], [1024, 128], [2048, 1024]]);
    expect(small.every((x) => x.offset + x.length <= 3 * MiB)).toBe(true);
    expect(sampleRegions(0)).toEqual([]);
  });

  test('firstNonZero finds the exact byte', () => {
    const b = Buffer.alloc(4096);
    expect(firstNonZero(b)).toBe(-1);
    b[4095] = 1;
    expect(firstNonZero(b)).toBe(4095);
    b[9] = 2;
    expect(firstNonZero(b)).toBe(9);
    expect(firstNonZero(Buffer.from([0, 0, 3]))).toBe(2);
  });
});

describe('item 2: the plan states the LV size lvs will report', () => {
  interface Case {
    sizes: number[];
    pvs: { report: Array<{ pv: Array<{ pe_start: string; pv_pe_count: string }> }> };
    lvs: { report: Array<{ lv: Array<{ lv_size: string }> }> };
  }
  const captured = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'lvm/extents.json'), 'utf8')) as { lvm: string; cases: Case[] };

  test(`LVM's extent arithmetic matches the real lvm2 ${captured.lvm} on every captured case (pvcreate, vgcreate, lvcreate -i N -l 100%FREE)`, () => {
    expect(captured.cases.length).toBeGreaterThanOrEqual(8);
    for (const c of captured.cases) {
      const pvs = c.pvs.report[0]!.pv;
      // lvm lists PVs by device name; the capture attached the sizes in order to consecutive loop devices.
      expect(pvs.map((p) => Number(p.pe_start))).toEqual(c.sizes.map(() => peStart()));
      expect(pvs.map((p) => Number(p.pv_pe_count))).toEqual(c.sizes.map((s) => extentsOf(s)));
      const layout = planLayout(c.sizes.map((s, i) => ({ path: `/dev/d${i}`, size: s, extents: extentsOf(s) })), 'all');
      expect(layout.lvBytes, `sizes ${c.sizes.join(', ')}`).toBe(Number(c.lvs.report[0]!.lv[0]!.lv_size));
    }
  });

  test("PV alignment follows the device's I/O topology like lvm2's set_pe_align", () => {
    expect(peStart({})).toBe(MiB);
    expect(peStart({ minIo: 4096, optIo: 128 * 1024 })).toBe(MiB); // divides 1 MiB: unchanged
    expect(peStart({ optIo: 3 * MiB })).toBe(3 * MiB); // a 3-disk RAID0 of 1 MiB chunks
    expect(peStart({ minIo: 768 * 1024 })).toBe(1536 * 1024); // 1 MiB rounded up to a multiple of 768 KiB
    expect(peStart({ alignOffset: 3584 })).toBe(MiB + 3584);
    expect(extentsOf(10 * MiB, { optIo: 3 * MiB })).toBe(1);
  });

  test('unequal disks, auto-discovery: the size lvs will report, and the capacity left unused', async () => {
    const sim = new StorageSim([StorageSim.nvme(1, { size: 192 * MiB }), StorageSim.nvme(2, { size: 256 * MiB }), StorageSim.nvme(3, { size: 320 * MiB })]);
    const p = await plan(sim);
    // 47, 63 and 79 extents: three stripes of 47 beat two of 63 or one of 79.
    const lv = p.actions.find((a) => a.kind === 'storage.lvcreate')!;
    expect(lv.sizeBytes).toBe(3 * 47 * LVM_EXTENT_BYTES);
    expect(lv.commands![0]).toContain('141');
    expect(p.summary).toBe(
      'create 3-stripe LV castai-edge/k0s on /dev/nvme1n1, /dev/nvme2n1, /dev/nvme3n1 (564 MiB; 204 MiB of the disks unused), xfs, mounted at /var/lib/k0s',
    );
    expect(p.notes).toContain(
      "disks of unequal size: each stripe takes 188 MiB (the smallest disk's extents), so 64 MiB of /dev/nvme2n1, 128 MiB of /dev/nvme3n1 stay unused (192 MiB in all)",
    );
    expect(p.layout).toMatchObject({ stripes: 3, lvExtents: 141, lvBytes: 591396864, mismatchBytes: 192 * MiB });
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(sim.lvs[0]!.size).toBe(lv.sizeBytes); // what the (LVM-faithful) simulator's lvs reports
  });

  test('auto-discovery leaves out a much smaller disk when striping it in would shrink the volume; NVME_DEVICES uses every listed disk', async () => {
    const disks = () => [StorageSim.nvme(1), StorageSim.nvme(2), StorageSim.nvme(3, { size: 0.96 * TB })];
    const sim = new StorageSim(disks());
    const p = await plan(sim);
    expect(p.layout!.stripes).toBe(2);
    expect(p.layout!.pvs.map((x) => x.path)).toEqual(['/dev/nvme1n1', '/dev/nvme2n1']);
    expect(p.notes.join('\n')).toMatch(/blank NVMe disk \/dev\/nvme3n1 \(894 GiB\) not used: striping it in too would give 2\.6 TiB instead of 7\.0 TiB .*it stays untouched\. To choose the disks yourself, list them in NVME_DEVICES/);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(pvcreated(sim)).toEqual(['/dev/nvme1n1', '/dev/nvme2n1']);

    const explicit = new StorageSim(disks());
    const e = await plan(explicit, ['/dev/nvme1n1', '/dev/nvme2n1', '/dev/nvme3n1']);
    expect(e.layout!.stripes).toBe(3);
    expect(e.notes.join('\n')).toMatch(/disks of unequal size: each stripe takes 894 GiB .*so 2\.6 TiB of \/dev\/nvme1n1, 2\.6 TiB of \/dev\/nvme2n1 stay unused/);
  });

  test('equal disks (the usual instance store): every disk, one stripe each', () => {
    const l = planLayout([0, 1, 2, 3].map((i) => ({ path: `/dev/nvme${i}n1`, size: 3.84 * TB, extents: extentsOf(3.84 * TB) })), 'best');
    expect(l.stripes).toBe(4);
    expect(l.leftOut).toEqual([]);
    expect(l.mismatchBytes).toBe(0);
  });
});

describe('item 3: too small for xfs is refused in the plan, with its numbers, before anything is written', () => {
  test("xfs's minimum is the one mkfs.xfs 6.1 enforces (captured: 300 MiB accepted, 299 MiB refused)", () => {
    const read = (f: string) => fs.readFileSync(path.join(FIXTURES, 'mkfs', f), 'utf8');
    expect(read('version.txt')).toMatch(/^mkfs\.xfs version 6\.1\.0/);
    expect(read('ok-300MiB.exit').trim()).toBe('0');
    expect(read('too-small-299MiB.exit').trim()).toBe('1');
    expect(read('too-small-299MiB.stderr').split('\n')[0]).toBe('Filesystem must be larger than 300MB.');
    expect(XFS_MIN_BYTES).toBe(300 * MiB);
  });

  test('NVME_DEVICES naming three 64 MiB disks: refused with the numbers, nothing changed', async () => {
    const sim = new StorageSim([1, 2, 3].map((i) => StorageSim.nvme(i, { size: 64 * MiB })));
    const devices = ['/dev/nvme1n1', '/dev/nvme2n1', '/dev/nvme3n1'];
    const p = await plan(sim, devices);
    expect(p.refused).toBe(true);
    expect(p.actions).toEqual([]);
    expect(p.refusals).toEqual([
      expect.objectContaining({
        device: '/dev/castai-edge/k0s',
        sizeBytes: 188743680,
        reason:
          'NVME_DEVICES (/dev/nvme1n1, /dev/nvme2n1, /dev/nvme3n1) would give 180 MiB (188743680 bytes: 3 stripes × 15 extents of 4 MiB over /dev/nvme1n1, /dev/nvme2n1, /dev/nvme3n1): below xfs\'s minimum of 300 MiB (314572800 bytes), which mkfs.xfs (xfsprogs ≥ 5.19) refuses ("Filesystem must be larger than 300MB"). List larger disks, or more of them',
      }),
    ]);
    const err = await runStorageStep(sim.host, cfg(devices), STATE_DIR).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).exitCode).toBe(EXIT.CONFIG);
    expect((err as AgentError).message).toMatch(/refusing to touch any disk \(nothing was changed\):\n {2}\/dev\/castai-edge\/k0s: NVME_DEVICES .* would give 180 MiB/);
    expect(sim.host.mutations(READ_ONLY_COMMANDS)).toEqual([]);
  });

  test('auto-discovery with only small blank disks: no volume, a note with the numbers; the pass goes on (k0s on the root disk)', async () => {
    const sim = new StorageSim([1, 2].map((i) => StorageSim.nvme(i, { size: 64 * MiB })));
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.changed).toBe(false);
    expect(r.summary).toBe("skipped: the blank NVMe disks give 120 MiB, below xfs's 300 MiB minimum; k0s uses the root disk");
    expect(r.plan.notes.join('\n')).toMatch(/no volume made: the blank NVMe disks would give 120 MiB \(125829120 bytes: 2 stripes × 15 extents/);
    // Nothing on any disk; only the disk census in our state dir.
    expect(
      sim.host
        .mutations(READ_ONLY_COMMANDS)
        .filter((c) => c.kind !== 'mkdir')
        .map((c) => (c.kind === 'write' ? c.path : c.kind)),
    ).toEqual([`${STATE_DIR}/${CENSUS_FILE}`]);
  });

  test('the boundary: a 300 MiB LV is made, 296 MiB is refused', async () => {
    const ok = new StorageSim([StorageSim.nvme(1, { size: 301 * MiB })]); // (301 - 1) / 4 = 75 extents = 300 MiB
    expect((await plan(ok, ['/dev/nvme1n1'])).layout!.lvBytes).toBe(XFS_MIN_BYTES);
    expect((await plan(ok, ['/dev/nvme1n1'])).refused).toBe(false);
    const small = new StorageSim([StorageSim.nvme(1, { size: 300 * MiB })]); // 74 extents
    expect((await plan(small, ['/dev/nvme1n1'])).refused).toBe(true);
  });
});
