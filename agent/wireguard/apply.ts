import type { Logger } from 'pino';
import { execute, type Executors } from '../contract.ts';
import { AgentError } from '../errors.ts';
import { accepted, commandFailure, runChecked } from '../host/command-failure.ts';
import type { Host } from '../host/host.ts';
import { log } from '../log/logger.ts';
import { inspectWireguard, missingTool, PKG_IP, PKG_WG, PKG_WG_GO, sysfsIfindex } from './inspect.ts';
import { loadKeyPair } from './keys.ts';
import { judgeOwnership, ownerFacts, ownerRecordPath, writeOwnerRecord } from './owner.ts';
import type { WgAction } from './types.ts';

/**
 * apply(host, actions): runs the planned actions in order. Each action is
 * idempotent (replace/del semantics, "already there" tolerated), so a crash
 * mid-way converges on the next reconcile.
 *
 * The private key reaches `wg` only as a path to the agent's 0600 key file
 * (`wg set <if> private-key <file>`), never in argv or env. (`/dev/stdin` does
 * not work here: Node gives children a socketpair as stdin, and opening
 * /dev/stdin on a socket fails with ENXIO; see docs/decisions/0070.)
 */

/** wireguard-go <= 0.0.2020xxxx refused to start on Linux without this; newer ones only warn. */
export const WG_GO_ENV = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' };

const NO_KERNEL_WG = /unknown device type|not supported|no such device|protocol not supported/i;

/** Run an `ip`/`wg` change through the one run-and-check helper; `ok` accepts an idempotent "already so". */
async function run(host: Host, cmd: string, args: string[], pkg: string, ok?: RegExp): Promise<void> {
  const iface = cmd === 'wg' ? args[1] : args[args.indexOf('dev') + 1];
  await runChecked(host, [cmd, ...args], {
    what: `wireguard: ${iface}`,
    fix: `look at the interface: ip -d addr show dev ${iface}; ip route show dev ${iface}; wg show ${iface} (the agent retries on its next pass)`,
    notFoundFix: `install the Debian package ${pkg}: apt-get install -y ${pkg}`,
    timeoutMs: 15_000,
    ...(ok ? { okStderr: ok } : {}),
  });
}

async function createLink(host: Host, iface: string, logger: Logger): Promise<'kernel' | 'userspace'> {
  const r = await host.exec('ip', ['link', 'add', 'dev', iface, 'type', 'wireguard'], { timeoutMs: 15_000 });
  if (r.notFound) throw missingTool('ip', PKG_IP);
  if (r.exitCode === 0) return 'kernel';
  if (/file exists/i.test(r.stderr)) {
    // inspect saw no such interface a moment ago: someone else made one meanwhile. Not ours.
    throw new AgentError(
      `interface ${iface} appeared while the agent was about to create it (ip: ${r.stderr.trim()}); it is not taken over`,
      `the next pass checks whose it is; if another program manages ${iface}, set INITD_WIREGUARD_INTERFACE to another name`,
    );
  }
  if (!NO_KERNEL_WG.test(r.stderr)) {
    const fix = 'the agent must run as root (CAP_NET_ADMIN)';
    throw commandFailure(['ip', 'link', 'add', 'dev', iface, 'type', 'wireguard'], r, { what: `wireguard: ${iface}`, fix });
  }
  logger.warn({ iface, ipError: r.stderr.trim() }, 'kernel has no WireGuard; falling back to wireguard-go (userspace)');
  const g = (await underSystemd(host))
    ? await startUnderSystemd(host, iface, logger)
    : await host.exec('wireguard-go', [iface], { env: WG_GO_ENV, timeoutMs: 15_000 });
  if (g.notFound) {
    throw new AgentError(
      `this kernel has no WireGuard (ip: "${r.stderr.trim()}") and wireguard-go is not installed`,
      `install the userspace implementation: apt-get install -y ${PKG_WG_GO}  (or boot a kernel with CONFIG_WIREGUARD, e.g. Debian's linux-image-amd64)`,
    );
  }
  if (!accepted(g, {})) {
    throw commandFailure(['wireguard-go', iface], g, {
      what: `wireguard: ${iface}: start wireguard-go`,
      fix: 'check /dev/net/tun exists (modprobe tun) and that the agent runs as root',
    });
  }
  if (!(await waitForLink(host, iface, 5_000))) {
    throw new AgentError(
      `wireguard-go ${iface} started but the interface did not appear within 5 s`,
      `check: journalctl -u ${wgGoUnit(iface)}; ls -l /dev/net/tun`,
    );
  }
  return 'userspace';
}

/** Transient unit that runs wireguard-go when PID 1 is systemd (see below). */
export function wgGoUnit(iface: string): string {
  return `castai-edge-initd-wireguard-go-${iface}.service`;
}

async function underSystemd(host: Host): Promise<boolean> {
  return Boolean((await host.stat('/run/systemd/system'))?.isDirectory);
}

/**
 * Under systemd, wireguard-go runs in its own transient unit instead of as a
 * child of the agent: the agent unit's KillMode=mixed would otherwise kill it
 * (and drop the tunnel) on every agent restart or upgrade. `-f` keeps it in the
 * foreground so systemd tracks it; `ip link del` ends it and --collect removes
 * the unit. Falls back to a plain daemonizing start when systemd-run is missing.
 */
async function startUnderSystemd(host: Host, iface: string, logger: Logger) {
  const unit = wgGoUnit(iface);
  await host.exec('systemctl', ['reset-failed', unit], { timeoutMs: 15_000 }); // a failed leftover blocks the name; ignore errors
  const bin = await host.exec('sh', ['-c', 'command -v wireguard-go'], { timeoutMs: 5_000 });
  const path = bin.exitCode === 0 ? bin.stdout.trim() : '';
  if (!path) return { ...bin, notFound: true };
  const r = await host.exec(
    'systemd-run',
    ['--unit', unit, '--description', `WireGuard ${iface} (wireguard-go, started by castai-edge-initd)`, '--collect',
      '--setenv', 'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1', path, '-f', iface],
    { timeoutMs: 15_000 },
  );
  if (r.notFound) {
    logger.warn({ iface }, 'systemd-run not found; starting wireguard-go as a child of the agent');
    return host.exec('wireguard-go', [iface], { env: WG_GO_ENV, timeoutMs: 15_000 });
  }
  if (r.exitCode === 0) logger.info({ iface, unit }, `wireguard-go runs in ${unit}`);
  return r;
}

async function waitForLink(host: Host, iface: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await host.exec('ip', ['-j', 'link', 'show', 'dev', iface], { timeoutMs: 5_000 });
    if (r.exitCode === 0) return true;
    if (Date.now() >= until) return false;
    await new Promise((res) => setTimeout(res, 50));
  }
}

type WgApplyContext = { host: Host; logger: Logger };

const ipOf = (a: WgAction) => (a.kind === 'wireguard.route.replace' || a.kind === 'wireguard.route.del') && a.data.dst.includes(':') ? '-6' : '-4';

/** One executor per WireGuard action kind; the compiler checks the table is complete. */
const wgExecutors: Executors<WgAction, WgApplyContext> = {
  'wireguard.link.delete': (a, { host }) => run(host, 'ip', ['link', 'del', 'dev', a.iface], PKG_IP, /cannot find device|does not exist/i),
  'wireguard.link.create': async (a, { host, logger }) => {
    const i = a.iface;
    // Intent first (no ifindex): a crash right after `ip link add` leaves a blank interface
    // this record still proves ours (owner.ts rule (c), docs/decisions/0150); then the ifindex, once it exists.
    const rec = { iface: i, publicKey: a.data.publicKey, bootId: a.data.bootId };
    await writeOwnerRecord(host, a.data.ownerRecordPath, rec);
    const mode = await createLink(host, i, logger);
    const ifindex = await sysfsIfindex(host, i);
    if (ifindex === undefined) {
      throw new AgentError(
        `interface ${i} was created but /sys/class/net/${i}/ifindex cannot be read`,
        `look at it: ip -d link show dev ${i} (the agent re-checks and records it on its next pass)`,
      );
    }
    await writeOwnerRecord(host, a.data.ownerRecordPath, { ...rec, ifindex });
    logger.info({ iface: i, mode, ifindex }, `interface ${i} created (${mode}, ifindex ${ifindex})`);
  },
  'wireguard.owner.record': (a, { host }) => writeOwnerRecord(host, a.data.ownerRecordPath, a.data.record),
  'wireguard.key.set': (a, { host }) => run(host, 'wg', ['set', a.iface, 'private-key', a.data.privateKeyPath], PKG_WG),
  'wireguard.listenport.set': (a, { host }) => run(host, 'wg', ['set', a.iface, 'listen-port', String(a.data.port)], PKG_WG),
  'wireguard.peer.remove': (a, { host }) => run(host, 'wg', ['set', a.iface, 'peer', a.data.publicKey, 'remove'], PKG_WG),
  'wireguard.peer.set': (a, { host }) => {
    const args = ['set', a.iface, 'peer', a.data.publicKey];
    if (a.data.endpoint !== undefined) args.push('endpoint', a.data.endpoint);
    if (a.data.persistentKeepalive !== undefined)
      args.push('persistent-keepalive', a.data.persistentKeepalive === 0 ? 'off' : String(a.data.persistentKeepalive));
    if (a.data.allowedIPs !== undefined) args.push('allowed-ips', a.data.allowedIPs.join(','));
    return run(host, 'wg', args, PKG_WG);
  },
  'wireguard.addr.del': (a, { host }) => run(host, 'ip', ['addr', 'del', a.data.cidr, 'dev', a.iface], PKG_IP, /cannot assign requested address/i),
  'wireguard.addr.add': (a, { host }) => run(host, 'ip', ['addr', 'replace', a.data.cidr, 'dev', a.iface], PKG_IP),
  'wireguard.mtu.set': (a, { host }) => run(host, 'ip', ['link', 'set', 'dev', a.iface, 'mtu', String(a.data.mtu)], PKG_IP),
  'wireguard.link.up': (a, { host }) => run(host, 'ip', ['link', 'set', 'dev', a.iface, 'up'], PKG_IP),
  'wireguard.route.replace': (a, { host }) => run(host, 'ip', [ipOf(a), 'route', 'replace', a.data.dst, 'dev', a.iface], PKG_IP),
  'wireguard.route.del': (a, { host }) => run(host, 'ip', [ipOf(a), 'route', 'del', a.data.dst, 'dev', a.iface], PKG_IP, /no such process|not found/i),
};

/** Apply the planned actions in order, each through its executor (wgExecutors), each logged first. */
export async function applyWireguard(host: Host, actions: readonly WgAction[], logger: Logger = log()): Promise<void> {
  for (const a of actions) {
    logger.info({ step: 'wireguard', action: a.kind, reason: a.reason }, a.description);
    await execute(wgExecutors, [a], { host, logger });
  }
}

export interface DownResult {
  /** Interfaces deleted (proven ours). */
  removed: string[];
  /** Interfaces of the names we looked at that are not ours: left exactly as they are. */
  leftAlone: Array<{ iface: string; why: string }>;
}

/**
 * Take the tunnel down (edge deleted, `reset`): delete the configured interface only when it is
 * proven ours (owner.ts), and any previous interface of ours (a renamed INITD_WIREGUARD_INTERFACE,
 * the pre-issue-15 wg0). Deleting the link also ends wireguard-go. Once ours is gone, the record
 * goes too. Idempotent; an interface that is not ours is reported and never touched.
 */
export async function wireguardDown(host: Host, o: { iface: string; stateDir: string }, logger: Logger = log()): Promise<DownResult> {
  const actual = await inspectWireguard(host, o.iface, { stateDir: o.stateDir });
  // The node key, read-only; a key file we cannot trust proves nothing (less is ours, never more).
  const node = await loadKeyPair(host, o.stateDir).catch(() => undefined);
  const facts = ownerFacts(actual.owner, node?.publicKey);
  const out: DownResult = { removed: [], leftAlone: [] };
  let oursGone = !actual.exists;
  for (const i of [...(actual.exists ? [actual] : []), ...(actual.previous ?? [])]) {
    const own = judgeOwnership(i, facts);
    if (!own.ours) {
      out.leftAlone.push({ iface: i.iface, why: own.why });
      logger.warn({ step: 'wireguard', iface: i.iface, why: own.why }, `interface ${i.iface} left alone: not created by castai-edge-initd (${own.why})`);
      continue;
    }
    await run(host, 'ip', ['link', 'del', 'dev', i.iface], PKG_IP, /cannot find device|does not exist/i); // already gone: done
    out.removed.push(i.iface);
    if (i.iface === o.iface) oursGone = true;
    logger.info({ step: 'wireguard', iface: i.iface, why: own.why }, `interface ${i.iface} removed`);
  }
  if (oursGone && actual.owner?.record) await host.remove(ownerRecordPath(o.stateDir));
  return out;
}
