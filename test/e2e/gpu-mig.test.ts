/**
 * NVIDIA MIG in the VM lab (issue 8), with the nvidia-smi TEST DOUBLE as
 * /usr/local/bin/nvidia-smi in a real Debian guest (systemd, kernel 6.1). There
 * is no GPU: the double simulates an A100-40GB and an H100 80GB from real
 * nvidia-smi captures. Everything else is real: the documented one-liner
 * installs the agent from the control-plane emulator and systemd runs it.
 *
 *  1. `INITD_GPU_CONFIG={"mig":{"partitionSizes":["1g.5gb"]}}` on a simulated
 *     A100-40GB whose MIG mode needs a GPU reset → 7 × 1g.5gb.
 *  2. A real reboot (GPU instances vanish; the double notices via boot_id) →
 *     the agent re-applies 7 × 1g.5gb on boot.
 *  3. The same config on a simulated H100 → refused with the valid names, and
 *     not one mutating nvidia-smi call.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installNvidiaSmiDouble, isMutatingSmiCall, nvidiaSmiCalls } from '../doubles/nvidia-smi-test-double.ts';
import { AGENT_BINARY_AMD64, Lab, REPO_ROOT, type LabProcess, type Vm } from './lab.ts';

const GPU_CONFIG = '{"mig":{"partitionSizes":["1g.5gb"]}}';
const UNIT = 'castai-edge-initd';
/** `plan` with the environment the unit gets (the installer's env file names /root/edge.env). */
const PLAN = 'set -a; . /etc/castai-edge-initd/castai-edge-initd.env; set +a; castai-edge-initd plan';

let lab: Lab;
let vm: Vm;
let emu: LabProcess;
let env: Record<string, string>;
let emuDir: string;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, diag: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await diag()}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const journal = () => vm.sh(`journalctl -u ${UNIT} --no-pager -o cat | tail -n 80`).catch((e: unknown) => String(e));
const gis = async () => {
  const out = (await vm.exec('nvidia-smi mig -lgi')).stdout;
  return [...out.matchAll(/^\|\s+\d+\s+MIG (\S+)\s+\d+\s+\d+\s+\d+:\d+\s+\|$/gm)].map((m) => m[1]!);
};
const sevenOnes = async () => {
  const g = await gis();
  return g.length === 7 && g.every((n) => n === '1g.5gb') ? g : undefined;
};

beforeAll(async () => {
  if (!existsSync(AGENT_BINARY_AMD64)) throw new Error(`${AGENT_BINARY_AMD64} is missing: run \`make build\` first`);
  lab = await Lab.create({ name: 'gpu-mig' });
  emuDir = mkdtempSync(path.join(os.tmpdir(), 'gpu-mig-emu-'));
  emu = lab.spawnInNetns(
    process.execPath,
    ['test/control-plane/main.ts', 'start', '--foreground', '--listen', lab.hostIp, '--kube-port', '0', '--konnectivity-port', '0', '--state-dir', emuDir],
    { cwd: REPO_ROOT },
  );
  await emu.waitForOutput(/^PID=\d+$/m, 60_000);
  env = Object.fromEntries(emu.stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  vm = (await lab.boot([{ name: 'gpu1' }]))[0]!;
}, 600_000);

afterAll(async () => {
  await lab?.close();
  if (emuDir) rmSync(emuDir, { recursive: true, force: true });
});

describe('MIG on a simulated A100-40GB through the documented one-liner', () => {
  it('applies 7 × 1g.5gb (enable → pending → reset by bus id → create → verify)', async () => {
    await installNvidiaSmiDouble(vm, 'gpus=a100-40gb\nenable=pending-in-use\n');
    const ca = vm.putFile(env.CA_FILE!, 'api-ca.pem');
    await vm.sh(
      [
        'set -e',
        `install -m 0644 ${ca} /root/api-ca.pem`,
        `cat > /root/edge.env <<'EOF'\nINITD_GPU_CONFIG='${GPU_CONFIG}'\nINITD_CA_FILE=/root/api-ca.pem\nEOF`,
      ].join('\n'),
    );
    const oneLiner = `curl -fsS --cacert /root/api-ca.pem -H "X-API-Key: ${env.API_KEY}" '${env.SCRIPT_URL}' | INITD_INSTALL_WAIT_SECONDS=5 INITD_CA_FILE=/root/api-ca.pem INITD_EXTRA_ENV_FILE=/root/edge.env bash`;
    // The installer returns once the unit is started; the MIG layout is then polled below.
    const inst = await vm.exec(oneLiner, { timeoutMs: 900_000 });
    if (inst.exitCode !== 0) {
      // Same script again under bash -x, to show where it stopped.
      const trace = await vm.exec(
        `curl -fsS --cacert /root/api-ca.pem -H "X-API-Key: ${env.API_KEY}" '${env.SCRIPT_URL}' > /root/install.sh; INITD_CA_FILE=/root/api-ca.pem INITD_EXTRA_ENV_FILE=/root/edge.env bash -x /root/install.sh > /root/install.out 2>&1; echo "exit $?"; tail -n 40 /root/install.out; free -m; df -h /tmp`,
        { timeoutMs: 400_000 },
      );
      expect.fail(`installer exit ${inst.exitCode}:\n${inst.stdout}\n${inst.stderr}\n--- bash -x re-run ---\n${trace.stdout}`);
    }

    await waitFor('7 × 1g.5gb on the simulated A100', sevenOnes, 900_000, journal);
    const calls = await nvidiaSmiCalls(vm);
    expect(calls.filter(isMutatingSmiCall)).toEqual(['-i 0 -mig 1', '-r -i 00000000:04:00.0', 'mig -i 0 -cgi 19,19,19,19,19,19,19 -C']);
    expect((await vm.sh("nvidia-smi --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader")).trim()).toBe('Enabled, Enabled');

    // The plan command in the guest shows the GPU as already partitioned.
    const plan = await vm.exec(PLAN, { timeoutMs: 200_000 });
    expect(plan.stdout).toMatch(/GPU 0 NVIDIA A100-PCIE-40GB \(00000000:04:00\.0\), MIG Enabled/);
    expect(plan.stdout).toMatch(/current: 7 × 1g\.5gb/);
    expect(plan.stdout).toMatch(/actions: none \(already applied\)/);
  }, 2_400_000);

  it('re-applies it after a real reboot (GPU instances do not survive one)', async () => {
    const before = (await nvidiaSmiCalls(vm)).length;
    await vm.reboot(900_000);
    await waitFor('7 × 1g.5gb again after the reboot', sevenOnes, 900_000, journal);
    const after = (await nvidiaSmiCalls(vm)).slice(before);
    // Mode survived the reboot: no enable/reset, only the instances are created again.
    expect(after.filter(isMutatingSmiCall)).toEqual(['mig -i 0 -cgi 19,19,19,19,19,19,19 -C']);
  }, 2_400_000);
});

describe('the same config on a simulated H100 80GB', () => {
  it('is refused with the valid names and changes nothing', async () => {
    await vm.sh(`systemctl stop ${UNIT}`);
    await installNvidiaSmiDouble(vm, 'gpus=h100-80gb\n');
    await vm.sh(`systemctl start ${UNIT}`);
    const expected =
      'profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3 (GPU 0); available: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb';
    await waitFor('the refusal in the journal', async () => ((await journal()).includes(expected) ? true : undefined), 900_000, journal);
    const calls = await nvidiaSmiCalls(vm);
    expect(calls.length).toBeGreaterThan(0); // the agent did read the GPU
    expect(calls.filter(isMutatingSmiCall)).toEqual([]);
    expect((await vm.sh('nvidia-smi --query-gpu=mig.mode.current,mig.mode.pending --format=csv,noheader')).trim()).toBe('Disabled, Disabled');

    const plan = await vm.exec(PLAN, { timeoutMs: 200_000 });
    expect(plan.stdout).toContain(expected);
    expect((await nvidiaSmiCalls(vm)).filter(isMutatingSmiCall)).toEqual([]);
  }, 900_000);
});
