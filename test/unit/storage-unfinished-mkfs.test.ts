/**
 * A crash INSIDE mkfs.xfs (found by the VM disk-safety e2e, test/e2e/disk-safety.test.ts):
 * mkfs.xfs writes its first superblock with sb_inprogress set and clears it last, so a reset or
 * kill -9 midway leaves a signature blkid reports as xfs, which the kernel refuses to mount
 * ("Offline file system operation in progress!"). The agent used to keep that "xfs", write the
 * unit and fail at `systemctl enable --now` on every later pass: it never converged.
 *
 * Now, while our build is unfinished (state phase "creating") and our LV is not mounted, apply
 * checks the superblock (xfs_db -r) and makes only such an unfinished xfs again. Anything else
 * on the LV is kept as before.
 *
 * Runs the real storage code on the simulated storage host (test/fixtures/storage/sim.ts, a
 * FakeHost), with mkfs.xfs, xfs_db and the mount scripted to behave like the real tools.
 */
import { describe, expect, test } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { READ_ONLY_COMMANDS } from '../../agent/storage/inspect.ts';
import { planStorageStep, runStorageStep } from '../../agent/storage/index.ts';
import type { StorageState } from '../../agent/storage/types.ts';
import { StorageSim } from '../fixtures/storage/sim.ts';
import { DEFAULT_STATE_DIR, STORAGE_STATE_FILE } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;
const STATE = `${STATE_DIR}/${STORAGE_STATE_FILE}`;
const UNIT = '/etc/systemd/system/var-lib-k0s.mount';
const LV = '/dev/castai-edge/k0s';
const XFS_DB = `xfs_db -r -c sb 0 -c p inprogress ${LV}`;

/** Mutating calls as lines (mkdir of parent directories left out: FakeHost records one per first write). */
const mutatingLines = (sim: StorageSim) =>
  sim.host
    .mutations(READ_ONLY_COMMANDS)
    .filter((c) => c.kind !== 'mkdir')
    .map((c) => (c.kind === 'exec' ? [c.cmd, ...c.args].join(' ') : c.kind === 'write' ? `write ${c.path}` : `${c.kind} ${'path' in c ? c.path : ''}`));
const state = (sim: StorageSim) => JSON.parse(sim.host.files.get(STATE)!.data) as StorageState;

/**
 * The storage sim plus an xfs that knows whether its mkfs finished:
 *  - mkfs.xfs with `crashNext` set writes the superblock (sb_inprogress = 1) and dies (exit 137);
 *  - xfs_db -r ... 'p inprogress' prints the flag;
 *  - `systemctl enable --now` of a unit whose filesystem is unfinished fails like systemd does.
 */
function simWithXfs(opts: { xfsDb?: boolean } = {}) {
  const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
  const unfinished = new Set<string>();
  let n = 0;
  const ctl = { crashNext: false };
  const lvOf = (dev: string) => sim.lvs.find((l) => `/dev/${l.vg}/${l.name}` === dev);
  sim.host.onExec('mkfs.xfs', (args) => {
    const lv = lvOf(args[args.length - 1]!);
    if (!lv?.active) return { exitCode: 1, stderr: 'mkfs.xfs: cannot open: No such file or directory' };
    if (lv.fs && !args.includes('-f')) return { exitCode: 1, stderr: `mkfs.xfs: appears to contain an existing filesystem (${lv.fs.type}).` };
    const uuid = `7a1e0000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
    lv.fs = { type: 'xfs', uuid };
    if (ctl.crashNext) {
      ctl.crashNext = false;
      unfinished.add(uuid);
      return { exitCode: 137, stderr: 'Killed' };
    }
    return { exitCode: 0, stdout: 'meta-data=... agcount=4\n' };
  });
  if (opts.xfsDb !== false)
    sim.host.onExec('xfs_db', (args) => {
      const lv = lvOf(args[args.length - 1]!);
      if (!lv?.fs || lv.fs.type !== 'xfs') return { exitCode: 1, stderr: 'xfs_db: not an XFS filesystem' };
      return { exitCode: 0, stdout: `inprogress = ${unfinished.has(lv.fs.uuid) ? 1 : 0}\n` };
    });
  sim.host.onExec(
    (cmd, args) => cmd === 'systemctl' && args.includes('--now') && args[0] === 'enable' && sim.lvs.some((l) => l.fs && unfinished.has(l.fs.uuid)),
    { exitCode: 1, stderr: 'Job for var-lib-k0s.mount failed. See "systemctl status var-lib-k0s.mount" and "journalctl -xeu var-lib-k0s.mount" for details.' },
  );
  return { sim, unfinished, ctl };
}

async function failsWith(p: Promise<unknown>): Promise<AgentError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AgentError);
  return e as AgentError;
}

describe('crash inside mkfs.xfs, then a reboot: the next pass converges', () => {
  test('the unfinished xfs of our interrupted build is made again (mkfs.xfs -f), mounted, recorded; then a no-op', async () => {
    const { sim, unfinished, ctl } = simWithXfs();
    ctl.crashNext = true;
    const e = await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    expect(e.message).toMatch(/mkfs\.xfs -K -L castai-k0s \/dev\/castai-edge\/k0s` failed \(exit 137/);
    expect(state(sim).phase).toBe('creating');
    const halfUuid = sim.lvs[0]!.fs!.uuid;
    expect(unfinished.has(halfUuid)).toBe(true);

    sim.reboot(); // LVM autoactivation: the LV is active, blkid sees "xfs", nothing is mounted
    const { plan } = await planStorageStep(sim.host, {}, STATE_DIR);
    expect(plan.refused).toBe(false);
    const mkfs = plan.actions.find((a) => a.kind === 'storage.mkfs')!;
    expect(mkfs).toMatchObject({ checkUnfinished: true, probeFirst: true });
    expect(mkfs.description).toBe(`make sure ${LV} holds a complete xfs (an unfinished one is made again); else mkfs.xfs -K -L castai-k0s ${LV}`);
    expect(plan.actions.map((a) => a.kind)).toEqual(['storage.mkfs', 'storage.mount-unit', 'storage.mount', 'storage.record']);

    const r = await runStorageStep(sim.host, {}, STATE_DIR);
    expect(r.changed).toBe(true);
    expect(mutatingLines(sim)).toEqual([
      XFS_DB,
      `mkfs.xfs -f -K -L castai-k0s ${LV}`,
      `write ${UNIT}`,
      'systemctl daemon-reload',
      'systemctl enable --now var-lib-k0s.mount',
      `write ${STATE}`,
      `write ${STATE_DIR}/storage-disks.json`, // the disk census for the steady-state check
    ]);
    const newUuid = sim.lvs[0]!.fs!.uuid;
    expect(newUuid).not.toBe(halfUuid);
    expect(sim.host.files.get(UNIT)!.data).toContain(`What=/dev/disk/by-uuid/${newUuid}`);
    expect(state(sim)).toMatchObject({ phase: 'ready', fsUuid: newUuid, devices: ['/dev/nvme1n1', '/dev/nvme2n1'], stripes: 2 });
    expect(sim.mountinfo.some((l) => l.includes(' /var/lib/k0s '))).toBe(true);
    // Same end state as an uninterrupted build: the LV was never re-created, only its filesystem.
    expect(sim.lvs).toHaveLength(1);
    expect(sim.lvs[0]).toMatchObject({ stripes: 2, tags: ['castai-edge-initd'] });

    sim.host.calls.length = 0;
    const again = await runStorageStep(sim.host, {}, STATE_DIR);
    expect(again).toMatchObject({ changed: false, summary: 'nothing to do' });
    expect(mutatingLines(sim)).toEqual([]);
  });

  test('the LV not auto-activated after the reboot: activate, then the same check', async () => {
    const { sim, ctl } = simWithXfs();
    ctl.crashNext = true;
    await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    sim.reboot({ noAutoActivate: true });
    await runStorageStep(sim.host, {}, STATE_DIR);
    expect(mutatingLines(sim).filter((l) => !l.startsWith('write'))).toEqual([
      'vgchange -ay castai-edge',
      'udevadm settle --timeout=30',
      XFS_DB,
      `mkfs.xfs -f -K -L castai-k0s ${LV}`,
      'systemctl daemon-reload',
      'systemctl enable --now var-lib-k0s.mount',
    ]);
    expect(state(sim).phase).toBe('ready');
  });

  test('crash after mkfs.xfs finished (before the mount): the complete xfs is kept, same UUID', async () => {
    const { sim } = simWithXfs();
    sim.failures.set('systemctl daemon-reload', 'killed');
    await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    sim.failures.clear();
    const uuid = sim.lvs[0]!.fs!.uuid;
    sim.reboot();
    await runStorageStep(sim.host, {}, STATE_DIR);
    const lines = mutatingLines(sim);
    expect(lines).toContain(XFS_DB);
    expect(lines.some((l) => l.startsWith('mkfs'))).toBe(false);
    expect(sim.lvs[0]!.fs!.uuid).toBe(uuid);
    expect(state(sim)).toMatchObject({ phase: 'ready', fsUuid: uuid });
  });
});

describe('data safety: nothing else is ever remade', () => {
  test('an unfinished xfs on our LV after our build was completed (state "ready") is not touched', async () => {
    const { sim, unfinished } = simWithXfs();
    await runStorageStep(sim.host, {}, STATE_DIR);
    expect(state(sim).phase).toBe('ready');
    // Not our doing (e.g. someone ran mkfs.xfs -f on it and it died): not provably ours to reformat.
    sim.mountinfo = sim.mountinfo.filter((l) => !l.includes(' /var/lib/k0s '));
    unfinished.add(sim.lvs[0]!.fs!.uuid);
    sim.host.calls.length = 0;
    const { plan } = await planStorageStep(sim.host, {}, STATE_DIR);
    expect(plan.actions.map((a) => a.kind)).toEqual(['storage.mount', 'storage.record']);
    const e = await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    expect(e.message).toMatch(/systemctl enable --now var-lib-k0s\.mount` failed/);
    expect(sim.host.execLines().some((l) => l.startsWith('mkfs') || l.startsWith('xfs_db'))).toBe(false);
  });

  test('xfs_db missing: the filesystem is kept (the mount fails loudly), never reformatted on a guess', async () => {
    const { sim, ctl } = simWithXfs({ xfsDb: false });
    ctl.crashNext = true;
    await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    sim.reboot();
    const e = await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    expect(e.message).toMatch(/enable --now/);
    expect(sim.host.execLines().filter((l) => l.startsWith('mkfs'))).toEqual([]);
  });

  test('a foreign filesystem on our LV is still refused, with or without the check', async () => {
    const { sim, ctl } = simWithXfs();
    ctl.crashNext = true;
    await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    sim.reboot();
    sim.lvs[0]!.fs = { type: 'ext4', uuid: '11111111-2222-4333-8444-555555555555' };
    const e = await failsWith(runStorageStep(sim.host, {}, STATE_DIR));
    expect(e.message).toMatch(/our LV holds a ext4 filesystem, not xfs; refusing to reformat/);
    expect(sim.host.execLines().filter((l) => l.startsWith('mkfs'))).toEqual([]);
  });
});
