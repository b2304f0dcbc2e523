/**
 * `make demo`, the main job (issue 18 item 1): a Debian 12 node in the VM lab joins the local
 * control-plane EMULATOR through the documented one-liner, then the operator deletes it and the
 * node tears itself down. It shows what an operator sees at each stage, and prints where it is
 * while it waits. The join machinery is the join e2e's own (test/e2e/join-fixture.ts):
 * `bootJoinLab` (VM + emulator + WireGuard gateway), `prepareGuest`, `oneLiner`, `waitJoined`.
 *
 *   node scripts/lab-demo.ts            (needs root, `make build` and `make vm-image`)
 * Env: LAB_VERBOSE=1 prints lab progress; LAB_KEEP=1 keeps the run directory.
 */
import fs from 'node:fs';
import { AGENT_BINARY_AMD64, shq, type Lab, type Vm } from '../test/e2e/lab.ts';
import { readyOf } from './lab-demo-view.ts';
import { agentLog, bootJoinLab, endState, oneLiner, prepareGuest, STATE_DIR, UNIT, waitJoined, type ControlPlane } from '../test/e2e/join-fixture.ts';

const t0 = Date.now();
const secs = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
const out = (s = '') => process.stdout.write(`${s}\n`);
const banner = (s: string) => out(`\n\x1b[1m== ${s}\x1b[0m`);
const shell = (vm: Vm, cmd: string) => out(`\n\x1b[1mroot@${vm.name}:~# ${cmd}\x1b[0m`);
const indent = (s: string) => s.trimEnd().split('\n').map((l) => `   ${l}`).join('\n');

/** Await `p`, printing "… what (N s)" every 10 s so a waiting demo never looks hung. */
async function waiting<T>(what: string, p: Promise<T>): Promise<T> {
  const started = Date.now();
  out(`… ${what}`);
  const timer = setInterval(() => out(`… ${what} (${((Date.now() - started) / 1000).toFixed(0)} s; demo at ${secs()})`), 10_000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

/** A guest command as the operator would type it, and its output. */
async function run(vm: Vm, cmd: string, opts: { head?: number } = {}): Promise<string> {
  shell(vm, cmd);
  const r = await vm.exec(`${cmd} 2>&1${opts.head ? ` | head -n ${opts.head}` : ''}`, { timeoutMs: 120_000 });
  out(r.stdout.trimEnd());
  return r.stdout;
}

/** The emulator's record of the Node (admin endpoint /_emulator/nodes), as an operator reads it. */
function showNode(nodes: Array<Record<string, unknown>>, name: string): void {
  const n = nodes.find((x) => x.nodeName === name);
  if (!n) {
    out(`   (no Node named ${name})`);
    return;
  }
  const labels = (n.labels ?? {}) as Record<string, string>;
  const taints = (n.taints ?? []) as Array<{ key: string; value?: string; effect: string }>;
  out(
    `   name:    ${String(n.nodeName)}   (providerID ${typeof n.providerID === 'string' ? n.providerID : '-'}, node IP ${typeof n.nodeIP === 'string' ? n.nodeIP : '-'})`,
  );
  out(`   labels:  ${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join('\n            ')}`);
  out(`   taints:  ${taints.length ? taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ') : '(none)'}`);
  out(`   Ready:   ${readyOf(n)}`);
}

async function nodes(cp: ControlPlane): Promise<Array<Record<string, unknown>>> {
  return JSON.parse(await cp.cli(['nodes'])) as Array<Record<string, unknown>>;
}

async function main(): Promise<number> {
  if (!fs.existsSync(AGENT_BINARY_AMD64)) {
    process.stderr.write(`lab-demo: ${AGENT_BINARY_AMD64} is missing; run \`make build\` first\n`);
    return 2;
  }
  banner('What is real here, and what is simulated');
  out(indent(`REAL       a Debian 12 VM (kernel 6.1, systemd, 2 emulated NVMe disks) under qemu with a software CPU (TCG),
           the documented curl | bash one-liner, the installer, the castai-edge-initd binary from \`make build\`,
           systemd units and journald, LVM + xfs on the NVMe disks, kernel WireGuard to a wireguard-go gateway.
SIMULATED  the Cast AI control plane: the local control-plane EMULATOR (test/control-plane), on a private lab
           network with no route out; k0s and the kubelet: the k0s TEST DOUBLE (test/doubles/k0s-test-double.sh),
           which installs k0sworker.service like k0s and "joins" by posting its Node to the emulator.`));

  let lab: Lab | undefined;
  let cp: ControlPlane | undefined;
  let vm: Vm | undefined;
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    await lab?.close();
    await cp?.stop();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    banner('1. Boot the node and start the emulator');
    ({ lab, cp, vm } = await waiting('booting the VM (qemu TCG) and starting the control-plane emulator + WireGuard gateway', bootJoinLab('demo')));
    out(`booted ${vm.name} (${vm.ip}) in ${((vm.bootToSystemMs ?? 0) / 1000).toFixed(1)} s; emulator (simulated Cast AI API) at ${cp.env.API_URL}`);
    await prepareGuest(vm, cp);
    await run(vm, 'cat /root/edge.env');

    banner('2. The operator runs the one-liner');
    const visible = oneLiner(cp).replace(cp.env.API_KEY!, '<org API key>');
    shell(vm, visible);
    await vm.exec(
      `rm -f /root/install.log; nohup setsid bash -c ${shq(`${oneLiner(cp)}; echo "@@exit $?"`)} > /root/install.log 2>&1 < /dev/null & echo started`,
    );
    let shown = 0;
    const code = await waiting(
      'the installer is running (progress below)',
      (async () => {
        for (;;) {
          const log = await vm.sh('cat /root/install.log 2>/dev/null || true');
          const lines = log.split('\n');
          const done = lines.findIndex((l) => l.startsWith('@@exit '));
          const upto = done >= 0 ? done : lines.length - 1;
          for (const l of lines.slice(shown, upto)) out(`   ${l}`);
          shown = Math.max(shown, upto);
          if (done >= 0) return Number(lines[done]!.slice(7));
          await new Promise((r) => setTimeout(r, 2000));
        }
      })(),
    );
    out(`(installer exit code ${code})`);
    if (code !== 0) throw new Error(`the installer failed (exit ${code})`);
    await waiting('waiting until the node has joined (kubelet.conf, k0sworker active, the Node at the emulator)', waitJoined(vm, cp, 600_000));
    await waiting(
      'waiting for the agent to finish its pass (systemd Status: joined)',
      (async () => {
        for (let i = 0; i < 100; i++) {
          if (/^joined/.test((await vm.sh(`systemctl show -p StatusText --value ${UNIT}`)).trim())) return;
          await new Promise((r) => setTimeout(r, 3000));
        }
      })(),
    );

    banner('3. What the operator sees on the node');
    await run(vm, `systemctl status ${UNIT} --no-pager`, { head: 12 });
    await run(vm, `${UNIT} status`);
    await run(vm, `journalctl -u ${UNIT} --no-pager -n 14`);
    await run(vm, `journalctl -u ${UNIT} --no-pager -p warning`);
    await run(vm, 'journalctl -u k0sworker --no-pager -n 6');
    await run(
      vm,
      'cat /etc/modules-load.d/castai-edge-initd.conf /etc/sysctl.d/99-castai-edge-initd.conf | grep -v "^#"; sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables',
    );

    banner('4. The control plane’s view of the Node (EMULATOR admin endpoint /_emulator/nodes)');
    const edge = cp.edgeOf(vm.machineId);
    if (!edge) throw new Error('the emulator has no edge for this machine');
    out(`   edge ${edge.id}: phase ${edge.phase}, WireGuard address ${edge.address}`);
    showNode(await nodes(cp), edge.name);

    banner('5. The operator deletes the edge');
    out(`$ curl -X DELETE -H "X-API-Key: <org API key>" ${cp.env.API_URL}/omni-provisioner/v2beta/…/edges/${edge.id}`);
    out(`   HTTP ${await cp.deleteEdge(edge.id)}`);
    const since = Date.now() - 5_000;
    await waiting(
      'the agent notices on its next pass (every 60 s ± 20 %), tears the node down and reports DELETED',
      (async () => {
        for (;;) {
          const phase = cp.snapshot().edges.find((e) => e.id === edge.id)?.phase;
          const active = (await vm.exec(`systemctl is-active --quiet ${UNIT}`)).exitCode === 0;
          if (phase === 'DELETED' && !active) return;
          await new Promise((r) => setTimeout(r, 3000));
        }
      })(),
    );
    const teardown = (await agentLog(vm)).filter((l) => l.time >= since - 60_000 && /tearing this node down|^teardown|DELETED/.test(l.msg));
    out(indent(teardown.map((l) => l.msg).join('\n') || '(no teardown lines found)'));

    banner('6. The end state');
    const st = await endState(vm, cp);
    const vg = st.lv ? `${st.lv} (deactivated and kept: removal never destroys data; reset --remove-volume-group deletes it)` : 'gone';
    out(
      indent(`agent unit      ${st.agent.active}, ${st.agent.enabled}
k0sworker       ${st.k0sworker || 'not installed'}; joined (kubelet.conf): ${st.joined}
wg0             ${st.wg ? 'present' : 'gone'}
/var/lib/k0s    ${st.mount ? `mounted from ${st.mount.source}` : 'not mounted'}; volume group: ${vg}
emulator        edge ${cp.snapshot().edges.find((e) => e.id === edge.id)?.phase ?? '?'}, WireGuard peers ${Object.keys(cp.snapshot().peers).length}`),
    );
    await run(vm, `ls /etc/modules-load.d/castai-edge-initd.conf /etc/sysctl.d/99-castai-edge-initd.conf /etc/k0s/containerd.d ${STATE_DIR}/register.json`);
    banner(`done in ${secs()}: joined, deleted, torn down`);
    return 0;
  } catch (e) {
    process.stderr.write(`lab-demo failed at ${secs()}: ${e instanceof Error ? e.message : String(e)}\n`);
    if (vm)
      process.stderr.write(
        `${await vm.sh(`journalctl -u ${UNIT} --no-pager -n 30; systemctl --no-pager status ${UNIT} k0sworker | head -30`).catch(() => '')}\n`,
      );
    await lab?.collectDiagnostics('demo');
    return 1;
  } finally {
    await cleanup();
    out(`(the VM is powered off and the lab removed; ${secs()} in all)`);
  }
}

process.exitCode = await main();
