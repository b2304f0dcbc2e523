/**
 * apply, idempotency, re-runs, device-set changes, instance store, crash
 * resume and teardown, through the real storage code on the simulated storage
 * host (test/fixtures/storage/sim.ts).
 */
import { describe, expect, test } from 'vitest';
import { AgentError, EXIT } from '../../agent/errors.ts';
import { READ_ONLY_COMMANDS } from '../../agent/storage/inspect.ts';
import { desiredFromConfig, planStorageStep, planTeardown, runStorageStep, teardownStorage, inspectStorage } from '../../agent/storage/index.ts';
import type { StorageState } from '../../agent/storage/types.ts';
import { StorageSim } from '../fixtures/storage/sim.ts';
import { DEFAULT_STATE_DIR, STORAGE_STATE_FILE } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;
const STATE = `${STATE_DIR}/${STORAGE_STATE_FILE}`;
const UNIT = '/etc/systemd/system/var-lib-k0s.mount';
const cfg = (devices?: string[]) => (devices ? { nvmeDevices: devices } : {});

/** Mutating commands run, as lines (reads like lsblk/wipefs/pvs are left out). */
const mutatingLines = (sim: StorageSim) =>
  sim.host
    .mutations(READ_ONLY_COMMANDS)
    .map((c) =>
      c.kind === 'exec'
        ? [c.cmd, ...c.args].join(' ')
        : c.kind === 'write'
          ? `write ${c.path} ${c.mode.toString(8)}`
          : `${c.kind} ${'path' in c ? c.path : ''}`,
    );
const state = (sim: StorageSim) => JSON.parse(sim.host.files.get(STATE)!.data) as StorageState;

async function refusal(p: Promise<unknown>): Promise<AgentError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AgentError);
  return e as AgentError;
}

describe('create', () => {
  test('two NVMe disks: exact commands for a 2-stripe LV, xfs, mount unit, state', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.changed).toBe(true);
    const uuid = sim.lvs[0]!.fs!.uuid;
    expect(mutatingLines(sim)).toEqual([
      `mkdir ${STATE_DIR}`,
      `write ${STATE} 600`, // intent, before any disk is touched
      'udevadm settle --timeout=30',
      'pvcreate /dev/nvme1n1',
      'pvcreate /dev/nvme2n1',
      'vgcreate --addtag castai-edge-initd castai-edge /dev/nvme1n1 /dev/nvme2n1',
      // 2 x 915527 extents: floor((3.84e12 - 1 MiB pe_start) / 4 MiB) per disk
      'lvcreate --yes --wipesignatures y --addtag castai-edge-initd --name k0s -i 2 -I 256k -l 1831054 castai-edge',
      'udevadm settle --timeout=30',
      'mkfs.xfs -K -L castai-k0s /dev/castai-edge/k0s',
      `mkdir /etc/systemd/system`,
      `write ${UNIT} 644`,
      'systemctl daemon-reload',
      'systemctl enable --now var-lib-k0s.mount',
      `write ${STATE} 600`,
      `write ${STATE_DIR}/storage-disks.json 600`, // the disk census for the steady-state check (no other NVMe disk here)
    ]);
    expect(sim.lvs[0]).toMatchObject({ stripes: 2, devices: ['/dev/nvme1n1', '/dev/nvme2n1'], tags: ['castai-edge-initd'] });
    expect(sim.host.files.get(UNIT)!.data).toContain(`What=/dev/disk/by-uuid/${uuid}`);
    expect(state(sim)).toMatchObject({
      version: 1,
      phase: 'ready',
      vgName: 'castai-edge',
      lvName: 'k0s',
      devices: ['/dev/nvme1n1', '/dev/nvme2n1'],
      stripes: 2,
      fsUuid: uuid,
    });
    expect(state(sim).deviceInfo!.map((x) => x.serial)).toEqual(['S64HNE0T500001', 'S64HNE0T500002']);
    expect(sim.mountinfo.some((l) => l.includes(' /var/lib/k0s '))).toBe(true);
  });

  test('NVME_DEVICES with one disk: a linear LV on that disk only', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(['/dev/nvme2n1']), STATE_DIR);
    const cmds = mutatingLines(sim).filter((l) => /^(pv|vg|lv)create/.test(l));
    expect(cmds).toEqual([
      'pvcreate /dev/nvme2n1',
      'vgcreate --addtag castai-edge-initd castai-edge /dev/nvme2n1',
      'lvcreate --yes --wipesignatures y --addtag castai-edge-initd --name k0s -l 915527 castai-edge',
    ]);
    expect(sim.lvs[0]).toMatchObject({ stripes: 1, devices: ['/dev/nvme2n1'] });
    expect(sim.host.execLines().some((l) => l.includes('nvme1n1') && !/^(wipefs|blkid)/.test(l))).toBe(false);
  });

  test('plan --json carries device, size, action, reason and the argv', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    const { plan } = await planStorageStep(sim.host, cfg(), STATE_DIR);
    const lv = plan.actions.find((a) => a.kind === 'storage.lvcreate')!;
    // The LV's real size (what lvs reports), not the disks' sum: 2 x 915527 extents of 4 MiB.
    expect(lv).toMatchObject({ device: '/dev/castai-edge/k0s', sizeBytes: 1831054 * 4 * 1024 ** 2 });
    expect(lv.commands![0]).toEqual([
      'lvcreate',
      '--yes',
      '--wipesignatures',
      'y',
      '--addtag',
      'castai-edge-initd',
      '--name',
      'k0s',
      '-i',
      '2',
      '-I',
      '256k',
      '-l',
      '1831054',
      'castai-edge',
    ]);
    expect((JSON.parse(JSON.stringify(plan)) as typeof plan).actions.length).toBe(plan.actions.length);
    expect(sim.host.mutations(READ_ONLY_COMMANDS)).toEqual([]); // plan changes nothing
  });
});

describe('re-runs are idempotent', () => {
  async function made(devices?: string[]) {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(devices), STATE_DIR);
    sim.host.calls.length = 0;
    return sim;
  }

  test('second run: plan is empty, nothing mutating runs', async () => {
    const sim = await made();
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions).toEqual([]);
    expect(r.summary).toBe('nothing to do');
    expect(r.changed).toBe(false);
    expect(mutatingLines(sim)).toEqual([]);
    // no-op inspect does not probe our own PVs, nor blkid the LV the kernel shows mounted as xfs
    expect(sim.host.execLines().map((l) => l.split(' ')[0])).toEqual(['lsblk', 'pvs', 'vgs', 'lvs']);
  });

  test('a damaged fsUuid in the state file is not trusted: blkid probes the LV (found by the plan.storage fuzzer)', async () => {
    const sim = await made();
    const st = JSON.parse(sim.host.files.get(STATE)!.data) as Record<string, unknown>;
    for (const bad of [{}, 36, '*t\'', '"5e1f0000-0000-4000-8000-000000000001"']) {
      sim.host.setFile(STATE, JSON.stringify({ ...st, fsUuid: bad }), 0o600);
      sim.host.calls.length = 0;
      const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
      expect(r.plan.refused).toBe(false);
      expect(sim.host.execLines()).toContain('blkid -p -o export /dev/castai-edge/k0s');
    }
  });

  test('our LV not mounted: blkid probes it (the state file alone is not trusted)', async () => {
    const sim = await made();
    sim.mountinfo = sim.mountinfo.filter((l) => !l.includes(' /var/lib/k0s '));
    sim.host.calls.length = 0;
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions.map((a) => a.kind)).toEqual(['storage.mount', 'storage.record']);
    // inspect probes it (and apply reads the UUID again for the record)
    expect(sim.host.execLines().slice(0, 5)).toEqual(['lsblk -J -b -o NAME,KNAME,PATH,MAJ:MIN,TYPE,TRAN,MODEL,SERIAL,SIZE,RO,MOUNTPOINTS,FSTYPE,PKNAME', expect.stringMatching(/^pvs /), expect.stringMatching(/^vgs /), expect.stringMatching(/^lvs /), 'blkid -p -o export /dev/castai-edge/k0s']);
  });

  test('same with NVME_DEVICES listing the same disks in another order', async () => {
    const sim = await made(['/dev/nvme1n1', '/dev/nvme2n1']);
    const r = await runStorageStep(sim.host, cfg(['/dev/nvme2n1', '/dev/nvme1n1']), STATE_DIR);
    expect(r.plan.actions).toEqual([]);
    expect(mutatingLines(sim)).toEqual([]);
  });

  test('reboot (LVM autoactivation + enabled unit): no-op', async () => {
    const sim = await made();
    sim.reboot();
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions).toEqual([]);
  });

  test('our VG exists but is inactive and unmounted: only activate and mount, never rebuild', async () => {
    const sim = await made();
    const uuid = sim.lvs[0]!.fs!.uuid;
    sim.reboot({ noAutoActivate: true });
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions.map((a) => a.kind)).toEqual(['storage.activate', 'storage.mkfs', 'storage.mount-unit', 'storage.mount', 'storage.record']);
    expect(mutatingLines(sim)).toEqual([
      'vgchange -ay castai-edge',
      'udevadm settle --timeout=30',
      'systemctl daemon-reload',
      'systemctl enable --now var-lib-k0s.mount',
      `write ${STATE} 600`,
    ]);
    expect(sim.lvs[0]!.fs!.uuid).toBe(uuid); // same filesystem; the mkfs action only probed
    expect((await runStorageStep(sim.host, cfg(), STATE_DIR)).plan.actions).toEqual([]);
  });

  test('unmounted by hand: mount only', async () => {
    const sim = await made();
    sim.mountinfo = sim.mountinfo.filter((l) => !l.includes('/var/lib/k0s'));
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions.map((a) => a.kind)).toEqual(['storage.mount', 'storage.record']);
    expect(mutatingLines(sim)).toEqual(['systemctl daemon-reload', 'systemctl enable --now var-lib-k0s.mount', `write ${STATE} 600`]);
  });

  test('unit file edited by hand: rewritten and re-enabled', async () => {
    const sim = await made();
    sim.host.setFile(UNIT, sim.host.files.get(UNIT)!.data.replace('noatime', 'relatime'));
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions.map((a) => a.kind)).toEqual(['storage.mount-unit', 'storage.mount', 'storage.record']);
    expect(sim.host.files.get(UNIT)!.data).toContain('Options=noatime');
  });

  test('state file lost: our VG is recognised by its tag, state recorded again, nothing else', async () => {
    const sim = await made();
    sim.host.files.delete(STATE);
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions.map((a) => a.kind)).toEqual(['storage.record']);
    expect(state(sim).devices).toEqual(['/dev/nvme1n1', '/dev/nvme2n1']);
  });

  test('auto mode: a new blank NVMe disk is not added to the existing VG (note only)', async () => {
    const sim = await made();
    sim.disks.push(StorageSim.nvme(3));
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions).toEqual([]);
    expect(r.plan.notes.join()).toMatch(/blank NVMe disk \/dev\/nvme3n1 not added: the existing volume group castai-edge \(\/dev\/nvme1n1, \/dev\/nvme2n1\) is never changed/);
  });
});

describe('device set changed: refuse and explain, never rebuild silently', () => {
  test('NVME_DEVICES shrinks from two disks to one', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(['/dev/nvme1n1', '/dev/nvme2n1']), STATE_DIR);
    sim.host.calls.length = 0;
    const e = await refusal(runStorageStep(sim.host, cfg(['/dev/nvme1n1']), STATE_DIR));
    expect(e.exitCode).toBe(EXIT.CONFIG);
    expect(e.message).toMatch(/NVME_DEVICES \(\/dev\/nvme1n1\) differs from the disks of our existing volume group castai-edge \(\/dev\/nvme1n1, \/dev\/nvme2n1\)/);
    expect(e.message).toMatch(/NVME_DEVICES="\/dev\/nvme1n1 \/dev\/nvme2n1"/);
    expect(mutatingLines(sim)).toEqual([]);
  });

  test('VG gone and NVME_DEVICES now names other disks than recorded', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2), StorageSim.nvme(3)]);
    await runStorageStep(sim.host, cfg(['/dev/nvme1n1', '/dev/nvme2n1']), STATE_DIR);
    sim.instanceStoreWipe();
    const e = await refusal(runStorageStep(sim.host, cfg(['/dev/nvme1n1', '/dev/nvme3n1']), STATE_DIR));
    expect(e.message).toMatch(/records volume group castai-edge on \/dev\/nvme1n1, \/dev\/nvme2n1 .* but NVME_DEVICES now lists \/dev\/nvme1n1, \/dev\/nvme3n1/);
    expect(mutatingLines(sim)).toEqual([]);
  });

  test('partial VG (a disk vanished): refused', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    sim.host.calls.length = 0;
    sim.vgs.get('castai-edge')!.missingPv = true;
    const e = await refusal(runStorageStep(sim.host, cfg(), STATE_DIR));
    expect(e.message).toMatch(/our volume group castai-edge is missing a disk \(partial/);
    expect(mutatingLines(sim)).toEqual([]);
  });
});

describe('instance store came back empty after stop/start', () => {
  test('exactly the recorded disks, blank, VG gone: rebuilt', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    const oldUuid = state(sim).fsUuid;
    const created = state(sim).createdAt;
    sim.instanceStoreWipe();
    const { plan } = await planStorageStep(sim.host, cfg(), STATE_DIR);
    expect(plan.summary).toMatch(/^rebuild 2-stripe LV castai-edge\/k0s on \/dev\/nvme1n1, \/dev\/nvme2n1/);
    expect(plan.actions.find((a) => a.kind === 'storage.pvcreate')!.reason).toMatch(/instance store after stop\/start/);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(sim.lvs[0]).toMatchObject({ stripes: 2 });
    expect(state(sim).fsUuid).not.toBe(oldUuid);
    expect(state(sim).createdAt).toBe(created); // same recorded set
    expect(sim.host.files.get(UNIT)!.data).toContain(state(sim).fsUuid!);
  });

  test('a recorded disk now holds someone else\'s filesystem: refused, nothing touched', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    sim.instanceStoreWipe();
    sim.disk('nvme2n1').sig = 'ext4';
    const e = await refusal(runStorageStep(sim.host, cfg(), STATE_DIR));
    expect(e.message).toMatch(/\/dev\/nvme2n1: ext4 filesystem signature/);
    expect(mutatingLines(sim)).toEqual([]);
  });
});

describe('crash mid-way: the next run resumes', () => {
  test('after pvcreate, before vgcreate: our recorded orphan PVs are recognised', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    sim.failures.set('vgcreate', '  Device /dev/nvme2n1 excluded: device is busy.');
    const e = await refusal(runStorageStep(sim.host, cfg(), STATE_DIR));
    expect(e.message).toMatch(/vgcreate .* failed \(exit 5: +Device \/dev\/nvme2n1 excluded: device is busy/);
    expect(e.remediation).toMatch(/busy/);
    expect(state(sim).phase).toBe('creating');
    sim.failures.clear();
    sim.host.calls.length = 0;
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    const lines = mutatingLines(sim);
    expect(lines.some((l) => l.startsWith('pvcreate'))).toBe(false);
    expect(lines).toContain('vgcreate --addtag castai-edge-initd castai-edge /dev/nvme1n1 /dev/nvme2n1');
    expect(state(sim).phase).toBe('ready');
  });

  test('after lvcreate, before mkfs: mkfs + mount, no second lvcreate', async () => {
    const sim = new StorageSim([StorageSim.nvme(1)]);
    sim.failures.set('mkfs.xfs', 'mkfs.xfs: killed');
    await refusal(runStorageStep(sim.host, cfg(), STATE_DIR));
    sim.failures.clear();
    sim.host.calls.length = 0;
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(mutatingLines(sim).filter((l) => !l.startsWith('write') && !l.startsWith('mkdir'))).toEqual([
      'mkfs.xfs -K -L castai-k0s /dev/castai-edge/k0s',
      'systemctl daemon-reload',
      'systemctl enable --now var-lib-k0s.mount',
    ]);
  });

  test('after vgcreate, before lvcreate: lvcreate onwards', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    sim.failures.set('lvcreate', '  Device or resource busy');
    await refusal(runStorageStep(sim.host, cfg(), STATE_DIR));
    sim.failures.clear();
    sim.host.calls.length = 0;
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(mutatingLines(sim)[0]).toBe('lvcreate --yes --wipesignatures y --addtag castai-edge-initd --name k0s -i 2 -I 256k -l 1831054 castai-edge');
  });

  test('our LV holding a non-xfs filesystem is never reformatted', async () => {
    const sim = new StorageSim([StorageSim.nvme(1)]);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    // someone unmounted it and made an ext4 on it
    sim.mountinfo = sim.mountinfo.filter((l) => !l.includes(' /var/lib/k0s '));
    sim.lvs[0]!.fs = { type: 'ext4', uuid: '11111111-2222-4333-8444-555555555555' };
    sim.host.calls.length = 0;
    const e = await refusal(runStorageStep(sim.host, cfg(), STATE_DIR));
    expect(e.message).toMatch(/our LV holds a ext4 filesystem, not xfs; refusing to reformat/);
    expect(mutatingLines(sim)).toEqual([]);
  });
});

describe('teardown (reset)', () => {
  const d = desiredFromConfig({ stateDir: STATE_DIR });
  async function made() {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    await runStorageStep(sim.host, cfg(), STATE_DIR);
    sim.host.calls.length = 0;
    return sim;
  }

  test('unmount first, then remove the unit, then deactivate; the VG and state are kept', async () => {
    const sim = await made();
    await teardownStorage(sim.host, d, { removeVolumeGroup: false });
    expect(mutatingLines(sim)).toEqual(['systemctl disable --now var-lib-k0s.mount', `remove ${UNIT}`, 'systemctl daemon-reload', 'vgchange -an castai-edge']);
    expect(sim.mountinfo.some((l) => l.includes('/var/lib/k0s'))).toBe(false);
    expect(sim.vgs.has('castai-edge')).toBe(true);
    expect(sim.host.files.has(STATE)).toBe(true);
    // the next run activates and mounts the kept volume again
    sim.host.calls.length = 0;
    const r = await runStorageStep(sim.host, cfg(), STATE_DIR);
    expect(r.plan.actions.map((a) => a.kind)).toEqual(['storage.activate', 'storage.mkfs', 'storage.mount-unit', 'storage.mount', 'storage.record']);
  });

  test('--remove-volume-group: then lvremove, vgremove, pvremove of our PVs, forget the state', async () => {
    const sim = await made();
    await teardownStorage(sim.host, d, { removeVolumeGroup: true });
    expect(mutatingLines(sim)).toEqual([
      'systemctl disable --now var-lib-k0s.mount',
      `remove ${UNIT}`,
      'systemctl daemon-reload',
      'vgchange -an castai-edge',
      'lvremove --yes castai-edge/k0s',
      'vgremove --yes castai-edge',
      'pvremove --yes /dev/nvme1n1 /dev/nvme2n1',
      `remove ${STATE}`,
      `remove ${STATE_DIR}/storage-disks.json`,
    ]);
    expect(sim.pvs.size).toBe(0);
    // and the disks are blank again: a fresh run creates from scratch
    sim.host.calls.length = 0;
    expect((await planStorageStep(sim.host, cfg(), STATE_DIR)).plan.summary).toMatch(/^create 2-stripe/);
  });

  test('busy mount: stops before removing anything', async () => {
    const sim = await made();
    sim.busy = true;
    const e = await refusal(teardownStorage(sim.host, d, { removeVolumeGroup: true }));
    expect(e.message).toMatch(/\/var\/lib\/k0s is still mounted \(busy\); stopped before removing anything/);
    expect(e.remediation).toMatch(/systemctl stop k0sworker/);
    expect(mutatingLines(sim)).toEqual(['systemctl disable --now var-lib-k0s.mount', 'umount /var/lib/k0s']);
    expect(sim.host.files.has(UNIT)).toBe(true);
    expect(sim.vgs.has('castai-edge')).toBe(true);
  });

  test('never touches a VG without our tag, never deletes recursively', async () => {
    const sim = new StorageSim([StorageSim.nvme(1)]);
    sim.pvs.set('/dev/nvme1n1', { vg: 'data', uuid: 'x' });
    sim.vgs.set('data', { name: 'data', tags: [] });
    const r = await teardownStorage(sim.host, d, { removeVolumeGroup: true });
    expect(r.plan.actions).toEqual([]);
    expect(mutatingLines(sim)).toEqual([]);
    const p = planTeardown(d, await inspectStorage(sim.host, d), { removeVolumeGroup: true });
    expect(JSON.stringify(p)).not.toMatch(/rm -rf|--recursive/);
  });

  test('refuses to remove our VG when it holds LVs we did not make: a typed refusal in the plan, and nothing of storage changes', async () => {
    const sim = await made();
    sim.lvs.push({ vg: 'castai-edge', name: 'extra', stripes: 1, devices: ['/dev/nvme1n1'], tags: [], active: false, majMin: '253:9', size: 1 });
    const p = planTeardown(d, await inspectStorage(sim.host, d), { removeVolumeGroup: true });
    expect(p).toMatchObject({ outcome: 'refused', message: expect.stringMatching(/also holds LVs we did not make \(extra\); nothing of storage was changed/) });
    const e = await refusal(teardownStorage(sim.host, d, { removeVolumeGroup: true }));
    expect(e.message).toMatch(/also holds LVs we did not make \(extra\)/);
    expect(e.remediation).toMatch(/lvremove castai-edge\/<lv>/);
    expect(mutatingLines(sim)).toEqual([]);
    expect(sim.mountinfo.some((l) => l.includes('/var/lib/k0s'))).toBe(true);
    // without --remove-volume-group the same host tears down as usual (the VG is kept)
    await teardownStorage(sim.host, d, { removeVolumeGroup: false });
    expect(mutatingLines(sim)).toEqual(['systemctl disable --now var-lib-k0s.mount', `remove ${UNIT}`, 'systemctl daemon-reload', 'vgchange -an castai-edge']);
  });
});

describe('the reconcile Step (agent/reconcile/steps/storage.ts, the generic adapter)', () => {
  test('plan gives operator rows + text; run reports done, then nothing to do', async () => {
    const { storageStep: stepOfStorage } = await import('../../agent/reconcile/steps/storage.ts');
    const storageStep = stepOfStorage();
    const { StateStore } = await import('../../agent/state/store.ts');
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    const logged: string[] = [];
    const ctx = {
      host: sim.host,
      cfg: { nvmeDevices: undefined, stateDir: STATE_DIR } as unknown as import('../../agent/config/types.ts').AgentConfig,
      store: new StateStore(sim.host, STATE_DIR),
      log: { info: (_o: unknown, m: string) => logged.push(m) } as unknown as import('pino').Logger,
      signal: new AbortController().signal,
      shared: { extraLabels: {} },
    };
    const p = await storageStep.plan(ctx);
    expect(p.step).toBe('storage');
    expect(p.summary).toMatch(/^create 2-stripe LV/);
    expect((p.details as { text: string }).text).toMatch(/^storage: create 2-stripe/);
    expect((p.details as { rows: Array<{ action: string }> }).rows.map((r) => r.action)).toContain('lvcreate');
    const r = await storageStep.run(ctx);
    expect(r).toMatchObject({ state: 'done', changed: true });
    expect(logged.some((l) => l.startsWith('storage: pvcreate /dev/nvme1n1'))).toBe(true);
    expect(await storageStep.run(ctx)).toEqual({ state: 'done', summary: 'nothing to do', changed: false });
  });
});
