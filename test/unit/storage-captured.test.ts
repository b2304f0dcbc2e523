/**
 * The pure plan over outputs captured VERBATIM from the Debian 12 lab VM
 * (kernel 6.1, util-linux 2.38.1, lvm2 2.03.16, emulated NVMe) by
 * test/fixtures/storage/capture-vm.ts. No simulation: these are the bytes
 * the agent reads on a real node.
 */
import { describe, expect, test } from 'vitest';
import { desiredFromConfig, planStorage, renderStoragePlan } from '../../agent/storage/plan.ts';
import { parseBlkidExport, parseLsblk, parseLvs, parseMountinfo, parsePvs, parseSwaps, parseVgs, parseWipefs } from '../../agent/storage/parse.ts';
import { renderMountUnit } from '../../agent/storage/unit.ts';
import type { DiskProbe, StorageActual, StorageState } from '../../agent/storage/types.ts';
import { fixture } from '../fixtures/storage/sim.ts';

const d = desiredFromConfig({ stateDir: '/var/lib/castai-edge-initd' });
const probe = (name: string, blkidExit0 = true): DiskProbe => ({
  signatures: parseWipefs(fixture(`vm/wipefs.${name}.json`)),
  blkid: blkidExit0 ? parseBlkidExport(fixture(`vm/blkid.${name}.txt`)) : {},
  // The sample reads of a fresh lab disk (derived, not captured: a sparse disk image reads as zeros).
  ...(name === 'nvme-blank' ? { content: { bytes: 6 * 1024 ** 2, fingerprint: 'fresh' } } : {}),
});

/** The VM with nvme0n1, nvme1n1 blank; nvme2n1 ext4 holding a file; nvme3n1 GPT + 1 partition; nvme4n1 an md RAID1 member. */
function foreignVm(): StorageActual {
  return {
    blockDevices: parseLsblk(fixture('vm/lsblk.foreign.json')),
    mounts: parseMountinfo(fixture('vm/mountinfo.blank.txt')),
    swaps: parseSwaps(fixture('vm/swaps.txt')),
    probes: {
      '/dev/nvme0n1': probe('nvme-blank', false),
      '/dev/nvme1n1': probe('nvme-blank', false),
      '/dev/nvme2n1': probe('nvme-ext4'),
      '/dev/nvme3n1': probe('nvme-gpt'),
      '/dev/nvme4n1': probe('nvme-mdraid'),
    },
    resolved: {},
    lvm: {
      available: true,
      pvs: parsePvs(fixture('vm/pvs.none.json')),
      vgs: parseVgs(fixture('vm/vgs.none.json')),
      lvs: parseLvs(fixture('vm/lvs.none.json')),
    },
    unit: {},
    tools: { mkfsXfs: true },
  };
}

const fsUuid = parseBlkidExport(fixture('vm/blkid.ours-lv.txt')).UUID!;
const readyState: StorageState = {
  version: 1,
  phase: 'ready',
  vgName: 'castai-edge',
  lvName: 'k0s',
  devices: ['/dev/nvme0n1', '/dev/nvme1n1'],
  stripes: 2,
  fsUuid,
  createdAt: 'x',
  updatedAt: 'x',
};

/** The same VM after our 2-stripe LV was made, formatted and mounted. */
function oursVm(mounted: boolean): StorageActual {
  return {
    blockDevices: parseLsblk(fixture(mounted ? 'vm/lsblk.ours-mounted.json' : 'vm/lsblk.ours-inactive.json')),
    mounts: parseMountinfo(fixture(mounted ? 'vm/mountinfo.ours-mounted.txt' : 'vm/mountinfo.blank.txt')),
    swaps: [],
    // inspect does not probe PVs of our tagged VG; the rest as in foreignVm
    probes: { '/dev/nvme2n1': probe('nvme-ext4'), '/dev/nvme3n1': probe('nvme-gpt'), '/dev/nvme4n1': probe('nvme-mdraid') },
    resolved: {},
    lvm: {
      available: true,
      pvs: parsePvs(fixture('vm/pvs.ours.json')),
      vgs: parseVgs(fixture('vm/vgs.ours.json')),
      lvs: parseLvs(fixture(mounted ? 'vm/lvs.ours-active.json' : 'vm/lvs.ours-inactive.json')),
    },
    ...(mounted ? { lvFs: { type: 'xfs', uuid: fsUuid } } : {}),
    unit: { content: renderMountUnit(d, fsUuid), enabled: 'enabled' },
    state: readyState,
    tools: { mkfsXfs: true },
  };
}

describe('captured lab VM: foreign data on three of five NVMe disks', () => {
  test('auto-discovery: stripe the two blank disks, skip the rest with the signature found', () => {
    const p = planStorage(d, foreignVm());
    expect(p.refused).toBe(false);
    expect(p.actions.find((a) => a.kind === 'storage.vgcreate')!.devices).toEqual(['/dev/nvme0n1', '/dev/nvme1n1']);
    expect(p.actions.find((a) => a.kind === 'storage.lvcreate')!.commands![0]).toContain('-i');
    const notes = p.notes.join('\n');
    expect(notes).toMatch(/skipping \/dev\/nvme2n1 \(1 GiB\): ext4 filesystem signature \(offset 0x438, UUID [0-9a-f-]+, label "olddata"\)/);
    expect(notes).toMatch(/skipping \/dev\/nvme3n1 \(1 GiB\): has 1 partition \(\/dev\/nvme3n1p1\); partition table signature \(gpt, PMBR\)/);
    expect(notes).toMatch(/skipping \/dev\/nvme4n1 \(1 GiB\): in use by raid1 device \/dev\/md0; RAID member signature \(linux_raid_member\)/);
    expect(p.disks.find((x) => x.path === '/dev/vda')!.verdict).toEqual({ kind: 'not-candidate', reason: 'not an NVMe disk' });
  });

  test('NVME_DEVICES naming the ext4 and GPT disks: refused, each named with its signature', () => {
    const p = planStorage({ ...d, devices: ['/dev/nvme0n1', '/dev/nvme2n1', '/dev/nvme3n1'] }, foreignVm());
    expect(p.refused).toBe(true);
    expect(p.refusals.map((a) => a.device)).toEqual(['/dev/nvme2n1', '/dev/nvme3n1']);
    expect(p.actions).toEqual([]);
    expect(renderStoragePlan(p)).toMatch(/\/dev\/nvme2n1 +1 GiB +REFUSE +ext4 filesystem signature/);
  });

  test('NVME_DEVICES with one blank disk: linear LV on it only', () => {
    const p = planStorage({ ...d, devices: ['/dev/nvme1n1'] }, foreignVm());
    expect(p.actions.filter((a) => a.kind === 'storage.pvcreate').map((a) => a.device)).toEqual(['/dev/nvme1n1']);
    expect(p.actions.find((a) => a.kind === 'storage.lvcreate')!.commands![0]).toEqual([
      'lvcreate',
      '--yes',
      '--wipesignatures',
      'y',
      '--addtag',
      'castai-edge-initd',
      '--name',
      'k0s',
      '-l',
      '255',
      'castai-edge',
    ]);
  });
});

describe('captured lab VM: our volume', () => {
  test('made, mounted, unit written, state recorded: nothing to do', () => {
    const p = planStorage(d, oursVm(true));
    expect(p.actions).toEqual([]);
    expect(p.summary).toBe('nothing to do');
    expect(p.disks.filter((x) => x.verdict.kind === 'ours').map((x) => x.path)).toEqual(['/dev/nvme0n1', '/dev/nvme1n1']);
  });

  test('the mounted LV is not mistaken for "a mounted disk", nor the root disk', () => {
    const p = planStorage({ ...d, devices: ['/dev/nvme1n1', '/dev/nvme0n1'] }, oursVm(true));
    expect(p.refused).toBe(false);
    expect(p.actions).toEqual([]);
  });

  test('inactive after boot: activate and mount only', () => {
    const p = planStorage(d, oursVm(false));
    expect(p.actions.map((a) => a.kind)).toEqual(['storage.activate', 'storage.mkfs', 'storage.mount-unit', 'storage.mount', 'storage.record']);
    expect(p.actions[0]!.commands![0]).toEqual(['vgchange', '-ay', 'castai-edge']);
    expect(p.actions.find((a) => a.kind === 'storage.mkfs')!.probeFirst).toBe(true);
  });

  test('lvs -o+stripes in the VM shows 2 stripes (what the e2e test asserts)', () => {
    expect(fixture('vm/lvs-stripes.ours.txt')).toMatch(/k0s\s+castai-edge\s+-wi-ao----.*\s2\s*$/m);
  });
});
