/**
 * Lab demo (issue 3, for `make demo`): boot a real Debian 12 node in the VM lab (qemu TCG, two
 * emulated NVMe disks, confined lab network), start the control-plane EMULATOR inside the lab
 * namespace, install the amd64 agent binary from `make build`, and show what an operator sees from
 * `castai-edge-initd doctor` and `castai-edge-initd plan` on that node. Nothing is applied.
 *
 *   node scripts/lab-demo.ts            (needs root, `make build` and `make vm-image`)
 * Env: LAB_VERBOSE=1 prints lab progress; LAB_KEEP=1 keeps the run directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_BINARY_AMD64, Lab, type LabProcess, REPO_ROOT } from '../test/e2e/lab.ts';

const EMULATOR = path.join(REPO_ROOT, 'test/control-plane/main.ts');

function banner(s: string): void {
  process.stdout.write(`\n\x1b[1m== ${s}\x1b[0m\n`);
}

async function main(): Promise<number> {
  if (!fs.existsSync(AGENT_BINARY_AMD64)) {
    process.stderr.write(`lab-demo: ${AGENT_BINARY_AMD64} is missing; run \`make build\` first\n`);
    return 2;
  }
  const t0 = Date.now();
  const lab = await Lab.create({ name: 'demo' });
  const emuDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-demo-emu-'));
  const cleanup = async () => {
    await lab.close();
    fs.rmSync(emuDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    banner(`VM lab: Debian 12 guest under qemu TCG, lab network ${lab.subnet} (no route out)`);
    let emu: LabProcess | undefined;
    const env: Record<string, string> = {};
    if (fs.existsSync(EMULATOR)) {
      emu = lab.spawnInNetns(process.execPath, [EMULATOR, 'start', '--foreground', '--listen', lab.hostIp, '--kube-port', '0', '--konnectivity-port', '0', '--state-dir', emuDir], { cwd: REPO_ROOT });
      await emu.waitForOutput(/^PID=\d+$/m, 60_000);
      for (const l of emu.stdout.split('\n')) {
        const m = /^([A-Z_]+)=(.*)$/.exec(l);
        if (m) env[m[1]!] = m[2]!;
      }
      console.log(`control-plane emulator (simulated Cast AI API) at ${env.API_URL}`);
    }
    const [vm] = await lab.boot([{ name: 'edge-node-1', disks: [{ sizeGiB: 8 }, { sizeGiB: 8 }] }]);
    console.log(`booted ${vm!.name} (${vm!.ip}) in ${(vm!.bootToSystemMs! / 1000).toFixed(1)} s: ${(await vm!.sh('. /etc/os-release; echo "$PRETTY_NAME, kernel $(uname -r)"')).trim()}`);
    console.log((await vm!.sh('lsblk -d -o NAME,SIZE,MODEL,SERIAL')).trimEnd());

    const bin = await vm!.installAgent();
    const lines = [
      `API_URL=${env.API_URL ?? 'https://api.lab.invalid'}`,
      ...['ORG_ID', 'CLUSTER_ID', 'EDGE_LOCATION_ID'].filter((k) => env[k]).map((k) => `${k}=${env[k]}`),
      'NVME_DEVICES="/dev/nvme0n1 /dev/nvme1n1"',
    ];
    if (env.CA_FILE) {
      const ca = vm!.putFile(env.CA_FILE, 'api-ca.pem');
      await vm!.sh(`install -D -m 0644 ${ca} /etc/castai-edge-initd/api-ca.pem`);
      lines.push('INITD_CA_FILE=/etc/castai-edge-initd/api-ca.pem');
    }
    await vm!.sh('install -d -m 0700 /etc/castai-edge-initd && cat > /etc/castai-edge-initd/demo.env && chmod 0600 /etc/castai-edge-initd/demo.env', { stdin: lines.join('\n') + '\n' });

    for (const cmd of ['version', 'doctor', 'plan']) {
      banner(`root@${vm!.name}:~# castai-edge-initd ${cmd}`);
      const r = await vm!.exec(`${bin} ${cmd}${cmd === 'version' ? '' : ' --env-file /etc/castai-edge-initd/demo.env'}`, { timeoutMs: 180_000 });
      process.stdout.write(r.stdout);
      if (r.stderr.trim()) process.stdout.write(r.stderr);
      console.log(`(exit code ${r.exitCode})`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`lab-demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    await lab.collectDiagnostics('demo');
    return 1;
  } finally {
    await cleanup();
    banner(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s; the VM is powered off and the lab removed`);
  }
}

process.exitCode = await main();
