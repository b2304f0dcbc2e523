/**
 * The reconcile daemon (register → k0s steps + lifecycle hooks) against the
 * control-plane emulator over real HTTPS on loopback. The OS is a FakeHost
 * (no systemd or k0s here), but the network side is real: the agent's API
 * client, and the TLS pin of the cluster CA on the emulator's kube listener.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { RealHost } from '../../agent/host/real.ts';
import { K0S_BIN, K0S_TOKEN_FILE } from '../../agent/k0s/k0s.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { runDaemon } from '../../agent/reconcile/daemon.ts';
import { lifecycleHooks } from '../../agent/reconcile/lifecycle.ts';
import { StartupLogShipper } from '../../agent/reconcile/logship.ts';
import { k0sStep } from '../../agent/reconcile/steps/k0s.ts';
import { registerStep } from '../../agent/reconcile/steps/register.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';
import { kubeletCsrPem } from '../control-plane/pki.ts';
import { DEFAULT_STATE_DIR, JOURNAL_FILE, REGISTER_FILE } from '../../agent/state/files.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const STATE = DEFAULT_STATE_DIR;
const MACHINE_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const real = new RealHost();
let emu: ControlPlaneEmulator;
let info: Awaited<ReturnType<ControlPlaneEmulator['start']>>;

/** OS calls are faked; network probes (TLS pin, konnectivity) are real, to the emulator on loopback. */
class NetFakeHost extends FakeHost {
  override tlsProbe = real.tlsProbe.bind(real);
  override tcpProbe = real.tcpProbe.bind(real);
}

function nodeHost(): NetFakeHost {
  const h = new NetFakeHost();
  h.setFile('/etc/machine-id', `${MACHINE_ID}\n`);
  h.setFile(info.caFile, readFileSync(info.caFile, 'utf8'));
  h.setFile('/proc/sys/kernel/random/boot_id', 'boot-1\n');
  const k0sSha = createHash('sha256').update(readFileSync(path.join(ROOT, 'test/doubles/k0s-test-double.sh'))).digest('hex');
  h.onExec('curl', (args) => {
    h.setFile(args[args.indexOf('-o') + 1]!, 'k0s-binary', 0o644);
    return {};
  });
  h.onExec('sha256sum', (args) => ({ stdout: `${k0sSha}  ${args[0]}\n` }));
  h.onExec('chmod', {});
  // The k0s step's kubelet prerequisites (issue 18): modules and sysctls.
  h.onExec('modprobe', (args) => {
    h.dirs.set(`/sys/module/${args[0]}`, 0o755);
    return {};
  });
  h.onExec('sysctl', (args) => {
    for (const kv of args.slice(1)) h.setFile(`/proc/sys/${kv.split('=')[0]!.replace(/\./g, '/')}`, `${kv.split('=')[1]}\n`);
    return {};
  });
  h.onExec('mv', () => {
    h.setFile(K0S_BIN, 'k0s-binary', 0o755);
    return {};
  });
  h.onExec('systemctl', (args) => (args[0] === 'show' ? { stdout: 'ActiveState=inactive\nMainPID=0\n' } : {}));
  h.onExec(K0S_BIN, (args) => {
    if (args[0] === 'install') h.setFile('/etc/systemd/system/k0sworker.service', '[Service]\n');
    return {};
  });
  return h;
}

async function pass(h: FakeHost, env: Record<string, string>, lines: string[]) {
  const cfg = await loadConfig(h, { env });
  const shipper = new StartupLogShipper();
  const log = createLogger({
    level: 'debug',
    write: (l) => {
      shipper.push(l);
      lines.push(l);
    },
  });
  const ac = new AbortController();
  const hooks = lifecycleHooks({ host: h, cfg, log, shipper, signal: ac.signal, once: true, underSystemd: false });
  // Joining: the fake k0sworker "joins" when started.
  h.onExec('systemctl', (args) => {
    if (args[0] === 'start') h.setFile(KUBELET_CONF, 'apiVersion: v1\n', 0o600);
    return args[0] === 'show' ? { stdout: `ActiveState=${h.files.has(KUBELET_CONF) ? 'active' : 'inactive'}\nMainPID=0\n` } : {};
  });
  // The Node read is stubbed here (no kubelet runs): test/integration/kube-node.test.ts reads a real one.
  const readNode = async (_ctx: unknown, name: string) => ({ node: name, ready: 'True' as const, reason: 'KubeletReady', checkedAt: new Date().toISOString() });
  const code = await runDaemon(
    { host: h, cfg, log, steps: [registerStep(), k0sStep({ readNode })], once: true, afterPass: hooks.afterPass, teardown: hooks.teardown },
    ac.signal,
  );
  await hooks.stopped();
  return { code, shipper };
}

let env: Record<string, string>;

beforeAll(async () => {
  emu = new ControlPlaneEmulator({ stateDir: mkdtempSync(path.join(tmpdir(), 'emu-daemon-')), listen: '127.0.0.1' });
  info = await emu.start();
  env = {
    API_URL: info.apiUrl,
    ORG_ID: info.orgId,
    CLUSTER_ID: info.clusterId,
    EDGE_LOCATION_ID: info.locationId,
    INITD_BOOTSTRAP_TOKEN: emu.issueBootstrapToken(),
    INITD_CA_FILE: info.caFile,
    INITD_STATE_DIR: STATE,
    INITD_KUBERNETES_LABELS: 'env=prod,example.com/rack=r12',
    INITD_KUBERNETES_TAINTS: 'dedicated=gpu:NoSchedule,spot:NoExecute',
  };
});

afterAll(async () => {
  await emu?.stop();
});

describe('daemon against the control-plane emulator', () => {
  const host = () => shared.h;
  const shared = {} as { h: NetFakeHost; lines: string[] };

  it('a fresh node registers, pins the cluster CA, installs k0s and joins; secrets stay out of argv and logs', async () => {
    shared.h = nodeHost();
    shared.lines = [];
    const { code, shipper } = await pass(host(), env, shared.lines);
    expect(code, shared.lines.join('')).toBe(0);

    const edges = [...emu.edges.values()];
    expect(edges).toHaveLength(1);
    const edge = edges[0]!;
    expect(edge.machineId).toBe(MACHINE_ID);
    expect(edge.request.kubernetesLabels).toEqual({ env: 'prod', 'example.com/rack': 'r12', nodeID: MACHINE_ID });
    expect(edge.request.kubernetesTaints).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'spot', effect: 'NoExecute' },
    ]);

    // State: 0600 files in the state dir; the key only after acceptance.
    const reg = host().files.get(`${STATE}/${REGISTER_FILE}`)!;
    expect(reg.mode).toBe(0o600);
    expect(host().files.get(`${STATE}/wireguard/private.key`)?.mode).toBe(0o600);
    expect(host().files.get(K0S_TOKEN_FILE)?.mode).toBe(0o600);
    const saved = JSON.parse(reg.data) as {
      edgeToken: string;
      k0s: { joinToken: string };
      node: { providerID: string; name: string };
      logs: { apiKey: string };
    };

    // k0s install worker: merged labels, taints, node IP on the tunnel, provider ID.
    const install = host().execLines().find((l) => l.startsWith(`${K0S_BIN} install worker`))!;
    expect(install).toContain(`--token-file ${K0S_TOKEN_FILE}`);
    expect(install).toMatch(/--labels=[^ ]*env=prod/);
    expect(install).toContain('omni.cast.ai/edge-id=');
    expect(install).toContain('--taints=dedicated=gpu:NoSchedule,spot:NoExecute');
    expect(install).toMatch(/--kubelet-extra-args=--node-ip=100\.96\.0\.\d+ --hostname-override=cast-[0-9a-f-]+ --provider-id=castai-omni:\/\//);
    expect(install).toContain(`--provider-id=${saved.node.providerID}`);

    // The CA pin hit the emulator's kube listener and matched.
    expect(shared.lines.join('')).toMatch(/presents the cluster CA sha256 [0-9a-f]{64}/);

    // Secrets: never in argv, never in a log line.
    const secrets = [
      env.INITD_BOOTSTRAP_TOKEN!,
      saved.edgeToken,
      saved.k0s.joinToken,
      saved.logs.apiKey,
      host().files.get(`${STATE}/wireguard/private.key`)!.data.trim(),
    ];
    for (const c of host().calls) if (c.kind === 'exec') for (const s of secrets) expect(c.args.join(' ')).not.toContain(s);
    for (const s of secrets) expect(shared.lines.join('')).not.toContain(s);

    // Status reported (phase READY) and the startup logs shipped with the scoped key.
    expect(edge.statusReports.at(-1)?.body.phase).toBe('READY');
    expect(shipper.sent).toBeGreaterThan(0);
    expect(edge.logEvents.some((e) => String(e.message).includes('[1/2] register'))).toBe(true);
    const logPosts = emu.requests.filter((r) => r.endpoint === 'logs');
    expect(logPosts.length).toBeGreaterThan(0);
    expect(logPosts.every((r) => r.credential === 'log-key')).toBe(true);
  });

  it('a re-run (reboot) does not re-register and changes nothing on the host', async () => {
    const before = emu.edges.values().next().value!.registrations;
    const h = host();
    // The first re-run records the edge's new phase (READY) in register.json; the next is a pure no-op.
    expect((await pass(h, env, shared.lines)).code).toBe(0);
    h.calls.length = 0;
    const { code } = await pass(h, env, shared.lines);
    expect(code).toBe(0);
    expect(emu.edges.values().next().value!.registrations).toBe(before);
    const journal = `${STATE}/${JOURNAL_FILE}`;
    const m = h.mutations(new Set(['systemctl', 'sha256sum'])).filter((c) => !(c.kind === 'write' && c.path === journal));
    expect(m, JSON.stringify(m).slice(0, 600)).toEqual([]);
  });

  it('changed labels/taints re-register the same edge; the control plane patches the Node; k0sworker is neither stopped nor reinstalled (issue 14 item 3)', async () => {
    const h = host();
    const edge = emu.edges.values().next().value!;
    const saved = JSON.parse(h.files.get(`${STATE}/${REGISTER_FILE}`)!.data) as {
      node: { name: string; labels: Record<string, string> };
      k0s: { joinToken: string };
    };
    // The kubelet's first registration (what the k0s double posts when k0sworker first starts).
    const { decodeJoinToken } = await import('../../agent/k0s/token.ts');
    const { request, Agent } = await import('undici');
    const join = await request(`${info.kubeApi}/k0s-test-double/v1/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${decodeJoinToken(saved.k0s.joinToken).bootstrapToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        nodeName: saved.node.name,
        hostname: 'edge-test',
        labels: { ...(edge.request.kubernetesLabels as Record<string, string>), ...saved.node.labels },
        taints: edge.request.kubernetesTaints,
        csr: kubeletCsrPem(mkdtempSync(path.join(tmpdir(), 'csr-')), saved.node.name),
      }),
      dispatcher: new Agent({ connect: { ca: emu.clusterCaPem } }),
    });
    expect(join.statusCode).toBe(201);
    await join.body.dump();
    h.calls.length = 0;
    const lines: string[] = [];
    const { code } = await pass(h, { ...env, INITD_KUBERNETES_LABELS: 'env=staging', INITD_KUBERNETES_TAINTS: 'spot:NoExecute' }, lines);
    expect(code, lines.join('')).toBe(0);
    expect(emu.edges.size).toBe(1);
    expect(edge.registrations).toBe(2);
    // No restart, no reinstall: the kubelet would ignore the new flags for its existing Node.
    const exec = h.execLines();
    expect(exec.filter((l) => /^systemctl (stop|start|restart) k0sworker/.test(l) || l.startsWith(`${K0S_BIN} install`))).toEqual([]);
    // The control plane applied them to the Node.
    const node = emu.nodes.get(saved.node.name)!;
    expect(node.labels).toMatchObject({ env: 'staging', nodeID: MACHINE_ID, ...saved.node.labels });
    expect(node.labels['example.com/rack']).toBeUndefined();
    expect(node.taints).toEqual([{ key: 'spot', effect: 'NoExecute' }]);
    // status reports what the control plane accepted, with nothing pending.
    const { controlPlaneStatus } = await import('../../agent/commands/status-control-plane.ts');
    const { StateStore } = await import('../../agent/state/store.ts');
    const st = await controlPlaneStatus(new StateStore(h, STATE));
    expect(st.nodeLabels).toMatchObject({ labels: { env: 'staging', nodeID: MACHINE_ID }, taints: [{ key: 'spot', effect: 'NoExecute' }], pending: null });
  });

  it('an expired bootstrap token on a fresh node: clear message, and nothing written', async () => {
    const h = nodeHost();
    const lines: string[] = [];
    emu.expire('bootstrap-tokens');
    const { code } = await pass(h, { ...env, INITD_STATE_DIR: '/var/lib/other-state' }, lines);
    expect(code).toBe(1);
    expect(lines.join('')).toMatch(/bootstrap token/i);
    expect(lines.join('')).toMatch(/fetch a fresh init script/);
    // Only the journal (our own bookkeeping) was written: no key, no registration, no k0s.
    const writes = h
      .mutations(new Set(['systemctl', 'sha256sum', 'nvidia-smi']))
      .filter((c) => !(c.kind === 'write' && c.path.endsWith('/journal.json')) && c.kind !== 'mkdir');
    expect(writes, JSON.stringify(writes)).toEqual([]);
  });

  it('DELETE by the operator: the next pass tears down, reports DELETED and forgets the edge', async () => {
    const h = host();
    const edge = emu.edges.values().next().value!;
    const { request, Agent } = await import('undici');
    const res = await request(
      `${info.baseUrl}/v2beta/organizations/${info.orgId}/clusters/${info.clusterId}/edge-locations/${info.locationId}/edges/${edge.id}`,
      {
        method: 'DELETE',
        headers: { 'X-API-Key': info.apiKey },
        dispatcher: new Agent({ connect: { ca: readFileSync(info.caFile, 'utf8') } }),
      },
    );
    await res.body.text();
    expect(res.statusCode).toBeLessThan(300);
    h.calls.length = 0;
    h.onExec('umount', {});
    h.onExec('ip', { exitCode: 1, stderr: 'Cannot find device "wg0"' });
    h.onExec('wg', { exitCode: 1, stderr: 'Unable to access interface: No such device' });
    h.onExec('lsblk', { stdout: '{"blockdevices": []}' });
    h.onExec('pvs', { stdout: '{"report":[{"pv":[]}]}' });
    h.onExec('vgs', { stdout: '{"report":[{"vg":[]}]}' });
    h.onExec('lvs', { stdout: '{"report":[{"lv":[]}]}' });
    const dl: string[] = [];
    // The bootstrap token expired in the previous test and the labels differ from the saved
    // registration: re-registration is refused, the agent keeps its registration and still sees the DELETE.
    const { code } = await pass(h, env, dl);
    expect(dl.join('')).toMatch(/re-registration refused/);
    expect(code, dl.join('')).toBe(0);
    const lines = h.execLines();
    expect(lines.indexOf('systemctl stop k0sworker.service')).toBeLessThan(lines.indexOf(`${K0S_BIN} reset`));
    const phases = edge.statusReports.map((r) => r.body.phase);
    expect(phases.slice(-2)).toEqual(['TEARING_DOWN', 'DELETED']);
    expect(h.files.has(`${STATE}/${REGISTER_FILE}`)).toBe(false);
    expect((JSON.parse(h.files.get(`${STATE}/${JOURNAL_FILE}`)!.data) as { phase?: string }).phase).toBe('DELETED');
  });
});
