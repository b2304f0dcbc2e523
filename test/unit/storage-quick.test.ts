import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { desiredFromConfig, runStorageStep } from '../../agent/storage/index.ts';
import { dmName, steadyStorage } from '../../agent/storage/quick.ts';
import { wantsLink } from '../../agent/storage/inspect.ts';
import { renderMountUnit } from '../../agent/storage/unit.ts';
import { StorageSim } from '../fixtures/storage/sim.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;
const UUID = '0f3c2b1a-9d8e-4f70-8a6b-5c4d3e2f1a00';

/** A host in the steady state: LV castai-edge/k0s (253:0) striped over nvme0n1+nvme1n1, mounted; root on nvme2n1 (partitioned). */
function steadyHost(devices = ['/dev/nvme0n1', '/dev/nvme1n1']) {
  const d = desiredFromConfig({ stateDir: STATE_DIR });
  const h = new FakeHost();
  h.setFile(
    d.stateFile,
    JSON.stringify({ version: 1, phase: 'ready', vgName: 'castai-edge', lvName: 'k0s', devices, stripes: 2, fsUuid: UUID, createdAt: 't', updatedAt: 't' }),
    0o600,
  );
  for (const n of ['nvme0n1', 'nvme1n1', 'nvme2n1', 'loop0']) h.dirs.set(`/sys/block/${n}`, 0o755);
  h.dirs.set('/sys/block/nvme2n1/nvme2n1p1', 0o755);
  h.setFile(
    '/proc/self/mountinfo',
    `26 1 259:1 / / rw,relatime - ext4 /dev/nvme2n1p1 rw\n40 26 253:0 / /var/lib/k0s rw,noatime - xfs /dev/mapper/castai--edge-k0s rw,attr2,inode64\n`,
  );
  h.setFile('/sys/dev/block/253:0/dm/name', 'castai--edge-k0s\n');
  h.setFile('/sys/dev/block/253:0/dm/uuid', 'LVM-abcdefabcdefabcdefabcdefabcdefab\n');
  h.dirs.set('/sys/dev/block/253:0/slaves/nvme0n1', 0o755);
  h.dirs.set('/sys/dev/block/253:0/slaves/nvme1n1', 0o755);
  h.setFile(d.unitPath, renderMountUnit(d, UUID));
  h.setFile(wantsLink(d.unitName), '');
  return { h, d };
}

describe('storage steady state from /proc and /sys (no process)', () => {
  it('holds on a mounted LV over exactly the recorded disks; the partitioned root NVMe does not disturb it; nothing is spawned', async () => {
    const { h, d } = steadyHost();
    expect(await steadyStorage(h, d)).toEqual({ ok: true });
    const r = await runStorageStep(h, {}, STATE_DIR, undefined, { quick: true });
    expect(r.plan.actions).toEqual([]);
    expect(r.changed).toBe(false);
    expect(h.execLines()).toEqual([]);
    expect(h.mutations()).toEqual([]);
  });

  it('dmName doubles dashes like LVM', () => {
    expect(dmName('castai-edge', 'k0s')).toBe('castai--edge-k0s');
    expect(dmName('vg', 'my-lv')).toBe('vg-my--lv');
  });

  const cases: Array<[string, (h: FakeHost, d: ReturnType<typeof desiredFromConfig>) => void, RegExp]> = [
    ['a new blank NVMe disk (auto-discovery must decide)', (h) => h.dirs.set('/sys/block/nvme3n1', 0o755), /new NVMe disk nvme3n1/],
    ['a recorded disk is gone', (h) => h.dirs.delete('/sys/block/nvme1n1'), /recorded disk is gone/],
    ['not mounted', (h) => h.setFile('/proc/self/mountinfo', '26 1 259:1 / / rw - ext4 /dev/nvme2n1p1 rw\n'), /not mounted as xfs/],
    ['mounted from something else', (h) => h.setFile('/sys/dev/block/253:0/dm/name', 'other-vol\n'), /not mounted from our LV/],
    ['a PV missing under the LV', (h) => h.dirs.delete('/sys/dev/block/253:0/slaves/nvme1n1'), /sits on nvme0n1, not on the recorded disks/],
    ['the unit edited', (h, d) => h.setFile(d.unitPath, 'edited'), /mount unit differs/],
    ['the unit disabled', (h, d) => void h.files.delete(wantsLink(d.unitName)), /not enabled/],
    ['state still "creating" (a crash mid-apply)', (h, d) => h.setFile(d.stateFile, h.files.get(d.stateFile)!.data.replace('"ready"', '"creating"')), /not ready/],
    ['state unreadable', (h, d) => h.setFile(d.stateFile, '{'), /not JSON/],
  ];
  for (const [what, change, reason] of cases) {
    it(`falls back to the full inspect when ${what}`, async () => {
      const { h, d } = steadyHost();
      change(h, d);
      const r = await steadyStorage(h, d);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toMatch(reason);
    });
  }

  it('NVME_DEVICES: must list exactly the recorded disks', async () => {
    const { h } = steadyHost();
    expect(await steadyStorage(h, desiredFromConfig({ stateDir: STATE_DIR, nvmeDevices: ['/dev/nvme1n1', '/dev/nvme0n1'] }))).toEqual({ ok: true });
    const r = await steadyStorage(h, desiredFromConfig({ stateDir: STATE_DIR, nvmeDevices: ['/dev/nvme0n1'] }));
    expect(!r.ok && r.reason).toMatch(/NVME_DEVICES differs/);
  });

  it('when the check fails, the full inspect -> plan runs (the simulator has no /sys): same result as before', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, {}, STATE_DIR);
    sim.host.calls.length = 0;
    const r = await runStorageStep(sim.host, {}, STATE_DIR, undefined, { quick: true });
    expect(r.plan.actions).toEqual([]);
    expect(sim.host.execLines().map((l) => l.split(' ')[0])).toEqual(['lsblk', 'pvs', 'vgs', 'lvs']);
  });
});
