/**
 * k0s worker: download + verify, install, join, keep running.
 *
 *   inspect(host)            what is installed: binary digest, unit, active, joined, recorded args
 *   plan(desired, actual)    pure; [] when the node already runs the desired worker
 *   apply(host, actions)     idempotent; never `install --force` on a running service (k0s#8029)
 *
 * "Joined" means /var/lib/k0s/kubelet.conf exists: after that the join token is
 * no longer used, so token checks (CA pin, konnectivity) run only before a join.
 */
import { createHash } from 'node:crypto';
import type { Taint } from '../config/types.ts';
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import type { Action } from '../subsystem.ts';
import { decodeJoinToken } from './token.ts';

export const K0S_BIN = '/usr/local/bin/k0s';
export const K0S_TOKEN_FILE = '/etc/k0s/k0stoken';
export const K0S_UNIT = 'k0sworker.service';
export const K0S_UNIT_FILE = '/etc/systemd/system/k0sworker.service';
export const KUBELET_CONF = '/var/lib/k0s/kubelet.conf';
export const K0S_STATE_FILE = 'k0s.json';
/** k0s defaults; NO_PROXY must cover them or in-cluster traffic goes to the proxy. */
export const DEFAULT_POD_CIDR = '10.244.0.0/16';
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';

export interface K0sDesired {
  version: string;
  artifact: { url: string; sha256: string };
  joinToken: string;
  konnectivity: { host: string; port: number };
  /** Arguments after `k0s install worker --token-file <file>`; their digest detects drift. */
  installArgs: string[];
  /** Environment for curl (proxy variables). */
  downloadEnv: Record<string, string>;
  /** Extra CA for the download when the artifact is served by the API itself. */
  downloadCaFile?: string;
  /** How long `apply` waits for kubelet.conf after starting the worker. */
  joinTimeoutMs: number;
}

export interface K0sRecorded {
  argsDigest: string;
  version: string;
  sha256: string;
  installedAt: string;
}

export interface K0sActual {
  binarySha256?: string;
  unitExists: boolean;
  unitActive: boolean;
  joined: boolean;
  recorded?: K0sRecorded;
}

export type K0sAction = Action & {
  kind:
    | 'k0s.download'
    | 'k0s.verify-join'
    | 'k0s.write-token'
    | 'k0s.stop'
    | 'k0s.install'
    | 'k0s.reinstall'
    | 'k0s.start'
    | 'k0s.wait-joined'
    | 'k0s.record';
};

export function argsDigest(args: readonly string[], version: string): string {
  return createHash('sha256').update(JSON.stringify([version, ...args])).digest('hex').slice(0, 16);
}

/** `k=v,k2=v2`, sorted for a stable digest. */
export function labelsArg(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

export function taintsArg(taints: Taint[]): string {
  return taints.map((t) => `${t.key}${t.value !== undefined && t.value !== '' ? `=${t.value}` : ''}:${t.effect}`).join(',');
}

export interface InstallArgsInput {
  labels: Record<string, string>;
  taints: Taint[];
  nodeIp?: string;
  hostname: string;
  providerId: string;
  proxy: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  /** CIDRs the node reaches without a proxy: pod, service, WireGuard. */
  directCidrs: string[];
}

/** The `k0s install worker` arguments after `--token-file <file>`. */
export function installArgs(i: InstallArgsInput): string[] {
  const args: string[] = [];
  if (Object.keys(i.labels).length) args.push(`--labels=${labelsArg(i.labels)}`);
  if (i.taints.length) args.push(`--taints=${taintsArg(i.taints)}`);
  const kubelet = [...(i.nodeIp ? [`--node-ip=${i.nodeIp}`] : []), `--hostname-override=${i.hostname}`, `--provider-id=${i.providerId}`];
  args.push(`--kubelet-extra-args=${kubelet.join(' ')}`);
  if (i.proxy.httpProxy || i.proxy.httpsProxy) {
    const noProxy = [...new Set([...(i.proxy.noProxy ? i.proxy.noProxy.split(',') : []), ...i.directCidrs, '.svc', '.cluster.local', 'localhost', '127.0.0.1'])]
      .map((s) => s.trim())
      .filter(Boolean);
    if (i.proxy.httpProxy) args.push('-e', `HTTP_PROXY=${i.proxy.httpProxy}`);
    if (i.proxy.httpsProxy) args.push('-e', `HTTPS_PROXY=${i.proxy.httpsProxy}`);
    args.push('-e', `NO_PROXY=${noProxy.join(',')}`);
  }
  return args;
}

/** Per Host (so per process): path → sha256 with the size:mtime it was computed at (see inspectK0s). */
const hashCaches = new WeakMap<Host, Map<string, { key: string; sha256: string }>>();

/** The start time (clock ticks after boot, field 22) from /proc/<pid>/stat; the comm may hold spaces and ')'. */
export function procStartTime(stat: string | undefined): string | undefined {
  if (!stat) return undefined;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields 3.. (state, ppid, ...)
  const v = rest[22 - 3];
  return v && /^\d+$/.test(v) ? v : undefined;
}

/** Per Host (so per process): k0sworker's main process when systemd last said the unit was active. */
const mainPids = new WeakMap<Host, { pid: number; startTime: string }>();

/**
 * Is k0sworker active? Asked of systemd (`systemctl show`), which also names its main process;
 * later passes of the same process only check that this very process (pid and start time, so
 * never a reused pid) is still alive under /proc: while the main process of a Type=simple unit
 * lives, the unit is active. Any doubt asks systemd again. (Not the unit's cgroup: k0s's unit uses
 * KillMode=process, so container shims can keep a failed unit's cgroup populated.)
 */
async function k0sUnitActive(host: Host): Promise<boolean> {
  const known = mainPids.get(host);
  if (known) {
    if (procStartTime(await host.readFile(`/proc/${known.pid}/stat`)) === known.startTime) return true;
    mainPids.delete(host);
  }
  const r = await host.exec('systemctl', ['show', '-p', 'ActiveState', '-p', 'MainPID', K0S_UNIT], { timeoutMs: 10_000 });
  const props = Object.fromEntries(r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]));
  const active = r.exitCode === 0 && props.ActiveState === 'active';
  const pid = Number(props.MainPID);
  if (active && Number.isInteger(pid) && pid > 1) {
    const startTime = procStartTime(await host.readFile(`/proc/${pid}/stat`));
    if (startTime) mainPids.set(host, { pid, startTime });
  }
  return active;
}

export async function inspectK0s(host: Host, readRecorded: () => Promise<K0sRecorded | undefined>): Promise<K0sActual> {
  const [bin, unit, active, conf, recorded] = await Promise.all([
    host.stat(K0S_BIN),
    host.stat(K0S_UNIT_FILE),
    k0sUnitActive(host),
    host.stat(KUBELET_CONF),
    readRecorded(),
  ]);
  let binarySha256: string | undefined;
  if (bin?.isFile) {
    // k0s is ~250 MB: hash it once per process and again only when its size or mtime changes,
    // not every pass (that would be ~1 s of CPU a minute on an idle node).
    const key = `${bin.size}:${bin.mtimeMs}`;
    let hashCache = hashCaches.get(host);
    if (!hashCache) hashCaches.set(host, (hashCache = new Map()));
    const cached = hashCache.get(K0S_BIN);
    if (cached?.key === key) binarySha256 = cached.sha256;
    else {
      const r = await host.exec('sha256sum', [K0S_BIN], { timeoutMs: 60_000 });
      if (r.exitCode === 0) {
        binarySha256 = r.stdout.split(/\s+/)[0];
        if (binarySha256) hashCache.set(K0S_BIN, { key, sha256: binarySha256 });
      }
    }
  }
  return {
    ...(binarySha256 ? { binarySha256 } : {}),
    unitExists: Boolean(unit?.isFile),
    unitActive: active,
    joined: Boolean(conf?.isFile),
    ...(recorded ? { recorded } : {}),
  };
}

const act = (kind: K0sAction['kind'], description: string, reason: string): K0sAction => ({ kind, description, reason });

/** Pure: desired vs actual → the minimal ordered actions. */
export function planK0s(d: K0sDesired, a: K0sActual): K0sAction[] {
  const out: K0sAction[] = [];
  const digest = argsDigest(d.installArgs, d.version);
  const needBinary = a.binarySha256 !== d.artifact.sha256.toLowerCase();
  const argsChanged = a.unitExists && a.recorded?.argsDigest !== digest;
  const mustStop = a.unitActive && (argsChanged || needBinary);
  if (!a.joined) {
    out.push(act('k0s.verify-join', `check the join token, the CA on ${d.konnectivity.host} :8443 and konnectivity :${d.konnectivity.port}`, 'not joined yet'));
  }
  if (needBinary) {
    out.push(act('k0s.download', `download k0s ${d.version} and verify sha256 ${d.artifact.sha256.slice(0, 12)}…`, a.binarySha256 ? 'installed k0s differs' : 'k0s is not installed'));
  }
  if (!a.joined) out.push(act('k0s.write-token', `write the join token to ${K0S_TOKEN_FILE} (0600)`, 'needed to join'));
  if (mustStop) out.push(act('k0s.stop', `stop ${K0S_UNIT}`, argsChanged ? 'labels, taints or kubelet args changed' : 'k0s binary changes'));
  if (!a.unitExists) out.push(act('k0s.install', 'k0s install worker', 'k0sworker is not installed'));
  else if (argsChanged) out.push(act('k0s.reinstall', 'k0s install worker --force (service stopped first)', 'labels, taints or kubelet args changed'));
  if (!a.unitActive || mustStop) out.push(act('k0s.start', `start ${K0S_UNIT}`, a.unitActive ? 'restart after the change' : 'k0sworker is not running'));
  if (!a.joined) out.push(act('k0s.wait-joined', `wait for ${KUBELET_CONF}`, 'joined = kubelet.conf exists'));
  const installs = out.some((x) => x.kind === 'k0s.install' || x.kind === 'k0s.reinstall' || x.kind === 'k0s.download');
  if (installs || a.recorded?.argsDigest !== digest || a.recorded?.sha256 !== d.artifact.sha256.toLowerCase()) {
    out.push(act('k0s.record', 'record the installed k0s version and arguments', 'state for drift detection'));
  }
  return out;
}

export interface ApplyK0sOptions {
  writeRecorded: (r: K0sRecorded) => Promise<void>;
  signal?: AbortSignal;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  sleep?: (ms: number) => Promise<void>;
}

async function run(host: Host, cmd: string, args: string[], what: string, fix: string, opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
  const r = await host.exec(cmd, args, { timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.env ? { env: opts.env } : {}) });
  if (r.notFound) throw new AgentError(`${what}: ${cmd} is not installed`, fix);
  if (r.exitCode !== 0) throw new AgentError(`${what} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`, fix);
  return r.stdout;
}

/** Checks the token before anything is changed: worker user, CA pinned on :8443, konnectivity reachable. */
export async function verifyJoin(host: Host, d: K0sDesired): Promise<{ caSha256: string; server: string }> {
  const tok = decodeJoinToken(d.joinToken); // throws AgentError on a malformed or non-worker token
  const tls = await host.tlsProbe(tok.host, tok.port, tok.caPem, 10_000);
  if (!tls.connected) {
    throw new AgentError(
      `control plane ${tok.server} is unreachable (${tls.error ?? 'no TLS handshake'})`,
      `allow egress TCP ${tok.port} to ${tok.host} (k0smotron API); check HTTPS_PROXY/NO_PROXY`,
    );
  }
  if (!tls.authorized) {
    const presented = tls.chainSha256.at(-1) ?? 'none';
    throw new AgentError(
      `control plane ${tok.server} does not present the CA from the join token: token CA sha256 ${tok.caSha256}, presented chain ends in sha256 ${presented} (${tls.error ?? 'not verified'})`,
      'a TLS-intercepting proxy or a wrong endpoint sits in the way: exempt the control plane in NO_PROXY, or fetch a fresh init script if the cluster was re-created',
    );
  }
  const kon = await host.tcpProbe(d.konnectivity.host, d.konnectivity.port, 5000);
  if (!kon.ok) {
    throw new AgentError(
      `konnectivity ${d.konnectivity.host}:${d.konnectivity.port} is unreachable (${kon.error ?? 'no connection'}): without it kubectl logs/exec and webhooks fail`,
      `allow egress TCP ${d.konnectivity.port} to ${d.konnectivity.host}`,
    );
  }
  return { caSha256: tok.caSha256, server: tok.server };
}

export async function applyK0s(host: Host, d: K0sDesired, actions: K0sAction[], o: ApplyK0sOptions): Promise<void> {
  const log = o.log ?? (() => {});
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const tmp = `${K0S_BIN}.download`;
  const base = ['install', 'worker', '--token-file', K0S_TOKEN_FILE];
  for (const a of actions) {
    switch (a.kind) {
      case 'k0s.verify-join': {
        const v = await verifyJoin(host, d);
        log(`control plane ${v.server} presents the cluster CA sha256 ${v.caSha256}; konnectivity reachable`, { caSha256: v.caSha256 });
        break;
      }
      case 'k0s.download': {
        const ca = d.downloadCaFile ? ['--cacert', d.downloadCaFile] : [];
        await run(host, 'curl', ['-fsSL', '--proto', '=https', '--proto-redir', '=https', '--retry', '3', '--retry-delay', '2', '--connect-timeout', '10', '--max-time', '900', ...ca, '-o', tmp, d.artifact.url], `downloading k0s from ${d.artifact.url}`, 'check egress to the download host (TCP 443) and HTTPS_PROXY', { timeoutMs: 960_000, env: d.downloadEnv });
        const sum = (await run(host, 'sha256sum', [tmp], 'checksumming the k0s download', 'retry')).split(/\s+/)[0];
        if (sum !== d.artifact.sha256.toLowerCase()) {
          await host.remove(tmp);
          throw new AgentError(`k0s download checksum mismatch: got sha256 ${sum}, expected ${d.artifact.sha256}; nothing was installed`, 'retry; if it persists, a proxy may be altering downloads');
        }
        await run(host, 'chmod', ['0755', tmp], 'making k0s executable', 'check /usr/local/bin is writable');
        await run(host, 'mv', ['-f', tmp, K0S_BIN], 'installing k0s', 'check /usr/local/bin is writable');
        break;
      }
      case 'k0s.write-token':
        await host.writeFileAtomic(K0S_TOKEN_FILE, d.joinToken, { mode: 0o600, dirMode: 0o700 });
        break;
      case 'k0s.stop':
        await run(host, 'systemctl', ['stop', K0S_UNIT], 'stopping k0sworker', 'see journalctl -u k0sworker');
        break;
      case 'k0s.install':
        await run(host, K0S_BIN, [...base, ...d.installArgs], 'k0s install worker', 'see the k0s output above; `k0s reset` cleans a half-installed node');
        break;
      case 'k0s.reinstall':
        await run(host, K0S_BIN, [...base, ...d.installArgs, '--force'], 'k0s install worker --force', 'see the k0s output above');
        break;
      case 'k0s.start':
        await run(host, 'systemctl', ['daemon-reload'], 'systemctl daemon-reload', 'check systemd');
        await run(host, 'systemctl', ['start', K0S_UNIT], 'starting k0sworker', 'see journalctl -u k0sworker');
        break;
      case 'k0s.wait-joined': {
        const deadline = Date.now() + d.joinTimeoutMs;
        while (!(await host.stat(KUBELET_CONF))?.isFile) {
          if (Date.now() > deadline || o.signal?.aborted) {
            throw new AgentError(`k0sworker started but ${KUBELET_CONF} did not appear within ${Math.round(d.joinTimeoutMs / 1000)} s`, 'see journalctl -u k0sworker: an expired join token or an unreachable control plane are the usual causes');
          }
          await sleep(250);
        }
        break;
      }
      case 'k0s.record':
        await o.writeRecorded({ argsDigest: argsDigest(d.installArgs, d.version), version: d.version, sha256: d.artifact.sha256.toLowerCase(), installedAt: new Date().toISOString() });
        break;
    }
  }
}
