/**
 * Real WireGuard between two network namespaces on this machine (wireguard-go
 * over TUN on both ends; this kernel has no WireGuard module). The agent side
 * is the agent's own module (RealHost, real ip/wg/wireguard-go) run inside its
 * namespace by test/integration/wireguard-driver.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeNeeding } from '../helpers/needs.ts';
import { GW_HOSTNAME, GW_TUN, GW_UNDERLAY, GW_UNDERLAY_2, labPrerequisites, WgLab } from './wireguard-lab.ts';

const missing = await labPrerequisites();

interface ReconcileResult {
  actions: Array<{ kind: string; data: Record<string, unknown> }>;
  beforeIfindex: number | null;
  afterIfindex: number | null;
  userspace: boolean;
  applyMs: number;
  handshakeMs: number | null;
}

/** Poll every process's argv (/proc/*\/cmdline) from a separate busy process while `during` runs. */
async function watchCmdlines<T>(during: () => Promise<T>): Promise<{ value: T; cmdlines: Set<string> }> {
  const script = `
    const fs = require('node:fs'); const seen = new Set(); let stop = false;
    process.on('SIGTERM', () => { stop = true; });
    (function loop() {
      for (let i = 0; i < 200 && !stop; i++) {
        for (const p of fs.readdirSync('/proc')) {
          if (!/^\\d+$/.test(p)) continue;
          try { const c = fs.readFileSync('/proc/' + p + '/cmdline', 'utf8'); if (c) seen.add(c.split('\\0').join(' ').trim()); } catch {}
        }
      }
      if (stop) { process.stdout.write(JSON.stringify([...seen])); process.exit(0); }
      setImmediate(loop);
    })();`;
  const poller = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  poller.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const closed = new Promise<void>((r) => poller.on('close', () => r()));
  await new Promise((r) => setTimeout(r, 150)); // let it start scanning
  try {
    const value = await during();
    return { value, cmdlines: await stopPoller() };
  } catch (e) {
    await stopPoller();
    throw e;
  }
  async function stopPoller(): Promise<Set<string>> {
    poller.kill('SIGTERM');
    await closed;
    return new Set(out ? (JSON.parse(out) as string[]) : []);
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(p, ...filesUnder(p));
    else out.push(p);
  }
  return out;
}

describeNeeding('WireGuard agent module ↔ gateway across two network namespaces (wireguard-go)', missing, () => {
  let lab: WgLab;
  let agentKey = '';
  let agentPub = '';
  let firstIfindex: number | undefined;
  let kernelWg = false;
  const seenCmdlines = new Set<string>();

  beforeAll(async () => {
    lab = new WgLab();
    await lab.setup();
    kernelWg = await lab.kernelHasWireguard();
    const k = await lab.driver('key');
    expect(k.error).toBeUndefined();
    agentPub = (k.result as { publicKey: string }).publicKey;
    agentKey = readFileSync(path.join(lab.stateDir, 'wireguard/private.key'), 'utf8').trim();
    await lab.startGateway(agentPub);
  });

  afterAll(async () => {
    if (!lab) return;
    await lab.cleanup();
    expect(await lab.leftovers()).toEqual([]);
  });

  it('first reconcile creates the interface (userspace fallback), a handshake completes and ping crosses the tunnel', async () => {
    const { value: r, cmdlines } = await watchCmdlines(() => lab.driver('reconcile', { spec: lab.spec(), waitHandshakeMs: 10_000 }));
    for (const c of cmdlines) seenCmdlines.add(c);
    expect(r.error).toBeUndefined();
    const res = r.result as ReconcileResult;
    expect(res.actions.map((a) => a.kind)).toEqual([
      'wireguard.link.create',
      'wireguard.key.set',
      'wireguard.listenport.set',
      'wireguard.peer.set',
      'wireguard.addr.add',
      'wireguard.mtu.set',
      'wireguard.link.up',
      'wireguard.route.replace',
    ]);
    // The hostname endpoint was resolved (via the namespace's /etc/hosts) and set as an IP.
    expect(res.actions[3]!.data).toMatchObject({ endpoint: `${GW_UNDERLAY}:51840`, persistentKeepalive: 25, allowedIPs: [`${GW_TUN}/32`] });
    expect(res.userspace).toBe(!kernelWg); // this CI kernel has no WireGuard: wireguard-go
    expect(res.handshakeMs).not.toBeNull();
    expect(res.handshakeMs!).toBeLessThan(5_000);
    if (!kernelWg) expect(r.lines.join('\n')).toMatch(/falling back to wireguard-go/);
    firstIfindex = res.afterIfindex!;
    expect(firstIfindex).toBeGreaterThan(0);

    let ok = false;
    for (let i = 0; i < 5 && !ok; i++) ok = (await lab.inAgent('ping', '-n', '-c', '1', '-W', '2', GW_TUN)).code === 0;
    expect(ok).toBe(true);

    // What the interface looks like now (inside the namespace): listen port, keepalive, MTU, routes, no default route.
    const dump = (await lab.inAgent('wg', 'show', lab.ifAgent, 'dump')).stdout.split('\n');
    expect(dump[0]!.split('\t').slice(1)).toEqual([agentPub, '51840', 'off']);
    expect(dump[1]!.split('\t')[7]).toBe('25');
    const routes = (await lab.inAgent('ip', '-j', 'route', 'show')).stdout;
    expect((JSON.parse(routes) as Array<{ dev?: string; dst: string }>).filter((x) => x.dev === lab.ifAgent).map((x) => x.dst)).toEqual([GW_TUN]);
    expect((await lab.inAgent('ip', 'rule', 'show')).stdout).not.toMatch(/fwmark/);
    expect((await lab.inAgent('ip', '-j', 'link', 'show', 'dev', lab.ifAgent)).stdout).toContain('"mtu":1380');
  });

  it('a second reconcile with nothing changed does nothing (no command that changes the host)', async () => {
    const r = await lab.driver('reconcile', { spec: lab.spec() });
    const res = r.result as ReconcileResult;
    expect(res.actions).toEqual([]);
    expect(res.afterIfindex).toBe(firstIfindex);
  });

  it("changing the gateway's allowed IPs: applied with wg set + ip route, same ifindex, ping keeps flowing", async () => {
    // The gateway now also serves 10.245.0.1 (think: a pod CIDR behind it).
    await lab.gw('ip', 'addr', 'add', '10.245.0.1/32', 'dev', lab.ifGw);
    const N = 160; // 8 s of pings every 50 ms: long enough to span the change even on a busy machine
    const ping = lab.startPing(GW_TUN, N);
    await new Promise((r) => setTimeout(r, 700));
    const { value: r, cmdlines } = await watchCmdlines(() => lab.driver('reconcile', { spec: lab.spec({ allowedIPs: [`${GW_TUN}/32`, '10.245.0.0/16'] }) }));
    const t1 = Date.now();
    for (const c of cmdlines) seenCmdlines.add(c);
    const p = await ping.done;
    expect(p.endedAt).toBeGreaterThan(t1); // the pings really spanned the change
    expect(p.sent).toBe(N);
    expect(p.received).toBe(N); // zero loss
    const res = r.result as ReconcileResult;
    expect(res.actions.map((a) => [a.kind, a.data])).toEqual([
      ['wireguard.peer.set', { publicKey: lab.gwPublicKey, allowedIPs: ['10.245.0.0/16', `${GW_TUN}/32`] }],
      ['wireguard.route.replace', { dst: '10.245.0.0/16' }],
    ]);
    expect(res.beforeIfindex).toBe(firstIfindex);
    expect(res.afterIfindex).toBe(firstIfindex);
    expect((await lab.inAgent('ping', '-n', '-c', '1', '-W', '2', '10.245.0.1')).code).toBe(0);
  });

  it('changing the endpoint port: applied with wg set endpoint only, same ifindex, traffic resumes', async () => {
    // No traffic while the gateway moves, so WireGuard's own roaming cannot learn the new port first
    // (with traffic it would, and plan would then rightly find nothing to do).
    await lab.gw('wg', 'set', lab.ifGw, 'listen-port', '51841');
    const r = await lab.driver('reconcile', { spec: lab.spec({ allowedIPs: [`${GW_TUN}/32`, '10.245.0.0/16'], endpoint: `${GW_HOSTNAME}:51841` }) });
    const res = r.result as ReconcileResult;
    expect(res.actions.map((a) => [a.kind, a.data])).toEqual([['wireguard.peer.set', { publicKey: lab.gwPublicKey, endpoint: `${GW_UNDERLAY}:51841` }]]);
    expect(res.beforeIfindex).toBe(firstIfindex);
    expect(res.afterIfindex).toBe(firstIfindex);
    const p = await lab.startPing(GW_TUN, 20).done;
    expect(p.received).toBe(20);
    const st = await lab.driver('status');
    expect(st.result).toMatchObject({ latestHandshakeSeconds: expect.any(Number) });
    expect((st.result as { rxBytes: number }).rxBytes).toBeGreaterThan(0);
  });

  it('the gateway name moves to another IP: endpoint updated under continuous ping, no loss, same ifindex', async () => {
    lab.setGatewayHostsEntry(GW_UNDERLAY_2); // gw.wglab.test now resolves to the gateway's second address
    const N = 160; // 8 s of pings every 50 ms: long enough to span the change even on a busy machine
    const ping = lab.startPing(GW_TUN, N);
    await new Promise((r) => setTimeout(r, 700));
    const r = await lab.driver('reconcile', { spec: lab.spec({ allowedIPs: [`${GW_TUN}/32`, '10.245.0.0/16'], endpoint: `${GW_HOSTNAME}:51841` }) });
    const t1 = Date.now();
    const p = await ping.done;
    expect(p.endedAt).toBeGreaterThan(t1);
    expect(p.sent).toBe(N);
    expect(p.received).toBe(N); // zero loss while the endpoint moves
    const res = r.result as ReconcileResult;
    expect(res.actions.map((a) => [a.kind, a.data])).toEqual([['wireguard.peer.set', { publicKey: lab.gwPublicKey, endpoint: `${GW_UNDERLAY_2}:51841` }]]);
    expect(res.afterIfindex).toBe(firstIfindex);
    const dump = (await lab.inAgent('wg', 'show', lab.ifAgent, 'endpoints')).stdout;
    expect(dump).toContain(`${GW_UNDERLAY_2}:51841`);
  });

  it('health re-resolve: only after 135 s without handshake, only when the IP changed (real DNS via the netns hosts file)', async () => {
    lab.setGatewayHostsEntry(GW_UNDERLAY);
    const spec = lab.spec({ allowedIPs: [`${GW_TUN}/32`, '10.245.0.0/16'], endpoint: `${GW_HOSTNAME}:51841` });
    // Handshake is fresh: nothing is resolved or set.
    const fresh = await lab.driver('reresolve', { spec });
    expect(fresh.result).toEqual([expect.objectContaining({ outcome: 'fresh' })]);
    // Pretend the clock is 10 minutes ahead: the handshake is stale, the name now points elsewhere → endpoint set.
    const stale = await lab.driver('reresolve', { spec, nowSec: Date.now() / 1000 + 600 });
    expect(stale.result).toEqual([expect.objectContaining({ outcome: 'updated', endpoint: `${GW_UNDERLAY}:51841` })]);
    // Stale again but unchanged → nothing set.
    const same = await lab.driver('reresolve', { spec, nowSec: Date.now() / 1000 + 600 });
    expect(same.result).toEqual([expect.objectContaining({ outcome: 'unchanged' })]);
    expect(await lab.ifindex()).toBe(firstIfindex);
    expect((await lab.inAgent('ping', '-n', '-c', '1', '-W', '2', GW_TUN)).code).toBe(0);
  });

  it('secrets: the private key is in no log line, no argv seen in /proc/*/cmdline, no file looser than 0600', async () => {
    expect(agentKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const gwKey = readFileSync(lab.gwKeyFile, 'utf8').trim();
    const logs = lab.allOutput.join('\n');
    expect(logs.length).toBeGreaterThan(1000);
    expect(logs).toContain(agentPub); // the public key is logged, the private one never
    expect(logs).not.toContain(agentKey);
    expect(logs).not.toContain(gwKey);
    // The poller really saw the agent's commands (not an empty scan) ...
    const all = [...seenCmdlines];
    expect(all.some((c) => c.includes('wireguard-driver.ts'))).toBe(true);
    const agentTools = all.filter((c) => /^(wg|ip|wireguard-go) /.test(c) && c.includes(lab.ifAgent));
    console.info(
      `wireguard-netns: /proc poller saw ${all.length} distinct argv, ${agentTools.length} of them the agent's ip/wg/wireguard-go, e.g. ${agentTools.slice(0, 3).join(' | ')}`,
    );
    expect(agentTools.length).toBeGreaterThan(0);
    // ... and none of them carried the key.
    expect(all.filter((c) => c.includes(agentKey))).toEqual([]);
    // Files: the key file is 0600 in a 0700 directory; nothing under the state dir is looser than 0600.
    const keyFile = path.join(lab.stateDir, 'wireguard/private.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(keyFile)).mode & 0o777).toBe(0o700);
    for (const f of filesUnder(lab.stateDir)) {
      const st = statSync(f);
      if (st.isFile()) {
        expect({ f, mode: (st.mode & 0o777).toString(8) }).toEqual({ f, mode: '600' });
      }
    }
    // And no file under /tmp or /var/run/wireguard holds the key (wg and wireguard-go write none).
    for (const dir of ['/var/run/wireguard'].filter((d) => existsSync(d))) {
      for (const f of filesUnder(dir)) {
        if (statSync(f).isFile()) expect(readFileSync(f, 'utf8')).not.toContain(agentKey);
      }
    }
  });

  it("someone else's interface: INITD_WIREGUARD_INTERFACE naming it is refused; ours beside it carries on; byte-for-byte unchanged", async () => {
    await lab.startForeign();
    const before = await lab.foreignSnapshot();
    expect(before).toContain('192.168.77.2/24');
    expect(before).toContain('10.99.0.0/16');
    expect(before).toMatch(/\[Peer\]/);
    const r = await lab.driver('reconcile', {
      iface: lab.ifForeign,
      spec: lab.spec({ allowedIPs: [`${GW_TUN}/32`, '10.245.0.0/16'], endpoint: `${GW_HOSTNAME}:51841` }),
    });
    expect(r.result).toBeUndefined();
    expect(r.error?.message).toMatch(
      new RegExp(`^WireGuard interface ${lab.ifForeign} exists and was not created by castai-edge-initd .*1 peer.*192\\.168\\.77\\.2/24.*nothing was changed$`),
    );
    expect(r.error?.remediation).toMatch(/^set INITD_WIREGUARD_INTERFACE to a name no other interface uses/);
    expect(await lab.foreignSnapshot()).toBe(before);
    // The agent's own interface beside it: still ours, nothing to do.
    const own = await lab.driver('reconcile', { spec: lab.spec({ allowedIPs: [`${GW_TUN}/32`, '10.245.0.0/16'], endpoint: `${GW_HOSTNAME}:51841` }) });
    expect((own.result as ReconcileResult).actions).toEqual([]);
    expect(await lab.foreignSnapshot()).toBe(before);
  });

  it('down removes the interface and ends wireguard-go', async () => {
    const foreign = await lab.foreignSnapshot();
    const r = await lab.driver('down');
    expect(r.result).toEqual({ removed: [lab.ifAgent], leftAlone: [] });
    expect(await lab.ifindex()).toBeUndefined();
    await new Promise((res) => setTimeout(res, 300));
    expect((await lab.leftovers()).filter((l) => l.includes(lab.ifAgent))).toEqual([]);
    expect((await lab.driver('down')).result).toEqual({ removed: [], leftAlone: [] });
    expect(existsSync(path.join(lab.stateDir, 'wireguard/interface.json'))).toBe(false); // the record went with it
    expect(await lab.foreignSnapshot()).toBe(foreign);
    // Teardown told to use the foreign name leaves it alone too.
    const other = await lab.driver('down', { iface: lab.ifForeign });
    expect(other.result).toEqual({ removed: [], leftAlone: [{ iface: lab.ifForeign, why: 'castai-edge-initd has no record of creating an interface' }] });
    expect(await lab.foreignSnapshot()).toBe(foreign);
  });
});


