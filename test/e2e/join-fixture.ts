/**
 * Shared setup for the join e2e tests and `scripts/bench/join.ts` (TEST CODE).
 *
 *  - `startControlPlane(lab)`: test/e2e/join-control-plane.ts inside the lab namespace: the
 *    control-plane emulator on 10.77.0.1:443/8443/8132 plus the WireGuard gateway peer
 *    (wireguard-go, UDP 51840), optionally with a TLS impostor on :8443.
 *  - `prepareGuest(vm, cp)`: the guest trusts the emulator's CA (appended to the system bundle) and gets
 *    /root/edge.env (labels, taints, INITD_CA_FILE).
 *  - `oneLiner(cp)`: the documented operator command, byte for byte as the README shows it.
 *  - `agentLog(vm)` / `passes(lines)`: the agent's log lines from `journalctl -u -o json`, grouped
 *    into reconcile passes with each step's duration (the `[i/6] step: ... (1.23s)` lines).
 *  - `fileList(vm, dirs)`: path, type, mode, size and sha256 of every file under dirs (for
 *    before/after diffs).
 *  - `endState(vm, cp)`: the node's end state, normalized so two runs can be compared.
 *
 * Secrets never go into a guest command line from here: scripts travel through the lab channel
 * as files (lab-agent runs `bash <file>`), secrets to search for travel through the 9p share.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_IFACE } from '../../agent/wireguard/spec.ts';
import { parseTextBody, pinoLevel } from '../../agent/log/journal.ts';
import { agentBinary, Lab, REPO_ROOT, shq, type LabArch, type LabProcess, type Vm, type VmSpec } from './lab.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

export const UNIT = 'castai-edge-initd';
export const STATE_DIR = DEFAULT_STATE_DIR;
/** The agent's WireGuard interface (INITD_WIREGUARD_INTERFACE's default). */
export const WG_IFACE = DEFAULT_IFACE;
export const STEPS = ['preflight', 'register', 'storage', 'gpu', 'wireguard', 'k0s'] as const;
export const LABELS = 'env=e2e,example.com/rack=r12';
export const TAINTS = 'dedicated=edge:NoSchedule,spot:NoExecute';
/** The directories the bad-input and uninstall diffs cover. */
export const OUR_DIRS = ['/usr/local/bin', '/etc/systemd/system', '/etc/castai-edge-initd', '/var/lib/castai-edge-initd', '/etc/k0s', '/var/lib/k0s'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ control plane

export interface EdgeRec {
  id: string;
  name: string;
  machineId: string;
  phase: string;
  address: string;
  registrations: number;
  request: Record<string, unknown>;
  statusReports: Array<{ time: string; body: Record<string, unknown> }>;
  logEvents: Array<Record<string, unknown>>;
}
export interface NodeRec {
  nodeName: string;
  hostname: string;
  nodeIP?: string;
  providerID?: string;
  edgeId?: string;
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
  joins: number;
  heartbeats: number;
}
export interface ReqRec {
  seq: number;
  time: string;
  method: string;
  path: string;
  endpoint: string;
  status: number;
  credential: string;
  durationMs: number;
}
export interface Snapshot {
  edges: EdgeRec[];
  nodes: NodeRec[];
  requests: ReqRec[];
  peers: Record<string, string>;
}

export class ControlPlane {
  readonly lab: Lab;
  readonly proc: LabProcess;
  readonly stateDir: string;
  readonly env: Record<string, string>;

  constructor(lab: Lab, proc: LabProcess, stateDir: string, env: Record<string, string>) {
    this.lab = lab;
    this.proc = proc;
    this.stateDir = stateDir;
    this.env = env;
  }

  snapshot(): Snapshot {
    const f = path.join(this.stateDir, 'snapshot.json');
    if (!existsSync(f)) return { edges: [], nodes: [], requests: [], peers: {} };
    return JSON.parse(readFileSync(f, 'utf8')) as Snapshot;
  }

  /** The live (not DELETED) edge of a machine. */
  edgeOf(machineId: string): EdgeRec | undefined {
    return this.snapshot().edges.find((e) => e.machineId === machineId && e.phase !== 'DELETED');
  }

  /** Run the emulator CLI (admin API) inside the namespace. */
  async cli(args: string[]): Promise<string> {
    const r = await this.lab.hostExec(process.execPath, [path.join(REPO_ROOT, 'test/control-plane/main.ts'), ...args, '--state-dir', this.stateDir], {
      timeoutMs: 30_000,
    });
    if (r.exitCode !== 0) throw new Error(`emulator ${args.join(' ')} failed: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** The operator's DELETE with the org API key (curl inside the namespace; the key goes in a header file). */
  async deleteEdge(edgeId: string): Promise<number> {
    const hdr = path.join(this.stateDir, 'delete.hdr');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(hdr, `X-API-Key: ${this.env.API_KEY}\n`, { mode: 0o600 });
    const url = `${this.env.API_URL}/omni-provisioner/v2beta/organizations/${this.env.ORG_ID}/clusters/${this.env.CLUSTER_ID}/edge-locations/${this.env.EDGE_LOCATION_ID}/edges/${edgeId}`;
    const r = await this.lab.hostExec(
      'curl',
      ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', this.env.CA_FILE!, '-X', 'DELETE', '-H', `@${hdr}`, url],
      { timeoutMs: 30_000 },
    );
    rmSync(hdr, { force: true });
    return Number(r.stdout.trim());
  }

  async stop(): Promise<void> {
    await this.proc.stop(3000);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Start the lab's control plane (emulator + WireGuard gateway [+ :8443 impostor]). */
export async function startControlPlane(lab: Lab, opts: { impostor?: boolean } = {}): Promise<ControlPlane> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'join-cp-'));
  const proc = lab.spawnInNetns(
    process.execPath,
    [path.join(REPO_ROOT, 'test/e2e/join-control-plane.ts'), '--state-dir', stateDir, ...(opts.impostor ? ['--kube-impostor'] : [])],
    { cwd: REPO_ROOT },
  );
  await proc.waitForOutput(/^READY=1$/m, 90_000);
  const env = Object.fromEntries(
    proc.stdout
      .split('\n')
      .filter((l) => /^[A-Z0-9_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return new ControlPlane(lab, proc, stateDir, env);
}

/**
 * A lab with the control plane and one guest with two NVMe disks, of `arch` (default amd64). The
 * emulator serves both arches' downloads (dist/castai-edge-initd-linux-<arch>.xz); the installer
 * in the guest picks its own by `uname -m`.
 */
export async function bootJoinLab(
  name: string,
  opts: { impostor?: boolean; vm?: VmSpec; arch?: LabArch } = {},
): Promise<{ lab: Lab; cp: ControlPlane; vm: Vm }> {
  const arch = opts.arch ?? 'amd64';
  for (const f of [agentBinary(arch), `${agentBinary(arch)}.xz`]) if (!existsSync(f)) throw new Error(`${f} is missing: run \`make build\` first`);
  const lab = await Lab.create({ name, arch });
  try {
    const [cp, vms] = await Promise.all([
      startControlPlane(lab, opts),
      lab.boot([{ name: 'edge1', disks: [{ sizeGiB: 4 }, { sizeGiB: 4 }], memoryMiB: 1536, ...opts.vm }]),
    ]);
    return { lab, cp, vm: vms[0]! };
  } catch (e) {
    await lab.collectDiagnostics('boot');
    await lab.close();
    throw e;
  }
}

// ------------------------------------------------------------------------------ guest

/** Trust the emulator CA system-wide (curl of the one-liner) and write /root/edge.env. */
export async function prepareGuest(vm: Vm, cp: ControlPlane, env: Record<string, string> = {}): Promise<void> {
  const ca = vm.putFile(cp.env.CA_FILE!, 'emulator-ca.pem');
  const lines = { INITD_KUBERNETES_LABELS: LABELS, INITD_KUBERNETES_TAINTS: TAINTS, INITD_CA_FILE: '/root/api-ca.pem', ...env };
  await vm.sh(
    [
      'set -e',
      `install -m 0644 ${ca} /usr/local/share/ca-certificates/lab-emulator-ca.crt`,
      // What update-ca-certificates does for curl's bundle, without its openssl rehash of the whole
      // store (over a minute under TCG).
      'cat /usr/local/share/ca-certificates/lab-emulator-ca.crt >> /etc/ssl/certs/ca-certificates.crt',
      `install -m 0644 ${ca} /root/api-ca.pem`,
      `cat > /root/edge.env <<'EOF'\n${Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n')}\nEOF`,
      'chmod 0600 /root/edge.env',
    ].join('\n'),
    { timeoutMs: 60_000 },
  );
}

/** The documented operator one-liner (README), against the lab's emulator. */
export function oneLiner(cp: ControlPlane, apiKey = cp.env.API_KEY!): string {
  return `curl -fsSL "${cp.env.SCRIPT_URL}" -H "X-API-Key: ${apiKey}" | INITD_EXTRA_ENV_FILE=/root/edge.env bash`;
}

/** Guest clock, seconds since the epoch (fractional). */
export async function guestNow(vm: Vm): Promise<number> {
  return Number((await vm.sh('date +%s.%N')).trim());
}

export interface AgentLine {
  time: number;
  level: number;
  pid: number;
  msg: string;
  step?: string;
  durationMs?: number;
  [k: string]: unknown;
}

/**
 * The agent's log lines (every boot), oldest first, read from the journal as JSON entries: under
 * systemd the agent writes `<priority>message  key=value…` (agent/log/journal.ts), so the level
 * comes from PRIORITY, the time from __REALTIME_TIMESTAMP, the pid from _PID, and the fields from
 * the text after the message (or from the JSON itself with INITD_LOG_FORMAT=json).
 */
export async function agentLog(vm: Vm, unit = UNIT): Promise<AgentLine[]> {
  const out = await vm.sh(`journalctl -u ${unit} --no-pager -o json --output-fields=MESSAGE,PRIORITY,_PID,__REALTIME_TIMESTAMP`, { timeoutMs: 60_000 });
  const lines: AgentLine[] = [];
  for (const l of out.split('\n')) {
    if (!l.startsWith('{')) continue;
    let e: { MESSAGE?: unknown; PRIORITY?: string; _PID?: string; __REALTIME_TIMESTAMP?: string };
    try {
      e = JSON.parse(l) as typeof e;
    } catch {
      continue; /* a line journalctl cut */
    }
    const text = typeof e.MESSAGE === 'string' ? e.MESSAGE : Array.isArray(e.MESSAGE) ? Buffer.from(e.MESSAGE as number[]).toString('utf8') : '';
    const base = { time: Math.round(Number(e.__REALTIME_TIMESTAMP) / 1000), level: pinoLevel(Number(e.PRIORITY ?? 6)), pid: Number(e._PID ?? 0) };
    if (text.startsWith('{')) {
      try {
        const rec = JSON.parse(text) as AgentLine;
        lines.push({ ...rec, pid: base.pid });
      } catch {
        /* a line systemd cut */
      }
      continue;
    }
    if (!text || base.pid === 1) continue; // systemd's own lines about the unit
    const { msg, fields } = parseTextBody(text);
    lines.push({ ...fields, ...base, msg });
  }
  return lines;
}

export interface Pass {
  pid: number;
  /** Step name → duration in ms, from the `[i/n] step: ... (Xs)` lines. */
  steps: Record<string, number>;
  failed?: string;
  complete: boolean;
  start: number;
  end: number;
  totalMs: number;
  lines: AgentLine[];
}

const STEP_LINE = /^\[(\d+)\/(\d+)\] ([a-z0-9-]+): /;

/** Group the step lines into reconcile passes (a pass starts at step 1 or with a new process). */
export function passes(lines: AgentLine[]): Pass[] {
  const out: Pass[] = [];
  let cur: Pass | undefined;
  for (const l of lines) {
    const m = STEP_LINE.exec(l.msg);
    if (!m || typeof l.durationMs !== 'number') continue;
    const i = Number(m[1]);
    if (!cur || i === 1 || l.pid !== cur.pid || i <= Object.keys(cur.steps).length) {
      cur = { pid: l.pid, steps: {}, complete: false, start: l.time - l.durationMs, end: l.time, totalMs: 0, lines: [] };
      out.push(cur);
    }
    cur.steps[m[3]!] = l.durationMs;
    cur.lines.push(l);
    cur.end = l.time;
    cur.totalMs += l.durationMs;
    if (l.level >= 50) cur.failed = m[3]!;
    if (i === Number(m[2]) && !cur.failed) cur.complete = true;
  }
  return out;
}

/** Poll `fn` until it returns a value (not undefined); every wait is bounded. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, diag?: () => Promise<string>, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `\n${await diag()}` : ''}`);
    await sleep(everyMs);
  }
}

/** The last lines of the agent's journal, for failure messages. */
export async function journalTail(vm: Vm, n = 60): Promise<string> {
  return vm
    .sh(`journalctl -u ${UNIT} --no-pager -o cat -n ${n}; systemctl --no-pager status ${UNIT} k0sworker 2>&1 | head -30`)
    .catch((e: unknown) => String(e));
}

export interface FileEntry {
  path: string;
  type: string;
  mode: string;
  size: number;
  sha: string;
}

/** Every file, link and directory under `dirs` (type, octal mode, size, sha256 for regular files). */
export async function fileList(vm: Vm, dirs: string[] = OUR_DIRS): Promise<FileEntry[]> {
  const script = [
    `for d in ${dirs.map(shq).join(' ')}; do [ -e "$d" ] || continue; find "$d" -xdev -printf '%y %m %s %p\\n'; done | LC_ALL=C sort -k4 | while read -r t m s p; do`,
    '  if [ "$t" = f ]; then h=$(sha256sum "$p" | cut -c1-16); else h=-; fi',
    '  printf "%s %s %s %s %s\\n" "$t" "$m" "$s" "$h" "$p"',
    'done',
  ].join('\n');
  const out = await vm.sh(script, { timeoutMs: 120_000 });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [type, mode, size, sha, ...p] = l.split(' ');
      return { type: type!, mode: mode!, size: Number(size), sha: sha!, path: p.join(' ') };
    });
}

export function diffFiles(before: FileEntry[], after: FileEntry[]): { added: string[]; removed: string[]; changed: string[] } {
  const b = new Map(before.map((f) => [f.path, f]));
  const a = new Map(after.map((f) => [f.path, f]));
  const key = (f: FileEntry) => `${f.type} ${f.mode} ${f.type === 'd' ? '' : f.size} ${f.sha}`;
  return {
    added: [...a.keys()].filter((p) => !b.has(p)),
    removed: [...b.keys()].filter((p) => !a.has(p)),
    changed: [...a.keys()].filter((p) => b.has(p) && key(b.get(p)!) !== key(a.get(p)!)),
  };
}

// ------------------------------------------------------------------------------ end state

export interface EndState {
  agent: { active: string; enabled: string };
  k0sworker: string;
  joined: boolean;
  mount: { fstype: string; source: string } | null;
  lv: string | null;
  wg: { address: string; listenPort: string; peers: string; endpoint: string; allowedIps: string; handshake: boolean } | null;
  node: { nodeName: string; hostname: string; nodeIP: string; providerID: string; labels: Record<string, string>; taints: NodeRec['taints'] } | null;
  edge: { phase: string } | null;
}

/** The node as the operator would check it. Edge-specific values are replaced by EDGE_ID / EDGE_NAME / EDGE_IP. */
export async function endState(vm: Vm, cp: ControlPlane): Promise<EndState> {
  const out = await vm.sh(
    [
      `e=$(systemctl is-enabled ${UNIT} 2>/dev/null); echo "agent=$(systemctl is-active ${UNIT}) \${e:-missing}"`,
      'echo "k0sworker=$(systemctl is-active k0sworker 2>/dev/null)"',
      'echo "joined=$([ -f /var/lib/k0s/kubelet.conf ] && echo yes || echo no)"',
      'echo "mount=$(findmnt -n -o FSTYPE,SOURCE --mountpoint /var/lib/k0s 2>/dev/null)"',
      'echo "lv=$(lvs --noheadings -o vg_name,lv_name,stripes,lv_attr 2>/dev/null | awk \'{print $1"/"$2" stripes="$3" attr="$4}\' | head -1)"',
      `if ip link show ${WG_IFACE} >/dev/null 2>&1; then`,
      `  echo "wg.address=$(ip -o -4 addr show dev ${WG_IFACE} | awk '{print $4}')"`,
      `  echo "wg.port=$(wg show ${WG_IFACE} listen-port)"`,
      `  echo "wg.peers=$(wg show ${WG_IFACE} peers | tr '\\n' ' ')"`,
      `  echo "wg.endpoint=$(wg show ${WG_IFACE} endpoints | awk '{print $2}' | tr '\\n' ' ')"`,
      `  echo "wg.allowed=$(wg show ${WG_IFACE} allowed-ips | cut -f2- | tr '\\n' ' ')"`,
      `  echo "wg.handshake=$(wg show ${WG_IFACE} latest-handshakes | awk '{print $2}')"`,
      'fi',
    ].join('\n'),
    { timeoutMs: 60_000 },
  );
  const kv = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
  const edge = cp.edgeOf(vm.machineId);
  const norm = (s: string) =>
    edge ? s.split(edge.id).join('EDGE_ID').split(edge.name).join('EDGE_NAME').split(edge.address.split('/')[0]!).join('EDGE_IP') : s;
  const snap = cp.snapshot();
  const node = edge ? snap.nodes.find((n) => n.nodeName === edge.name) : undefined;
  const [agentActive = '', agentEnabled = ''] = (kv.agent ?? '').split(' ');
  const mount = kv.mount ? kv.mount.split(/\s+/) : [];
  return {
    agent: { active: agentActive, enabled: agentEnabled },
    k0sworker: kv.k0sworker ?? '',
    joined: kv.joined === 'yes',
    mount: mount.length ? { fstype: mount[0]!, source: mount[1]! } : null,
    lv: kv.lv || null,
    wg:
      kv['wg.address'] !== undefined
        ? {
            address: norm(kv['wg.address']),
            listenPort: kv['wg.port']!,
            peers: kv['wg.peers']!,
            endpoint: kv['wg.endpoint']!,
            allowedIps: kv['wg.allowed']!,
            handshake: Number(kv['wg.handshake'] ?? 0) > 0,
          }
        : null,
    node: node
      ? {
          nodeName: norm(node.nodeName),
          hostname: node.hostname,
          nodeIP: norm(node.nodeIP ?? ''),
          providerID: norm(node.providerID ?? ''),
          labels: Object.fromEntries(Object.entries(node.labels).map(([k, v]) => [k, norm(v)])),
          taints: node.taints,
        }
      : null,
    edge: edge ? { phase: edge.phase } : null,
  };
}

/** Wait until the node is joined: kubelet.conf, k0sworker active, the double's node at the emulator. */
export async function waitJoined(vm: Vm, cp: ControlPlane, timeoutMs: number): Promise<void> {
  await waitFor(
    'the node to join (kubelet.conf + k0sworker active + node at the emulator)',
    async () => {
      const r = await vm.exec('test -f /var/lib/k0s/kubelet.conf && systemctl is-active --quiet k0sworker');
      const edge = cp.edgeOf(vm.machineId);
      return r.exitCode === 0 && edge && cp.snapshot().nodes.some((n) => n.nodeName === edge.name) ? true : undefined;
    },
    timeoutMs,
    () => journalTail(vm),
    2000,
  );
}

/**
 * The no-op pass target is 1 s of agent time. Under qemu TCG (this lab; no KVM on CI) every
 * process the agent runs costs ~100× more, so the bound is asserted only with JOIN_STRICT_TIMING=1;
 * otherwise the measured durations are printed (and `make bench` records noop_reconcile_s).
 */
export const STRICT_TIMING = process.env.JOIN_STRICT_TIMING === '1';

/** Wait until the agent has finished a complete pass that started after `afterMs` (pino time). */
export async function waitPass(vm: Vm, afterMs: number, timeoutMs: number, pred: (p: Pass) => boolean = (p) => p.complete): Promise<Pass> {
  return waitFor(
    'a complete reconcile pass',
    async () => passes(await agentLog(vm)).find((p) => p.start >= afterMs && pred(p)),
    timeoutMs,
    () => journalTail(vm),
    3000,
  );
}

// ------------------------------------------------------------------------------ secrets

/**
 * Start an argv poller in the guest: every 50 ms it reads /proc/[0-9]*\/cmdline (one grep) and
 * keeps each distinct "pid: argv" line in /root/argv-audit.log. Returns a stop function.
 */
export async function startArgvPoller(vm: Vm): Promise<() => Promise<string[]>> {
  await vm.sh(
    [
      'rm -f /root/argv-audit.log /run/argv-audit.stop',
      "nohup setsid bash -c 'while [ ! -e /run/argv-audit.stop ]; do grep -a -H \"\" /proc/[0-9]*/cmdline 2>/dev/null; sleep 0.05; done | tr \"\\0\" \" \" | awk \"!seen[\\$0]++\" > /root/argv-audit.log' >/dev/null 2>&1 &",
      'echo started',
    ].join('\n'),
  );
  return async () => {
    await vm.sh('touch /run/argv-audit.stop; for i in $(seq 50); do pgrep -f "argv-audit.stop" >/dev/null || break; sleep 0.1; done; sync');
    const out = await vm.sh('cat /root/argv-audit.log; rm -f /root/argv-audit.log /run/argv-audit.stop', { timeoutMs: 60_000 });
    return out.split('\n').filter(Boolean);
  };
}

/** Read the secrets the node holds (as root, in the guest) into a host file, never into argv. */
export async function guestSecrets(vm: Vm, cp: ControlPlane): Promise<Record<string, string>> {
  const out = await vm.sh(
    [
      `. /etc/castai-edge-initd/castai-edge-initd.env && printf 'bootstrapToken=%s\\n' "$INITD_BOOTSTRAP_TOKEN"`,
      `printf 'wireguardPrivateKey=%s\\n' "$(cat ${STATE_DIR}/wireguard/private.key)"`,
      `printf 'register=%s\\n' "$(tr -d '\\n' < ${STATE_DIR}/register.json)"`,
    ].join('\n'),
  );
  const kv = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const reg = JSON.parse(kv.register!) as { edgeToken: string; k0s: { joinToken: string }; logs?: { apiKey?: string } };
  const { decodeJoinToken } = await import('../../agent/k0s/token.ts');
  const tok = decodeJoinToken(reg.k0s.joinToken);
  return {
    apiKey: cp.env.API_KEY!,
    bootstrapToken: kv.bootstrapToken!,
    edgeToken: reg.edgeToken,
    joinToken: reg.k0s.joinToken,
    k8sBootstrapToken: tok.bootstrapToken,
    ...(reg.logs?.apiKey ? { logKey: reg.logs.apiKey } : {}),
    wireguardPrivateKey: kv.wireguardPrivateKey!,
  };
}

/** Guest boot time as epoch ms (clock at boot: now − uptime). */
export async function guestBootEpochMs(vm: Vm): Promise<number> {
  const [now, up] = (await vm.sh('date +%s.%N; cut -d" " -f1 /proc/uptime')).trim().split('\n').map(Number);
  return Math.round((now! - up!) * 1000);
}

/**
 * `vm.reboot()`, tolerant of the lab channel reporting "the guest rebooted while a command was
 * running" for its own bookkeeping command (seen under heavy load): what counts is that the guest
 * came back with a new boot id, exactly one boot later, and systemd finished starting.
 */
export async function rebootVm(vm: Vm, timeoutMs = 400_000): Promise<void> {
  const boots = async () => Number((await vm.sh('journalctl --list-boots --no-pager -q | wc -l')).trim());
  const before = (await vm.sh('cat /proc/sys/kernel/random/boot_id')).trim();
  const n = await boots();
  try {
    await vm.reboot(timeoutMs);
  } catch (e) {
    if (!/rebooted while a command was running/.test(String(e))) throw e;
  }
  await waitFor(
    'the rebooted guest to settle',
    async () => {
      try {
        const r = await vm.exec('cat /proc/sys/kernel/random/boot_id; systemctl is-system-running --wait >/dev/null; true', { timeoutMs: timeoutMs });
        const id = r.stdout.trim().split('\n')[0];
        return id && id !== before ? true : undefined;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
    undefined,
    2000,
  );
  const after = await boots();
  if (after !== n + 1) throw new Error(`expected exactly one reboot, the journal lists ${after - n} new boots`);
}
