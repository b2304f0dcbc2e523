import { AgentError } from '../errors.ts';
import type { ExecResult, Host } from '../host/host.ts';
import { parseDump, parseIpBatch } from './parse.ts';
import { validateIfaceName } from './spec.ts';
import type { DeviceState, WireguardActual } from './types.ts';

export const PKG_WG = 'wireguard-tools';
export const PKG_IP = 'iproute2';
export const PKG_WG_GO = 'wireguard-go';

export function missingTool(cmd: string, pkg: string): AgentError {
  return new AgentError(`${cmd}: command not found`, `install the Debian package ${pkg}: apt-get install -y ${pkg}`);
}

function checked(r: ExecResult, cmd: string, args: readonly string[], pkg: string): ExecResult {
  if (r.notFound) throw missingTool(cmd, pkg);
  if (r.exitCode !== 0) {
    throw new AgentError(`${[cmd, ...args].join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`, `check the interface with: ip -d link show; wg show`);
  }
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

/**
 * Read the interface, its addresses, MTU, routes and WireGuard peers: two processes, `ip -batch`
 * and `wg show dump`, in one wave when sysfs already shows the interface. Changes nothing.
 * Throws AgentError when the name is taken by something that is not WireGuard.
 */
export async function inspectWireguard(host: Host, iface: string): Promise<WireguardActual> {
  validateIfaceName(iface); // it goes into the batch script: never a newline or a second command
  const dumpArgs = ['show', iface, 'dump'];
  const dumpRead = () => host.exec('wg', dumpArgs, { timeoutMs: 10_000 });
  const ipRead = host.exec('ip', [...IP_BATCH_ARGS], { stdin: ipBatchScript(iface), timeoutMs: 10_000 });
  // Steady state: sysfs says the interface exists, so `wg show` runs beside `ip` (both read-only;
  // if the link then proves missing or foreign, the dump is unused).
  const early = (await host.stat(`/sys/class/net/${iface}`)) ? dumpRead() : undefined;
  early?.catch(() => {});
  const ip = await ipRead;
  const absent: WireguardActual = { iface, exists: false, userspace: false, up: false, addresses: [], routes: [] };
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
    throw new AgentError(`wg show ${iface} dump failed: ${dump.stderr.trim()}`, hint);
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
  };
}
