/**
 * NVMe storage in the VM lab (issue 5): the REAL storage step (agent/storage,
 * RealHost) runs inside a real Debian 12 guest (kernel 6.1, systemd, udev,
 * device-mapper, lvm2, xfsprogs) against four emulated NVMe disks:
 *   nvme0n1, nvme1n1  blank
 *   nvme2n1           ext4 with a file on it (made in the guest)
 *   nvme3n1           GPT with one partition (made with sgdisk on the host, written with dd)
 * The step is driven by test/e2e/storage-guest.ts, bundled here with esbuild
 * into one file and run by the pinned Node copied into the guest (see that
 * file for why not the SEA binary yet).
 *
 * Proves: refusals name the device and the signature and leave the first
 * 16 MiB of every disk byte-identical; 2 disks -> a 2-stripe LV, xfs, mounted
 * at /var/lib/k0s; a re-run is a no-op; teardown; NVME_DEVICES with one disk
 * -> a linear LV on that disk only; a changed device set is refused; after a
 * reboot the mount is back from systemd alone (before any agent runs), ordered
 * before k0sworker, and the next run is a no-op. The reboot is last: under TCG
 * on a loaded machine it is the slowest step.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, REPO_ROOT, type Vm } from './lab.ts';

const DISK_BYTES = 1024 ** 3;
const NODE_IN_GUEST = '/usr/local/bin/node';
const DRIVER = '/root/storage-guest.mjs';

/** One ESM file: loading the repo's module tree over 9p under TCG takes minutes, one file takes a moment. */
async function bundleDriver(out: string): Promise<void> {
  await esbuild.build({
    absWorkingDir: REPO_ROOT,
    entryPoints: ['test/e2e/storage-guest.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: out,
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

let lab: Lab;
let vm: Vm;
let tmp: string;
const hashes: Record<string, string> = {};

interface DriverOut {
  ok: boolean;
  ms: number;
  summary?: string;
  changed?: boolean;
  refused?: boolean;
  kinds?: string[];
  notes?: string[];
  message?: string;
  exitCode?: number;
  timings?: { inspectPlanMs: number; applyMs: number };
  ran?: string[];
}

/** Run the storage step in the guest. `devices` = NVME_DEVICES (undefined: unset). */
async function step(cmd: 'plan' | 'run' | 'teardown', devices?: string, extra = ''): Promise<DriverOut & { code: number }> {
  const r = await vm.exec(`${devices !== undefined ? `NVME_DEVICES=${JSON.stringify(devices)} ` : ''}${NODE_IN_GUEST} ${DRIVER} ${cmd} ${extra}`, {
    timeoutMs: 300_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let parsed: DriverOut;
  try {
    parsed = JSON.parse(line) as DriverOut;
  } catch {
    throw new Error(`storage-guest ${cmd}: no JSON (exit ${r.exitCode})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { ...parsed, code: r.exitCode };
}

const first16MiB = (dev: string) => vm.sh(`head -c 16M ${dev} | sha256sum | cut -d' ' -f1`).then((s) => s.trim());
const lvmField = (fields: string, what = 'castai-edge/k0s') =>
  vm.sh(`LVM_SUPPRESS_FD_WARNINGS=1 lvs --noheadings --separator '|' -o ${fields} ${what}`).then((s) => s.trim());

/** The first and the last MiB of a GPT-partitioned disk of DISK_BYTES, made with sgdisk on the host. */
function gptPieces(): void {
  const img = path.join(tmp, 'gpt.img');
  fs.closeSync(fs.openSync(img, 'w'));
  fs.truncateSync(img, DISK_BYTES);
  execFileSync('sgdisk', ['-n', '1:0:+64M', '-t', '1:8300', '-c', '1:olddata', img], { stdio: 'ignore' });
  const fd = fs.openSync(img, 'r');
  for (const [name, pos] of [['gpt-head.bin', 0], ['gpt-tail.bin', DISK_BYTES - 1024 ** 2]] as const) {
    const b = Buffer.alloc(1024 ** 2);
    fs.readSync(fd, b, 0, b.length, pos);
    vm.putFile(b, name);
  }
  fs.closeSync(fd);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-e2e-'));
  lab = await Lab.create({ name: 'storage', network: false });
  vm = (
    await lab.boot([
      {
        name: 'stor1',
        disks: [0, 1, 2, 3].map((i) => ({ sizeBytes: DISK_BYTES, serial: `EDGE-NVME-${i}` })),
      },
    ])
  )[0]!;
  gptPieces();
  await bundleDriver(path.join(tmp, 'storage-guest.mjs'));
  vm.putFile(path.join(tmp, 'storage-guest.mjs'), 'storage-guest.mjs');
  vm.putFile(process.execPath, 'node', 0o755); // the pinned Node (tests run under it)
  await vm.sh(
    [
      'set -e',
      `install -m 0755 /mnt/lab/node ${NODE_IN_GUEST}`,
      `install -m 0644 /mnt/lab/storage-guest.mjs ${DRIVER}`,
      'mkfs.ext4 -q -L olddata /dev/nvme2n1',
      'mkdir -p /mnt/old && mount /dev/nvme2n1 /mnt/old && echo precious > /mnt/old/file && umount /mnt/old',
      'dd if=/mnt/lab/gpt-head.bin of=/dev/nvme3n1 bs=1M count=1 conv=fsync status=none',
      `dd if=/mnt/lab/gpt-tail.bin of=/dev/nvme3n1 bs=1M seek=${DISK_BYTES / 1024 ** 2 - 1} count=1 conv=fsync status=none`,
      'udevadm settle; partx -u /dev/nvme3n1 || true; udevadm settle',
      'test -b /dev/nvme3n1p1',
    ].join('\n'),
    { timeoutMs: 120_000 },
  );
  for (const d of ['nvme0n1', 'nvme1n1', 'nvme2n1', 'nvme3n1']) hashes[d] = await first16MiB(`/dev/${d}`);
}, 900_000);

afterAll(async () => {
  await lab?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('storage in the VM lab (real NVMe, LVM, xfs, systemd)', () => {
  it('refuses an ext4 disk with a file and a GPT disk, naming device and signature; not one byte changes', async () => {
    const ext4 = await step('run', '/dev/nvme0n1 /dev/nvme2n1');
    expect(ext4).toMatchObject({ ok: false, code: 2, exitCode: 2 });
    expect(ext4.message).toMatch(/\/dev\/nvme2n1: ext4 filesystem signature \(offset 0x438, UUID [0-9a-f-]+, label "olddata"\)/);
    expect(ext4.message).toMatch(/nothing was changed/);
    expect(ext4.message).not.toMatch(/\/dev\/nvme0n1:/);

    const gpt = await step('run', '/dev/nvme3n1');
    expect(gpt).toMatchObject({ ok: false, code: 2 });
    expect(gpt.message).toMatch(/\/dev\/nvme3n1: has 1 partition \(\/dev\/nvme3n1p1\); partition table signature \(gpt, PMBR\)/);

    for (const d of ['nvme0n1', 'nvme1n1', 'nvme2n1', 'nvme3n1']) expect(await first16MiB(`/dev/${d}`), d).toBe(hashes[d]);
    expect((await vm.sh('LVM_SUPPRESS_FD_WARNINGS=1 pvs --noheadings -o pv_name')).trim()).toBe('');
    expect((await vm.exec('test -e /var/lib/castai-edge-initd/storage.json')).exitCode).not.toBe(0);
    expect((await vm.sh('mount -o ro /dev/nvme2n1 /mnt/old && cat /mnt/old/file; umount /mnt/old')).trim()).toBe('precious');
  });

  it('auto-discovery: the two blank disks become a 2-stripe LV, xfs, mounted at /var/lib/k0s', async () => {
    const plan = await step('plan');
    expect(plan.summary).toMatch(/^create 2-stripe LV castai-edge\/k0s on \/dev\/nvme0n1, \/dev\/nvme1n1/);
    expect(plan.notes!.join('\n')).toMatch(/skipping \/dev\/nvme2n1 .*ext4 filesystem signature/);
    expect(plan.notes!.join('\n')).toMatch(/skipping \/dev\/nvme3n1 .*partition/);

    const r = await step('run');
    expect(r).toMatchObject({ ok: true, changed: true, code: 0 });
    expect(await lvmField('stripes,segtype,lv_tags')).toBe('2|striped|castai-edge-initd');
    expect(await vm.sh('LVM_SUPPRESS_FD_WARNINGS=1 lvs -o+stripes castai-edge')).toMatch(/k0s\s+castai-edge\s+-wi-ao----\s+\S+\s+2\s*$/m);
    expect((await lvmField('devices')).split(',').map((x) => x.replace(/\(\d+\)$/, '')).sort()).toEqual(['/dev/nvme0n1', '/dev/nvme1n1']);
    expect((await vm.sh("LVM_SUPPRESS_FD_WARNINGS=1 vgs --noheadings -o vg_tags castai-edge")).trim()).toBe('castai-edge-initd');
    const mnt = (await vm.sh('findmnt -n -o FSTYPE,SOURCE,OPTIONS /var/lib/k0s')).trim();
    expect(mnt).toMatch(/^xfs\s+\/dev\/mapper\/castai--edge-k0s\s+\S*noatime/);
    expect(await vm.sh('systemctl is-enabled var-lib-k0s.mount')).toMatch(/enabled/);
    const state = JSON.parse(await vm.sh('cat /var/lib/castai-edge-initd/storage.json')) as {
      devices: string[];
      stripes: number;
      fsUuid: string;
      phase: string;
    };
    expect(state).toMatchObject({ phase: 'ready', devices: ['/dev/nvme0n1', '/dev/nvme1n1'], stripes: 2 });
    expect(await vm.sh('cat /etc/systemd/system/var-lib-k0s.mount')).toContain(`What=/dev/disk/by-uuid/${state.fsUuid}`);
    for (const d of ['nvme2n1', 'nvme3n1']) expect(await first16MiB(`/dev/${d}`), d).toBe(hashes[d]);
  });

  it('a re-run is a no-op (plan shows nothing to do)', async () => {
    const plan = await step('plan');
    expect(plan).toMatchObject({ ok: true, refused: false, summary: 'nothing to do', kinds: [] });
    const r = await step('run');
    expect(r).toMatchObject({ ok: true, changed: false, kinds: [], ran: [] });
    console.log(`storage no-op reconcile in the VM (TCG): inspect+plan ${r.timings!.inspectPlanMs} ms, driver total ${r.ms} ms`);
  });

  it('teardown: unmount, unit removed, VG removed (with --remove-volume-group)', async () => {
    const r = await step('teardown', undefined, '--remove-volume-group');
    expect(r).toMatchObject({ ok: true });
    expect(r.ran).toEqual([
      'systemctl disable --now var-lib-k0s.mount',
      'remove /etc/systemd/system/var-lib-k0s.mount',
      'systemctl daemon-reload',
      'vgchange -an castai-edge',
      'lvremove --yes castai-edge/k0s',
      'vgremove --yes castai-edge',
      'pvremove --yes /dev/nvme0n1 /dev/nvme1n1',
      'remove /var/lib/castai-edge-initd/storage.json',
      'remove /var/lib/castai-edge-initd/storage-disks.json', // the disk census the run kept
    ]);
    expect((await vm.exec('findmnt /var/lib/k0s')).exitCode).not.toBe(0);
    expect((await vm.exec('test -e /etc/systemd/system/var-lib-k0s.mount')).exitCode).not.toBe(0);
    expect((await vm.sh('LVM_SUPPRESS_FD_WARNINGS=1 vgs --noheadings -o vg_name')).trim()).toBe('');
  });

  it('NVME_DEVICES with one disk: a linear LV on that disk only', async () => {
    const before0 = await first16MiB('/dev/nvme0n1');
    const r = await step('run', '/dev/nvme1n1');
    expect(r).toMatchObject({ ok: true, changed: true });
    expect(await lvmField('stripes,segtype,devices')).toBe('1|linear|/dev/nvme1n1(0)');
    expect((await vm.sh('LVM_SUPPRESS_FD_WARNINGS=1 pvs --noheadings -o pv_name')).trim()).toBe('/dev/nvme1n1');
    expect(await first16MiB('/dev/nvme0n1')).toBe(before0);
    expect((await vm.sh('findmnt -n -o FSTYPE /var/lib/k0s')).trim()).toBe('xfs');
  });

  it('a changed device set is refused, never rebuilt silently', async () => {
    const r = await step('run', '/dev/nvme0n1 /dev/nvme1n1');
    expect(r).toMatchObject({ ok: false, code: 2 });
    expect(r.message).toMatch(/NVME_DEVICES \(\/dev\/nvme0n1, \/dev\/nvme1n1\) differs from the disks of our existing volume group castai-edge \(\/dev\/nvme1n1\)/);
    expect(await lvmField('stripes,segtype,devices')).toBe('1|linear|/dev/nvme1n1(0)');
    expect((await step('plan', '/dev/nvme1n1')).summary).toBe('nothing to do');
  });
  it('after a reboot the mount is back from systemd alone, ordered before k0sworker; then a no-op', async () => {
    await vm.reboot(600_000); // TCG on a shared 2-core machine: be patient
    const mnt = (await vm.sh('findmnt -n -o FSTYPE,SOURCE /var/lib/k0s')).trim();
    expect(mnt).toMatch(/^xfs\s+\/dev\/mapper\/castai--edge-k0s$/);
    expect((await vm.sh('systemctl is-active var-lib-k0s.mount')).trim()).toBe('active');
    expect(await vm.sh('systemctl show -p Before -p WantedBy -p RequiredBy var-lib-k0s.mount')).toMatch(/Before=.*k0sworker\.service/);
    // k0sworker.service is not installed in this test, so systemd shows no RequiredBy= yet; the enable link is what makes it so once it is.
    expect((await vm.exec('test -L /etc/systemd/system/k0sworker.service.requires/var-lib-k0s.mount')).exitCode).toBe(0);
    expect(await vm.sh('systemctl show -p WantedBy var-lib-k0s.mount')).toMatch(/local-fs\.target/);
    const plan = await step('plan');
    expect(plan).toMatchObject({ summary: 'nothing to do', kinds: [] });
  });

});
