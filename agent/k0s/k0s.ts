/**
 * k0s worker: download + verify, install, join, keep running.
 *
 *   inspect(host)            what is installed: binary digest, unit, active, joined, recorded args
 *   plan(desired, actual)    pure; [] when the node already runs the desired worker
 *   apply(host, actions)     idempotent; never `install --force` on a running service (k0s#8029)
 *
 * kubelet.conf (/var/lib/k0s/kubelet.conf) means the kubelet holds credentials: after that the
 * join token is no longer used, so token checks (CA pin, konnectivity) run only before a join. A
 * join is complete when the Node reports Ready (node.ts; the wait is `k0s.wait-ready`).
 *
 * k0sworker's proxy settings and its boot order are drop-ins we own (unit-config.ts), never
 * `install worker -e` (whose values land in the unit raw, world-readable and % expanded).
 */
import { createHash } from 'node:crypto';
import type { Taint } from '../config/types.ts';
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { execute, type Action, type Executors } from '../contract.ts';
import { runChecked } from '../host/command-failure.ts';
import type { NodeReadiness } from './node-readiness.ts';
import { refusedError, verifyClusterCa } from './cluster-ca.ts';
import { K0S_UNIT, KUBELET_CONF } from './paths.ts';
import { decodeJoinToken } from './token.ts';
import { BOOT_MARKER, planUnitFiles, type UnitFile, type UnitFilePlan, type UnitFileState } from './unit-config.ts';

export const K0S_BIN = '/usr/local/bin/k0s';
export const K0S_TOKEN_FILE = '/etc/k0s/k0stoken';
export const K0S_UNIT_FILE = '/etc/systemd/system/k0sworker.service';
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
  /** The Node name (kubelet --hostname-override): a first join waits for it to be Ready. */
  nodeName?: string;
  /** How long `apply` waits for the Node to report Ready after kubelet.conf appeared (default 180 s). */
  readyTimeoutMs?: number;
  /** Our drop-ins and env file for k0sworker (unit-config.ts desiredUnitFiles); undefined: not managed. */
  unitFiles?: UnitFile[];
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
  /** Our drop-ins/env file as they are, and whether this boot's marker exists (unit-config.ts). */
  unitFiles?: UnitFileState;
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
    | 'k0s.wait-ready'
    | 'k0s.record'
    | 'k0s.boot-ready'
    | 'k0s.write-config'
    | 'k0s.remove-config'
    | 'k0s.daemon-reload'
    | 'k0s.restart';
  /** k0s.write-config / k0s.remove-config: the files (never their contents: they may hold a proxy password). */
  paths?: string[];
};

/**
 * The digest that detects drift of the installed worker. --labels and --taints are left out: the
 * kubelet applies them only when it creates its Node, so reinstalling or restarting k0sworker for
 * them changes nothing on the Node; later changes reach it through the control plane
 * (re-registration, docs/control-plane-api.md §3; docs/decisions/0132).
 */
export function argsDigest(args: readonly string[], version: string): string {
  return createHash('sha256').update(JSON.stringify([version, ...args.filter((a) => !/^--(labels|taints)=/.test(a))])).digest('hex').slice(0, 16);
}

/** The digest k0s.json held before 0132 (labels and taints included): accepted, then re-recorded. */
function legacyArgsDigest(args: readonly string[], version: string): string {
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
}

/**
 * The `k0s install worker` arguments after `--token-file <file>`. No `-e`: k0s writes those raw into
 * the unit's Environment= lines (% expanded by systemd, shown to every user by `systemctl show`);
 * the proxy settings go to our EnvironmentFile= drop-in instead (unit-config.ts).
 */
export function installArgs(i: InstallArgsInput): string[] {
  const args: string[] = [];
  if (Object.keys(i.labels).length) args.push(`--labels=${labelsArg(i.labels)}`);
  if (i.taints.length) args.push(`--taints=${taintsArg(i.taints)}`);
  const kubelet = [...(i.nodeIp ? [`--node-ip=${i.nodeIp}`] : []), `--hostname-override=${i.hostname}`, `--provider-id=${i.providerId}`];
  args.push(`--kubelet-extra-args=${kubelet.join(' ')}`);
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

export async function inspectK0s(
  host: Host,
  readRecorded: () => Promise<K0sRecorded | undefined>,
  inspectUnitFiles?: (h: Host) => Promise<UnitFileState>,
): Promise<K0sActual> {
  const [bin, unit, active, conf, recorded, unitFiles] = await Promise.all([
    host.stat(K0S_BIN),
    host.stat(K0S_UNIT_FILE),
    k0sUnitActive(host),
    host.stat(KUBELET_CONF),
    readRecorded(),
    inspectUnitFiles?.(host),
  ]);
  let binarySha256: string | undefined;
  if (bin?.isFile) {
    // k0s is ~250 MB: hash it once per process and again only when its size or mtime changes,
    // not every pass (that would be ~1 s of CPU a minute on an idle node).
    const key = `${bin.size}:${bin.mtimeMs}`;
    let hashCache = hashCaches.get(host);
    if (!hashCache) hashCaches.set(host, (hashCache = new Map<string, { key: string; sha256: string }>()));
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
    ...(unitFiles ? { unitFiles } : {}),
  };
}

const act = (kind: K0sAction['kind'], description: string, reason: string): K0sAction => ({ kind, description, reason });

/** Pure: desired vs actual → the minimal ordered actions. */
export function planK0s(d: K0sDesired, a: K0sActual): K0sAction[] {
  const out: K0sAction[] = [];
  const digest = argsDigest(d.installArgs, d.version);
  const needBinary = a.binarySha256 !== d.artifact.sha256.toLowerCase();
  const argsChanged = a.unitExists && a.recorded?.argsDigest !== digest && a.recorded?.argsDigest !== legacyArgsDigest(d.installArgs, d.version);
  const mustStop = a.unitActive && (argsChanged || needBinary);
  const cfg: UnitFilePlan | undefined = d.unitFiles && a.unitFiles ? planUnitFiles(d.unitFiles, a.unitFiles) : undefined;
  // Before a join, the token and the control plane are checked first: a refusal changes nothing.
  if (!a.joined) {
    out.push(act('k0s.verify-join', `check the join token, the CA on ${d.konnectivity.host} :8443 and konnectivity :${d.konnectivity.port}`, 'not joined yet'));
  }
  if (a.unitFiles && !a.unitFiles.bootMarker) {
    out.push(act('k0s.boot-ready', `write ${BOOT_MARKER}: k0sworker may start on this boot`, 'storage, GPU and WireGuard are applied on this boot'));
  }
  if (cfg?.write.length)
    out.push({
      ...act('k0s.write-config', `write ${cfg.write.map((f) => f.path).join(', ')}`, 'k0sworker proxy settings or boot order differ'),
      paths: cfg.write.map((f) => f.path),
    });
  if (cfg?.remove.length) out.push({ ...act('k0s.remove-config', `remove ${cfg.remove.join(', ')}`, 'no proxy is configured any more'), paths: cfg.remove });
  if (needBinary) {
    out.push(
      act(
        'k0s.download',
        `download k0s ${d.version} and verify sha256 ${d.artifact.sha256.slice(0, 12)}…`,
        a.binarySha256 ? 'installed k0s differs' : 'k0s is not installed',
      ),
    );
  }
  if (!a.joined) out.push(act('k0s.write-token', `write the join token to ${K0S_TOKEN_FILE} (0600)`, 'needed to join'));
  if (mustStop) out.push(act('k0s.stop', `stop ${K0S_UNIT}`, argsChanged ? 'kubelet args or environment changed' : 'k0s binary changes'));
  if (!a.unitExists) out.push(act('k0s.install', 'k0s install worker', 'k0sworker is not installed'));
  else if (argsChanged) out.push(act('k0s.reinstall', 'k0s install worker --force (service stopped first)', 'kubelet args or environment changed'));
  const starts = !a.unitActive || mustStop;
  if (starts) out.push(act('k0s.start', `start ${K0S_UNIT}`, a.unitActive ? 'restart after the change' : 'k0sworker is not running'));
  else if (cfg?.restart) out.push(act('k0s.restart', `daemon-reload, restart ${K0S_UNIT}`, "k0sworker's proxy environment changed"));
  else if (cfg?.reload) out.push(act('k0s.daemon-reload', 'systemctl daemon-reload', 'a k0sworker drop-in changed'));
  if (!a.joined) out.push(act('k0s.wait-joined', `wait for ${KUBELET_CONF}`, 'the kubelet has credentials once kubelet.conf exists'));
  if (!a.joined && d.nodeName)
    out.push(act('k0s.wait-ready', `wait for Node ${d.nodeName} to report Ready`, 'joined = the Node is Ready, not just kubelet.conf'));
  const installs = out.some((x) => x.kind === 'k0s.install' || x.kind === 'k0s.reinstall' || x.kind === 'k0s.download');
  if (installs || a.recorded?.argsDigest !== digest || a.recorded?.sha256 !== d.artifact.sha256.toLowerCase()) {
    out.push(act('k0s.record', 'record the installed k0s version and arguments', 'state for drift detection'));
  }
  return out;
}

export interface ApplyK0sOptions {
  writeRecorded: (r: K0sRecorded) => Promise<void>;
  /** Reads the Node's Ready condition (node.ts readNodeReady); needed for k0s.wait-ready. */
  readNode?: () => Promise<NodeReadiness>;
  /** Called with every Node reading apply makes (the step keeps the last one). */
  onNodeReading?: (r: NodeReadiness) => void;
  /** This boot's id, written into the boot marker. */
  bootId?: string;
  signal?: AbortSignal;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** Run a k0s step command through the one run-and-check helper (host/command-failure.ts); its stdout. */
async function run(
  host: Host,
  cmd: string,
  args: string[],
  what: string,
  fix: string,
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await runChecked(host, [cmd, ...args], { what: `k0s: ${what}`, fix, timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.env ? { env: opts.env } : {}) });
  return r.stdout;
}

/** Checks the token before anything is changed: worker user, CA pinned on :8443, konnectivity reachable. */
export async function verifyJoin(host: Host, d: K0sDesired): Promise<{ caSha256: string; server: string }> {
  const tok = decodeJoinToken(d.joinToken); // throws AgentError on a malformed or non-worker token
  const tls = await verifyClusterCa(host, tok, 10_000);
  if (!tls.ok && tls.kind === 'unreachable') {
    throw new AgentError(
      `control plane ${tok.server} is unreachable (${tls.error})`,
      `allow egress TCP ${tok.port} to ${tok.host} (k0smotron API); check HTTPS_PROXY/NO_PROXY`,
    );
  }
  if (!tls.ok && tls.kind === 'refused') throw refusedError(tok, tls);
  if (!tls.ok) {
    const presented = tls.chainSha256.at(-1) ?? 'none';
    throw new AgentError(
      `control plane ${tok.server} does not present the CA from the join token: ` +
        `token CA sha256 ${tok.caSha256}, presented chain ends in sha256 ${presented} (${tls.error})`,
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

/** What the k0s executors share during one apply. */
interface K0sApplyContext {
  host: Host;
  d: K0sDesired;
  o: ApplyK0sOptions;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  sleep: (ms: number) => Promise<void>;
}

const TMP_DOWNLOAD = `${K0S_BIN}.download`;
const INSTALL_BASE = ['install', 'worker', '--token-file', K0S_TOKEN_FILE];

/** One executor per k0s action kind; the compiler checks the table is complete. */
const k0sExecutors: Executors<K0sAction, K0sApplyContext> = {
  'k0s.verify-join': async (_a, { host, d, log }) => {
    const v = await verifyJoin(host, d);
    log(`control plane ${v.server} presents the cluster CA sha256 ${v.caSha256}; konnectivity reachable`, { caSha256: v.caSha256 });
  },
  'k0s.download': async (_a, { host, d }) => {
    const tmp = TMP_DOWNLOAD;
    const ca = d.downloadCaFile ? ['--cacert', d.downloadCaFile] : [];
    await run(
      host,
      'curl',
      ['-fsSL', '--proto', '=https', '--proto-redir', '=https', '--retry', '3', '--retry-delay', '2', '--connect-timeout', '10', '--max-time', '900',
        ...ca, '-o', tmp, d.artifact.url],
      `downloading k0s from ${d.artifact.url}`,
      'check egress to the download host (TCP 443) and HTTPS_PROXY',
      { timeoutMs: 960_000, env: d.downloadEnv },
    );
    const sum = (await run(host, 'sha256sum', [tmp], 'checksumming the k0s download', 'retry')).split(/\s+/)[0];
    if (sum !== d.artifact.sha256.toLowerCase()) {
      await host.remove(tmp);
      throw new AgentError(
        `k0s download checksum mismatch: got sha256 ${sum}, expected ${d.artifact.sha256}; nothing was installed`,
        'retry; if it persists, a proxy may be altering downloads',
      );
    }
    await run(host, 'chmod', ['0755', tmp], 'making k0s executable', 'check /usr/local/bin is writable');
    await run(host, 'mv', ['-f', tmp, K0S_BIN], 'installing k0s', 'check /usr/local/bin is writable');
  },
  'k0s.write-token': (_a, { host, d }) => host.writeFileAtomic(K0S_TOKEN_FILE, d.joinToken, { mode: 0o600, dirMode: 0o700 }),
  'k0s.stop': async (_a, { host }) => {
    await run(host, 'systemctl', ['stop', K0S_UNIT], 'stopping k0sworker', 'see journalctl -u k0sworker');
  },
  'k0s.install': async (_a, { host, d }) => {
    await run(host, K0S_BIN, [...INSTALL_BASE, ...d.installArgs], 'k0s install worker', 'see the k0s output above; `k0s reset` cleans a half-installed node');
  },
  'k0s.reinstall': async (_a, { host, d }) => {
    await run(host, K0S_BIN, [...INSTALL_BASE, ...d.installArgs, '--force'], 'k0s install worker --force', 'see the k0s output above');
  },
  'k0s.start': async (_a, { host }) => {
    await run(host, 'systemctl', ['daemon-reload'], 'systemctl daemon-reload', 'check systemd');
    await run(host, 'systemctl', ['start', K0S_UNIT], 'starting k0sworker', 'see journalctl -u k0sworker');
  },
  'k0s.wait-joined': async (_a, { host, d, o, sleep }) => {
    const deadline = Date.now() + d.joinTimeoutMs;
    while (!(await host.stat(KUBELET_CONF))?.isFile) {
      if (Date.now() > deadline || o.signal?.aborted) {
        throw new AgentError(
          `k0sworker started but ${KUBELET_CONF} did not appear within ${Math.round(d.joinTimeoutMs / 1000)} s`,
          'see journalctl -u k0sworker: an expired join token or an unreachable control plane are the usual causes',
        );
      }
      await sleep(250);
    }
  },
  'k0s.record': (_a, { d, o }) =>
    o.writeRecorded({
      argsDigest: argsDigest(d.installArgs, d.version),
      version: d.version,
      sha256: d.artifact.sha256.toLowerCase(),
      installedAt: new Date().toISOString(),
    }),
  'k0s.boot-ready': (_a, { host, o }) => host.writeFileAtomic(BOOT_MARKER, `${o.bootId ?? 'unknown'}\n`, { mode: 0o644 }),
  'k0s.write-config': async (a, { host, d }) => {
    for (const p of a.paths ?? []) {
      const f = d.unitFiles?.find((x) => x.path === p);
      if (!f) throw new AgentError(`internal: no content planned for ${p}`, 'report this');
      await host.writeFileAtomic(f.path, f.content, { mode: f.mode, dirMode: f.mode === 0o600 ? 0o700 : 0o755 });
    }
  },
  'k0s.remove-config': async (a, { host }) => {
    for (const p of a.paths ?? []) if (await host.stat(p)) await host.remove(p);
  },
  'k0s.daemon-reload': async (_a, { host }) => {
    await run(host, 'systemctl', ['daemon-reload'], 'systemctl daemon-reload', 'check systemd');
  },
  'k0s.restart': async (_a, { host }) => {
    await run(host, 'systemctl', ['daemon-reload'], 'systemctl daemon-reload', 'check systemd');
    await run(host, 'systemctl', ['restart', K0S_UNIT], 'restarting k0sworker', 'see journalctl -u k0sworker');
  },
  'k0s.wait-ready': (_a, { d, o, sleep }) => waitReady(d, o, sleep),
};

/** Apply the planned k0s actions in order, each through its executor (k0sExecutors). */
export async function applyK0s(host: Host, d: K0sDesired, actions: readonly K0sAction[], o: ApplyK0sOptions): Promise<void> {
  const c: K0sApplyContext = { host, d, o, log: o.log ?? (() => {}), sleep: o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))) };
  await execute(k0sExecutors, actions, c);
}

/** Poll the Node until it reports Ready; a clear error naming its last state when it does not in time. */
async function waitReady(d: K0sDesired, o: ApplyK0sOptions, sleep: (ms: number) => Promise<void>): Promise<void> {
  if (!o.readNode) throw new AgentError('internal: k0s.wait-ready without a Node reader', 'report this');
  const timeoutMs = d.readyTimeoutMs ?? 180_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await o.readNode();
    o.onNodeReading?.(r);
    if (r.ready === 'True') return;
    if (Date.now() > deadline || o.signal?.aborted) {
      const last =
        r.ready === 'Unread'
          ? `could not be read (${r.error ?? '?'})`
          : r.ready === 'NotFound'
            ? 'does not exist'
            : `is ${r.ready === 'False' ? 'NotReady' : 'Unknown'}${r.reason ? ` (${r.reason}${r.message ? `: ${r.message}` : ''})` : ''}`;
      throw new AgentError(
        `the kubelet joined (${KUBELET_CONF} written) but Node ${d.nodeName} is not Ready after ${Math.round(timeoutMs / 1000)} s: it ${last}`,
        `see journalctl -u k0sworker and \`kubectl describe node ${d.nodeName}\` (CNI, container runtime and the kubelet's own checks set Ready); the agent checks again on every pass`,
      );
    }
    await sleep(2000);
  }
}
