import { interfaceNameProblem } from '../config/validate.ts';
import { AgentError } from '../errors.ts';
import { accepted, commandFailure } from '../host/command-failure.ts';
import type { ExecResult, Host } from '../host/host.ts';
import { LEGACY_IFACE, ownerRecordPath, readBootId, readOwnerRecord, type SeenInterface } from './owner.ts';
import { parseDump, parseIpBatch } from './parse.ts';
import { validateIfaceName } from './spec.ts';
import type { DeviceState, WireguardActual } from './types.ts';

export const PKG_WG = 'wireguard-tools';
export const PKG_IP = 'iproute2';
export const PKG_WG_GO = 'wireguard-go';

export function missingTool(cmd: string, pkg: string): AgentError {
  return new AgentError(`${cmd}: command not found`, `install the Debian package ${pkg}: apt-get install -y ${pkg}`);
}

/** A read that failed, in the one command-failure format (host/command-failure.ts). */
function checked(r: ExecResult, cmd: string, args: readonly string[], pkg: string): ExecResult {
  if (r.notFound) throw missingTool(cmd, pkg);
  if (!accepted(r, {})) throw commandFailure([cmd, ...args], r, { what: 'wireguard', fix: 'check the interface with: ip -d link show; wg show' });
  return r;
}

/** Read `wg show <if> dump` (via stdout only; the private key column is dropped by parseDump). */
export async function readDump(host: Host, iface: string): Promise<DeviceState> {
  const args = ['show', iface, 'dump'];
  const r = checked(await host.exec('wg', args, { timeoutMs: 10_000 }), 'wg', args, PKG_WG);
  return parseDump(r.stdout);
}

/**
 * One `ip` process reads the link (kind, flags, MTU: `addr show -d` carries them), its addresses
 * and every route via it in both families (`route show table all`, filtered to the main table by
 * parseIpRoutes). The script is fixed and read-only; only the validated interface name varies.
 */
export const IP_BATCH_ARGS: readonly string[] = ['-j', '-d', '-batch', '-'];
export const ipBatchScript = (iface: string): string => `addr show dev ${iface}\nroute show table all dev ${iface}\n`;

/** The kernel's ifindex of `iface` from sysfs (a file read, no process); undefined when it does not exist. */
export async function sysfsIfindex(host: Host, iface: string): Promise<number | undefined> {
  const text = await host.readFile(`/sys/class/net/${iface}/ifindex`).catch(() => undefined);
  const n = Number(text?.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * An interface that may be the agent's from before (a renamed INITD_WIREGUARD_INTERFACE, the
 * pre-issue-15 wg0): its ifindex from sysfs and its public key from `wg show dump`, both read-only.
 * Not WireGuard, or no answer: no key, so it can only be ours by the record (owner.ts).
 */
async function inspectPrevious(host: Host, iface: string): Promise<SeenInterface | undefined> {
  if (!(await host.stat(`/sys/class/net/${iface}`))) return undefined;
  const ifindex = await sysfsIfindex(host, iface);
  const dump = await host.exec('wg', ['show', iface, 'dump'], { timeoutMs: 10_000 });
  let device: DeviceState | undefined;
  if (dump.exitCode === 0 && !dump.notFound) {
    try {
      device = parseDump(dump.stdout);
    } catch {
      device = undefined;
    }
  }
  return { iface, exists: true, ...(ifindex !== undefined ? { ifindex } : {}), ...(device ? { device } : {}) };
}

export interface InspectOptions {
  /** The agent's state directory: read our ownership record, and the interfaces it may name (owner.ts). */
  stateDir?: string;
}

/**
 * Read the interface, its addresses, MTU, routes and WireGuard peers: two processes, `ip -batch`
 * and `wg show dump`, in one wave when sysfs already shows the interface. With `stateDir`, also
 * our ownership record and the boot id (two file reads). Changes nothing.
 * Throws AgentError when the name is taken by something that is not WireGuard.
 */
export async function inspectWireguard(host: Host, iface: string, opts: InspectOptions = {}): Promise<WireguardActual> {
  validateIfaceName(iface); // it goes into the batch script: never a newline or a second command
  const dumpArgs = ['show', iface, 'dump'];
  const dumpRead = () => host.exec('wg', dumpArgs, { timeoutMs: 10_000 });
  const ipRead = host.exec('ip', [...IP_BATCH_ARGS], { stdin: ipBatchScript(iface), timeoutMs: 10_000 });
  // Steady state: sysfs says the interface exists, so `wg show` runs beside `ip` (both read-only;
  // if the link then proves missing or foreign, the dump is unused).
  const early = (await host.stat(`/sys/class/net/${iface}`)) ? dumpRead() : undefined;
  early?.catch(() => {});
  const ownerRead = opts.stateDir === undefined ? undefined : Promise.all([readOwnerRecord(host, ownerRecordPath(opts.stateDir)), readBootId(host)]);
  ownerRead?.catch(() => {});
  const ip = await ipRead;
  const [record, bootId] = (await ownerRead) ?? [];
  const ownerPart: Pick<WireguardActual, 'owner' | 'previous'> = {};
  if (ownerRead) {
    ownerPart.owner = { ...(record ? { record } : {}), bootId: bootId ?? '' };
    // Only until our record names this interface (first run, or INITD_WIREGUARD_INTERFACE changed): no cost in the steady state.
    if (record?.iface !== iface) {
      // A name from a file must be valid before it reaches argv.
      const candidates = [record ? record.iface : LEGACY_IFACE].filter((c) => c !== iface && !interfaceNameProblem(c));
      const seen = (await Promise.all(candidates.map((c) => inspectPrevious(host, c)))).filter((x): x is SeenInterface => x !== undefined);
      ownerPart.previous = seen;
    }
  }
  const absent: WireguardActual = { iface, exists: false, userspace: false, up: false, addresses: [], routes: [], ...ownerPart };
  if (ip.notFound) throw missingTool('ip', PKG_IP);
  if (ip.exitCode !== 0) {
    if (/does not exist|cannot find device/i.test(ip.stderr)) return absent;
    checked(ip, 'ip', [...IP_BATCH_ARGS], PKG_IP);
  }
  const read = parseIpBatch(ip.stdout);
  const info = read.link;
  if (!info) return absent;
  if (info.kind !== 'wireguard' && info.kind !== 'tun') {
    throw new AgentError(
      `interface ${iface} exists but is a ${info.kind ?? 'plain'} device, not WireGuard; the agent will not touch it`,
      `pick another name with INITD_WIREGUARD_INTERFACE, or remove it: ip link del ${iface}`,
    );
  }
  const dump = await (early ?? dumpRead());
  if (dump.notFound) throw missingTool('wg', PKG_WG);
  if (dump.exitCode !== 0) {
    const hint =
      info.kind === 'tun'
        ? `${iface} is a TUN device but no wireguard-go answers on /var/run/wireguard/${iface}.sock; remove it (ip link del ${iface}) and run the agent again`
        : `check the kernel module: wg show ${iface}`;
    throw commandFailure(['wg', 'show', iface, 'dump'], dump, { what: `wireguard: read ${iface}`, fix: hint });
  }
  return {
    iface,
    exists: true,
    kind: info.kind,
    userspace: info.kind === 'tun',
    ifindex: info.ifindex,
    up: info.up,
    mtu: info.mtu,
    addresses: read.addresses,
    routes: read.routes,
    device: parseDump(dump.stdout),
    ...ownerPart,
  };
}
