/**
 * A two-namespace WireGuard lab on this machine (no kernel WireGuard here, so
 * both ends run wireguard-go over TUN):
 *
 *   netns "agent" ── veth 10.231.0.1/24 ══ 10.231.0.2/24 veth ── netns "gateway"
 *        wga<id> 100.96.0.7/32  (the agent's module)      wgg<id> 100.96.0.1/32 (test-driven peer)
 *
 * Every name carries a per-run id so parallel runs cannot collide (the
 * wireguard-go UAPI sockets in /var/run/wireguard/ are not per-namespace).
 * All traffic stays inside the two namespaces. `cleanup()` kills only the
 * processes inside our namespaces (by pid), deletes the namespaces and the
 * temp files; it is safe to call more than once and after a partial setup.
 * Test code: child_process is allowed here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePrivateKey, publicKeyFromPrivate } from '../../agent/wireguard/keys.ts';
import { notRoot } from '../helpers/needs.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const DRIVER = path.join(ROOT, 'test/integration/wireguard-driver.ts');

export const AGENT_UNDERLAY = '10.231.0.1';
export const GW_UNDERLAY = '10.231.0.2';
export const GW_UNDERLAY_2 = '10.231.0.3';
export const AGENT_TUN = '100.96.0.7';
export const GW_TUN = '100.96.0.1';
export const GW_HOSTNAME = 'gw.wglab.test';

export async function sh(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; input?: string } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
      if (err && !opts.allowFail) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve({ stdout, stderr, code });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Reasons this machine cannot run the lab (empty = can). */
export async function labPrerequisites(): Promise<string[]> {
  const missing: string[] = [];
  missing.push(...notRoot('network namespaces and TUN devices'));
  for (const tool of ['ip', 'wg', 'wireguard-go', 'ping']) {
    const r = await sh('sh', ['-c', `command -v ${tool}`], { allowFail: true });
    if (r.code !== 0) missing.push(`${tool} not installed (make apt-deps installs wireguard-tools wireguard-go iproute2 iputils-ping)`);
  }
  return missing;
}

export interface DriverRun {
  code: number;
  lines: string[]; // every stdout line (pino JSON log lines + RESULT/ERROR)
  stderr: string;
  result?: unknown;
  error?: { message: string; remediation?: string };
}

interface LabNames {
  nsAgent: string;
  nsGw: string;
  ifAgent: string;
  ifGw: string;
  /** Someone else's interface in the agent namespace (startForeign). */
  ifForeign?: string;
  tmp: string;
}

/** One marker per running lab, so a run killed before its cleanup (SIGKILL, OOM) is cleaned by the next one. */
const MARKER_DIR = '/run/wglab';

/** Kill the processes inside these namespaces (by pid), delete the namespaces, their hosts file, sockets and temp dir. */
async function cleanupNames(n: LabNames): Promise<void> {
  for (const ns of [n.nsAgent, n.nsGw]) {
    const pids = await sh('ip', ['netns', 'pids', ns], { allowFail: true });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  for (const ns of [n.nsAgent, n.nsGw]) {
    const pids = await sh('ip', ['netns', 'pids', ns], { allowFail: true });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await sh('ip', ['netns', 'del', ns], { allowFail: true });
  }
  rmSync(`/etc/netns/${n.nsAgent}`, { recursive: true, force: true });
  for (const f of [n.ifAgent, n.ifGw, ...(n.ifForeign ? [n.ifForeign] : [])]) rmSync(`/var/run/wireguard/${f}.sock`, { force: true });
  rmSync(n.tmp, { recursive: true, force: true });
}

/** Clean labs whose creating test process is gone (only namespaces named in the markers our runs wrote). */
export async function reapStaleLabs(): Promise<void> {
  let files: string[];
  try {
    files = readdirSync(MARKER_DIR);
  } catch {
    return;
  }
  for (const f of files) {
    const p = path.join(MARKER_DIR, f);
    try {
      const m = JSON.parse(readFileSync(p, 'utf8')) as { pid: number; names: LabNames };
      try {
        process.kill(m.pid, 0);
        continue; // still running: not ours to touch
      } catch {
        /* its test process is gone */
      }
      await cleanupNames(m.names);
      rmSync(p, { force: true });
    } catch {
      /* unreadable marker: leave it */
    }
  }
}

export class WgLab {
  readonly id: string;
  readonly nsAgent: string;
  readonly nsGw: string;
  readonly ifAgent: string;
  readonly ifGw: string;
  readonly ifForeign: string;
  readonly tmp: string;
  readonly stateDir: string;
  readonly gwKeyFile: string;
  readonly gwPublicKey: string;
  /** every stdout/stderr line any driver run printed (for the secret scan) */
  readonly allOutput: string[] = [];
  private readonly children = new Set<ChildProcess>();

  constructor() {
    this.id = `${(process.pid % 1000).toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`.slice(0, 6);
    this.nsAgent = `wglab-a-${this.id}`;
    this.nsGw = `wglab-g-${this.id}`;
    this.ifAgent = `wga${this.id}`;
    this.ifGw = `wgg${this.id}`;
    this.ifForeign = `wgf${this.id}`;
    this.tmp = mkdtempSync(path.join(os.tmpdir(), 'wglab-'));
    this.stateDir = path.join(this.tmp, 'state');
    this.gwKeyFile = path.join(this.tmp, 'gateway.key');
    const gwKey = generatePrivateKey();
    writeFileSync(this.gwKeyFile, `${gwKey}\n`, { mode: 0o600 });
    this.gwPublicKey = publicKeyFromPrivate(gwKey);
  }

  async setup(): Promise<void> {
    await reapStaleLabs();
    mkdirSync(MARKER_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(MARKER_DIR, `${this.id}.json`), JSON.stringify({ pid: process.pid, names: this.names() }));
    const vA = `vwa${this.id}`;
    const vG = `vwg${this.id}`;
    await sh('ip', ['netns', 'add', this.nsAgent]);
    await sh('ip', ['netns', 'add', this.nsGw]);
    await sh('ip', ['link', 'add', vA, 'type', 'veth', 'peer', 'name', vG]);
    await sh('ip', ['link', 'set', vA, 'netns', this.nsAgent]);
    await sh('ip', ['link', 'set', vG, 'netns', this.nsGw]);
    await sh('ip', ['-n', this.nsAgent, 'addr', 'add', `${AGENT_UNDERLAY}/24`, 'dev', vA]);
    await sh('ip', ['-n', this.nsGw, 'addr', 'add', `${GW_UNDERLAY}/24`, 'dev', vG]);
    await sh('ip', ['-n', this.nsGw, 'addr', 'add', `${GW_UNDERLAY_2}/24`, 'dev', vG]);
    for (const [ns, dev] of [
      [this.nsAgent, vA],
      [this.nsGw, vG],
    ] as const) {
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    // The agent's namespace resolves the gateway by name: `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts.
    this.setGatewayHostsEntry(GW_UNDERLAY);
  }

  setGatewayHostsEntry(ip: string): void {
    const dir = `/etc/netns/${this.nsAgent}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 localhost\n${ip} ${GW_HOSTNAME}\n`);
  }

  /** The gateway peer: wireguard-go in its own namespace, configured with `wg` directly (test side). */
  async startGateway(agentPublicKey: string, port = 51840): Promise<void> {
    await sh('ip', ['netns', 'exec', this.nsGw, 'wireguard-go', this.ifGw]);
    await sh('ip', [
      'netns',
      'exec',
      this.nsGw,
      'wg',
      'set',
      this.ifGw,
      'private-key',
      this.gwKeyFile,
      'listen-port',
      String(port),
      'peer',
      agentPublicKey,
      'allowed-ips',
      `${AGENT_TUN}/32`,
    ]);
    await sh('ip', ['-n', this.nsGw, 'addr', 'add', `${GW_TUN}/32`, 'dev', this.ifGw]);
    await sh('ip', ['-n', this.nsGw, 'link', 'set', this.ifGw, 'up']);
    await sh('ip', ['-n', this.nsGw, 'route', 'replace', `${AGENT_TUN}/32`, 'dev', this.ifGw]);
  }

  /**
   * Someone else's WireGuard interface in the agent namespace, set up the way wg-quick would: its
   * own key, listen port 51820, one peer, 192.168.77.2/24 and a route to the peer's network.
   */
  async startForeign(): Promise<void> {
    const key = path.join(this.tmp, 'foreign.key');
    writeFileSync(key, `${generatePrivateKey()}\n`, { mode: 0o600 });
    const peer = publicKeyFromPrivate(generatePrivateKey());
    await sh('ip', ['netns', 'exec', this.nsAgent, 'wireguard-go', this.ifForeign]);
    await sh('ip', [
      'netns',
      'exec',
      this.nsAgent,
      'wg',
      'set',
      this.ifForeign,
      'private-key',
      key,
      'listen-port',
      '51820',
      'peer',
      peer,
      'allowed-ips',
      '10.99.0.0/16,192.168.77.1/32',
      'endpoint',
      `${GW_UNDERLAY}:51820`,
    ]);
    rmSync(key, { force: true });
    await sh('ip', ['-n', this.nsAgent, 'addr', 'add', '192.168.77.2/24', 'dev', this.ifForeign]);
    await sh('ip', ['-n', this.nsAgent, 'link', 'set', this.ifForeign, 'mtu', '1420', 'up']);
    await sh('ip', ['-n', this.nsAgent, 'route', 'add', '10.99.0.0/16', 'dev', this.ifForeign]);
  }

  /** The foreign interface as its owner sees it: config (key, peers), link and addresses, every route. */
  async foreignSnapshot(): Promise<string> {
    const out: string[] = [];
    for (const args of [
      ['wg', 'showconf', this.ifForeign],
      ['ip', '-d', 'addr', 'show', 'dev', this.ifForeign],
      ['ip', 'route', 'show', 'table', 'all', 'dev', this.ifForeign],
    ]) {
      const r = await this.inAgent(...args);
      out.push(`$ ${args.join(' ')} (exit ${r.code})`, r.stdout, r.stderr);
    }
    return out.join('\n');
  }

  async gw(...args: string[]): Promise<string> {
    return (await sh('ip', ['netns', 'exec', this.nsGw, ...args])).stdout;
  }

  async inAgent(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return sh('ip', ['netns', 'exec', this.nsAgent, ...args], { allowFail: true });
  }

  spec(over: { allowedIPs?: string[]; endpoint?: string } = {}): unknown {
    return {
      address: `${AGENT_TUN}/32`,
      listenPort: 51840,
      mtu: 1380,
      peers: [
        {
          publicKey: this.gwPublicKey,
          endpoint: over.endpoint ?? `${GW_HOSTNAME}:51840`,
          allowedIPs: over.allowedIPs ?? [`${GW_TUN}/32`],
          persistentKeepalive: 25,
        },
      ],
    };
  }

  /** Run the agent's WireGuard module inside the agent namespace (real RealHost, real tools). */
  async driver(mode: string, extra: Record<string, unknown> = {}): Promise<DriverRun> {
    const argsFile = path.join(this.tmp, `args-${mode}-${Date.now()}.json`);
    writeFileSync(argsFile, JSON.stringify({ stateDir: this.stateDir, iface: this.ifAgent, ...extra }), { mode: 0o600 });
    const child = spawn('ip', ['netns', 'exec', this.nsAgent, process.execPath, DRIVER, mode, argsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    this.children.delete(child);
    rmSync(argsFile, { force: true });
    const lines = out.split('\n').filter(Boolean);
    this.allOutput.push(...lines, ...err.split('\n'));
    const res = lines.find((l) => l.startsWith('RESULT '));
    const er = lines.find((l) => l.startsWith('ERROR '));
    return {
      code,
      lines,
      stderr: err,
      ...(res ? { result: JSON.parse(res.slice(7)) as unknown } : {}),
      ...(er ? { error: JSON.parse(er.slice(6)) as { message: string; remediation?: string } } : {}),
    };
  }

  /**
   * Continuous ping from the agent namespace: `count` pings every `intervalS`.
   * `done` resolves when ping exits on its own (all replies in or timed out), so
   * the loss count is exact; `stop()` interrupts early.
   */
  startPing(
    target: string,
    count: number,
    intervalS = 0.05,
  ): { done: Promise<{ sent: number; received: number; output: string; endedAt: number }>; stop: () => void } {
    const child = spawn('ip', ['netns', 'exec', this.nsAgent, 'ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', target], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const done = new Promise<{ sent: number; received: number; output: string; endedAt: number }>((resolve) =>
      child.on('close', () => {
        this.children.delete(child);
        const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
        resolve({ sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output: out, endedAt: Date.now() });
      }),
    );
    // `ip netns exec` execs ping, so this pid is ping itself.
    return { done, stop: () => void child.kill('SIGINT') };
  }

  /** Does this kernel have WireGuard? (probed in the agent namespace, then removed) */
  async kernelHasWireguard(): Promise<boolean> {
    const r = await sh('ip', ['-n', this.nsAgent, 'link', 'add', `wgp${this.id}`, 'type', 'wireguard'], { allowFail: true });
    if (r.code !== 0) return false;
    await sh('ip', ['-n', this.nsAgent, 'link', 'del', `wgp${this.id}`], { allowFail: true });
    return true;
  }

  async ifindex(): Promise<number | undefined> {
    const r = await sh('ip', ['-n', this.nsAgent, '-j', 'link', 'show', 'dev', this.ifAgent], { allowFail: true });
    if (r.code !== 0) return undefined;
    return (JSON.parse(r.stdout) as Array<{ ifindex: number }>)[0]?.ifindex;
  }

  names(): LabNames {
    return { nsAgent: this.nsAgent, nsGw: this.nsGw, ifAgent: this.ifAgent, ifGw: this.ifGw, ifForeign: this.ifForeign, tmp: this.tmp };
  }

  /** Kill our processes (by pid, only those inside our namespaces), delete namespaces and temp files. */
  async cleanup(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    this.children.clear();
    await cleanupNames(this.names());
    rmSync(path.join(MARKER_DIR, `${this.id}.json`), { force: true });
  }

  /** Are any of our wireguard-go processes or namespaces left? (for the cleanup assertion) */
  async leftovers(): Promise<string[]> {
    const left: string[] = [];
    const ns = await sh('ip', ['netns', 'list'], { allowFail: true });
    for (const n of [this.nsAgent, this.nsGw]) if (ns.stdout.split('\n').some((l) => l.split(' ')[0] === n)) left.push(`netns ${n}`);
    const ps = await sh('ps', ['-eo', 'pid,stat,args'], { allowFail: true });
    for (const line of ps.stdout.split('\n')) {
      if (/ Z/.test(line)) continue; // zombies of already-exited daemons (PID 1 here does not reap)
      if ([this.ifAgent, this.ifGw, this.ifForeign].some((i) => line.includes(`wireguard-go ${i}`))) left.push(line.trim());
    }
    return left;
  }
}

