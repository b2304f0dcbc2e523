/**
 * The VM lab itself (issue 3): a real Debian 12 guest under qemu TCG — kernel ≥ 6.0, systemd as
 * PID 1, emulated NVMe disks, the amd64 agent binary running, data surviving reboots.
 * Run alone: node node_modules/vitest/vitest.mjs run --project e2e test/e2e/lab.test.ts
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { AGENT_BINARY_AMD64, Lab, REPO_ROOT, type Vm } from './lab.ts';

let lab: Lab;
let vm: Vm;
const GiB = 1024 ** 3;

beforeAll(async () => {
  lab = await Lab.create({ name: 'basics', network: false });
  [vm] = (await lab.boot([{ disks: [{ sizeGiB: 4 }, { sizeGiB: 2, serial: 'LAB-SECOND' }] }])) as [Vm];
});

afterAll(async () => {
  await lab?.close();
});

function diagnoseOnFailure(): void {
  onTestFailed(async ({ task }) => {
    await lab.collectDiagnostics(task.name);
  });
}

describe('VM lab guest', () => {
  it('runs kernel ≥ 6.0 with systemd as PID 1, fully booted', async () => {
    diagnoseOnFailure();
    const release = (await vm.sh('uname -r')).trim();
    const [maj, min] = release.split('.').map(Number) as [number, number];
    expect(maj * 100 + min, `kernel ${release}`).toBeGreaterThanOrEqual(600);
    expect((await vm.sh('cat /proc/1/comm')).trim()).toBe('systemd');
    expect(vm.systemState).toBe('running');
    expect((await vm.sh('uname -m')).trim()).toBe('x86_64');
    expect((await vm.sh('hostname')).trim()).toBe('vm1');
    expect((await vm.sh('cat /etc/machine-id')).trim()).toBe(vm.machineId);
  });

  it('sees two NVMe disks with the requested sizes and serials, root on virtio', async () => {
    diagnoseOnFailure();
    const out = await vm.sh('lsblk -J -b -d -o NAME,SIZE,TYPE,SERIAL,TRAN,MOUNTPOINT');
    const devs = (JSON.parse(out) as { blockdevices: { name: string; size: number; serial: string | null; mountpoint: string | null }[] }).blockdevices;
    const nvme = devs.filter((d) => d.name.startsWith('nvme')).sort((a, b) => a.name.localeCompare(b.name));
    expect(nvme.map((d) => Number(d.size)).sort()).toEqual([2 * GiB, 4 * GiB]);
    expect(nvme.map((d) => d.serial?.trim()).sort()).toEqual(['LAB-SECOND', 'LAB-vm1-0']);
    expect(devs.find((d) => d.mountpoint === '/')?.name).toBe('vda');
    // Fresh disks: no partition table, no filesystem signature.
    expect((await vm.exec('blkid -p /dev/nvme0n1 /dev/nvme1n1')).exitCode).toBe(2);
  });

  it('has the kernel features the agent needs: device-mapper, WireGuard, NVMe', async () => {
    diagnoseOnFailure();
    await vm.sh('ip link add wgtest type wireguard && ip link del wgtest');
    expect(await vm.sh('dmsetup version')).toMatch(/Driver version:\s+4\./);
    expect(await vm.sh('nvme list')).toMatch(/QEMU NVMe Ctrl/);
  });

  it('returns stdout, stderr and exit code; passes stdin and env; enforces timeouts', async () => {
    diagnoseOnFailure();
    const r = await vm.exec('echo "out $FOO"; echo err >&2; exit 7', { env: { FOO: "it's" } });
    expect(r).toMatchObject({ stdout: "out it's\n", stderr: 'err\n', exitCode: 7, timedOut: false });
    const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => `line ${i} ✓`).join('\n'));
    expect(await vm.sh('sha256sum', { stdin: input })).toContain((await import('node:crypto')).createHash('sha256').update(input).digest('hex'));
    expect((await vm.sh(['printf', '%s|', 'a b', "c'd", '$HOME'])).trim()).toBe("a b|c'd|$HOME|");
    // A timeout kills the whole process group, including background children.
    const t = await vm.exec('sleep 300 & echo $! > /run/bg.pid; sleep 300', { timeoutMs: 2000 });
    expect(t.timedOut).toBe(true);
    expect(t.exitCode).toBe(124);
    expect(t.durationMs).toBeLessThan(20_000);
    expect((await vm.exec('kill -0 "$(cat /run/bg.pid)"')).exitCode).not.toBe(0);
    // Concurrent commands on one channel.
    const many = await Promise.all([1, 2, 3, 4].map((i) => vm.sh(`sleep 0.$i; echo ${i}`)));
    expect(many.map((s) => s.trim())).toEqual(['1', '2', '3', '4']);
  });

  it('shows files injected over 9p under /mnt/lab', async () => {
    diagnoseOnFailure();
    const g = vm.putFile(Buffer.from('KEY=value\n'), 'env/test.env', 0o600);
    expect(g).toBe('/mnt/lab/env/test.env');
    expect(await vm.sh(`cat ${g}; stat -c %a ${g}`)).toBe('KEY=value\n600\n');
  });

  it('runs the amd64 agent binary; doctor passes kernel, arch, root and systemd', async () => {
    diagnoseOnFailure();
    expect(fs.existsSync(AGENT_BINARY_AMD64), `${AGENT_BINARY_AMD64} missing: run make build`).toBe(true);
    const bin = await vm.installAgent();
    expect((await vm.sh(`${bin} version`)).trim()).toMatch(/\d+\.\d+\.\d+/);
    // The fixture's IDs are fake; its API endpoint is a name that cannot resolve (this VM has no NIC).
    const env = fs
      .readFileSync(`${REPO_ROOT}/test/fixtures/example.env`, 'utf8')
      .replace(/^API_URL=.*$/m, 'API_URL=https://api.lab.invalid')
      .replace(/^(HTTPS?_PROXY|NO_PROXY)=.*$/gm, '');
    const envFile = vm.putFile(Buffer.from(env), 'doctor.env', 0o600);
    const r = await vm.exec(`${bin} doctor --json --deadline 60000 --env-file ${envFile}`, { timeoutMs: 120_000 });
    const report = JSON.parse(r.stdout) as { checks: { name: string; status: string; message: string }[] };
    const check = (name: string) => report.checks.find((c) => c.name === name);
    for (const name of ['kernel', 'arch', 'root', 'systemd']) {
      expect(check(name)?.status, `doctor check ${name}: ${JSON.stringify(check(name))}`).toBe('pass');
    }
    // The network checks really ran (and failed: there is no network), so the exit code says so.
    expect(check('dns-api')?.status).toBe('fail');
    expect(r.exitCode).toBe(3);
  });

  it('keeps NVMe data across a guest reboot and across a qemu power-off and start', async () => {
    diagnoseOnFailure();
    const token = `lab-${Date.now()}`;
    // By serial: kernel names (nvme0n1, nvme1n1) depend on probe order and may swap on reboot.
    const d0 = '/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_LAB-vm1-0';
    const d1 = '/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_LAB-SECOND';
    await vm.sh(`
      udevadm settle
      printf '%s' ${token} | dd of=${d0} bs=512 seek=2048 conv=notrunc,fsync status=none
      mkfs.ext4 -q -F ${d1} && mkdir -p /data && mount ${d1} /data
      echo ${token} > /data/token && umount /data && sync`);
    const check = async () => {
      await vm.sh('udevadm settle');
      expect(await vm.sh(`dd if=${d0} bs=512 skip=2048 count=1 status=none | head -c ${token.length}`)).toBe(token);
      expect(await vm.sh(`mkdir -p /data && mount ${d1} /data && cat /data/token && umount /data`)).toBe(`${token}\n`);
    };
    const boot1 = vm.bootId;
    await vm.reboot();
    expect(vm.bootId).not.toBe(boot1);
    expect(vm.systemState).toBe('running');
    await check();

    const boot2 = vm.bootId;
    await vm.powerOff();
    expect(vm.running).toBe(false);
    await vm.start();
    expect(vm.bootId).not.toBe(boot2);
    await check();
  });
});
