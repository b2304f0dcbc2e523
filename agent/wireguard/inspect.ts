import { AgentError } from '../errors.ts';
import type { ExecResult, Host } from '../host/host.ts';
import { parseDump, parseIpAddr, parseIpLink, parseIpRoutes } from './parse.ts';
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
 * Read the interface, its addresses, MTU, routes and WireGuard peers. Changes nothing.
 * Throws AgentError when the name is taken by something that is not WireGuard.
 */
export async function inspectWireguard(host: Host, iface: string): Promise<WireguardActual> {
  const linkArgs = ['-j', '-d', 'link', 'show', 'dev', iface];
  const addrArgs = ['-j', 'addr', 'show', 'dev', iface];
  const r4Args = ['-j', 'route', 'show', 'dev', iface];
  const r6Args = ['-j', '-6', 'route', 'show', 'dev', iface];
  const dumpArgs = ['show', iface, 'dump'];
  const reads = () =>
    Promise.all([
      host.exec('ip', addrArgs, { timeoutMs: 10_000 }),
      host.exec('ip', r4Args, { timeoutMs: 10_000 }),
      host.exec('ip', r6Args, { timeoutMs: 10_000 }),
      host.exec('wg', dumpArgs, { timeoutMs: 10_000 }),
    ]);
  // Steady state: sysfs says the interface exists, so the four reads start with `ip link`
  // (all read-only; if the link then proves missing or foreign their answers are unused).
  const early = (await host.stat(`/sys/class/net/${iface}`)) ? reads() : undefined;
  early?.catch(() => {});
  const link = await host.exec('ip', linkArgs, { timeoutMs: 10_000 });
  if (link.notFound) throw missingTool('ip', PKG_IP);
  if (link.exitCode !== 0) {
    if (/does not exist|cannot find device/i.test(link.stderr)) {
      return { iface, exists: false, userspace: false, up: false, addresses: [], routes: [] };
    }
    checked(link, 'ip', linkArgs, PKG_IP);
  }
  const info = parseIpLink(link.stdout);
  if (!info) return { iface, exists: false, userspace: false, up: false, addresses: [], routes: [] };
  if (info.kind !== 'wireguard' && info.kind !== 'tun') {
    throw new AgentError(
      `interface ${iface} exists but is a ${info.kind ?? 'plain'} device, not WireGuard; the agent will not touch it`,
      `pick another name with INITD_WIREGUARD_INTERFACE, or remove it: ip link del ${iface}`,
    );
  }
  // The link is ours: the other four reads at once, unless they already started with it.
  const [addr0, r40, r6, dump] = await (early ?? reads());
  const addr = checked(addr0, 'ip', addrArgs, PKG_IP);
  const r4 = checked(r40, 'ip', r4Args, PKG_IP);
  // A host with IPv6 disabled fails `ip -6 route`; treat that as no IPv6 routes.
  const routes6 = r6.exitCode === 0 ? parseIpRoutes(r6.stdout, true) : [];

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
    addresses: parseIpAddr(addr.stdout),
    routes: [...parseIpRoutes(r4.stdout), ...routes6],
    device: parseDump(dump.stdout),
  };
}
