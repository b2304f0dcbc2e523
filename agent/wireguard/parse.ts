import { canonicalCidr, canonicalInterfaceAddress } from '../net/cidr.ts';
import type { DeviceState, PeerState, RouteState } from './types.ts';

/**
 * Parsers for `wg show <if> dump` and `ip -j ...`. Real outputs captured with
 * wireguard-go live in test/fixtures/wg/.
 */

const none = (s: string | undefined) => s === undefined || s === '(none)' || s === '';

/**
 * `wg show <if> dump`: first line `private-key public-key listen-port fwmark`,
 * then one line per peer: `public-key preshared-key endpoint allowed-ips
 * latest-handshake transfer-rx transfer-tx persistent-keepalive` (tab separated).
 * The private key column is discarded here and never stored.
 */
export function parseDump(text: string): DeviceState {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error('wg show dump: empty output');
  const head = lines[0]!.split('\t');
  if (head.length !== 4) throw new Error(`wg show dump: the interface line has ${head.length} fields, expected 4`);
  const listenPort = Number(head[2]);
  const dev: DeviceState = {
    ...(none(head[1]) ? {} : { publicKey: head[1] }),
    listenPort: Number.isFinite(listenPort) ? listenPort : 0,
    fwmark: head[3]!,
    peers: [],
  };
  for (const [i, line] of lines.slice(1).entries()) {
    const f = line.split('\t');
    if (f.length !== 8) throw new Error(`wg show dump: peer line ${i + 1} has ${f.length} fields, expected 8`);
    const allowed = none(f[3]) ? [] : f[3].split(',').map((c) => canonicalCidr(c) ?? c.trim());
    const peer: PeerState = {
      publicKey: f[0]!,
      hasPresharedKey: !none(f[1]),
      ...(none(f[2]) ? {} : { endpoint: f[2] }),
      allowedIPs: allowed.sort(),
      latestHandshake: Number(f[4]) || 0,
      rxBytes: Number(f[5]) || 0,
      txBytes: Number(f[6]) || 0,
      persistentKeepalive: f[7] === 'off' ? 0 : Number(f[7]) || 0,
    };
    dev.peers.push(peer);
  }
  return dev;
}

export interface LinkInfo {
  ifindex: number;
  kind?: string;
  up: boolean;
  mtu: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** `ip -j` prints one JSON array; anything else is an error naming the command. */
function jsonArray(text: string, what: string): unknown[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: output is not JSON (${(e as Error).message})`, { cause: e });
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON array`);
  return v;
}

/** `ip -j -d link show dev <if>` */
export function parseIpLink(json: string): LinkInfo | undefined {
  const what = 'ip -j link show';
  const l = jsonArray(json, what)[0];
  if (l === undefined) return undefined;
  if (!isObj(l) || !isInt(l.ifindex) || !isInt(l.mtu)) throw new Error(`${what}: entry without integer ifindex/mtu`);
  const flags = Array.isArray(l.flags) ? l.flags : [];
  const kind = isObj(l.linkinfo) && typeof l.linkinfo.info_kind === 'string' ? l.linkinfo.info_kind : undefined;
  return { ifindex: l.ifindex, ...(kind ? { kind } : {}), up: flags.includes('UP'), mtu: l.mtu };
}

/** `ip -j addr show dev <if>`: addresses as canonical "ip/prefix"; IPv6 link-local (scope link) left out. */
export function parseIpAddr(json: string): string[] {
  const what = 'ip -j addr show';
  const out: string[] = [];
  for (const l of jsonArray(json, what)) {
    if (!isObj(l)) throw new Error(`${what}: entry is not an object`);
    const infos = Array.isArray(l.addr_info) ? l.addr_info : [];
    for (const a of infos) {
      if (!isObj(a)) throw new Error(`${what}: addr_info entry is not an object`);
      if (a.family === 'inet6' && a.scope === 'link') continue;
      if (typeof a.local !== 'string' || !isInt(a.prefixlen)) continue;
      const c = canonicalInterfaceAddress(`${a.local}/${a.prefixlen}`);
      if (c) out.push(c);
    }
  }
  return out.sort();
}

/**
 * `ip -j route show table all dev <if>`: the main table's unicast routes via the interface, IPv4
 * and IPv6 alike. The family is the dst's; for `default` it is IPv6 when the route has `pref`
 * (the kernel sets RTA_PREF on every IPv6 route and never on IPv4). Other tables and the
 * kernel's local, broadcast and multicast entries are left out. A bare dst is a host route.
 */
export function parseIpRoutes(json: string): RouteState[] {
  const what = 'ip -j route show';
  const text = json.trim();
  if (text === '') return [];
  const out: RouteState[] = [];
  for (const r of jsonArray(text, what)) {
    if (!isObj(r)) throw new Error(`${what}: entry is not an object`);
    if (typeof r.type === 'string' && r.type !== 'unicast') continue; // multicast/local/broadcast are the kernel's
    if (r.table !== undefined && r.table !== 'main') continue; // `table all`: only the main table is ours
    if (typeof r.dst !== 'string') continue;
    const dst = canonicalCidr(r.dst, r.dst.includes(':') || typeof r.pref === 'string');
    if (!dst) continue;
    out.push({ dst, ...(typeof r.protocol === 'string' ? { protocol: r.protocol } : {}) });
  }
  return out;
}

/** The interface as one `ip -j -d -batch -` read sees it (IP_BATCH_ARGS, ipBatchScript in inspect.ts). */
export interface IpBatchRead {
  link?: LinkInfo;
  addresses: string[];
  routes: RouteState[];
}

/**
 * `ip -j -d -batch -` running `addr show dev <if>` then `route show table all dev <if>`: ip prints
 * one JSON array per command, each on its own line. With -d, `addr show` carries everything
 * `link show -d` does (ifindex, flags, MTU, the link kind), so one process reads link, addresses
 * and routes of both families. An interface that does not exist fails the batch (stderr), not here.
 */
export function parseIpBatch(text: string): IpBatchRead {
  const what = 'ip -j -d -batch';
  const docs = text.split('\n').filter((l) => l.trim() !== '');
  if (docs.length === 0 || docs.length > 2) throw new Error(`${what}: expected 2 JSON arrays (addr, routes), one per line; got ${docs.length} line(s)`);
  const link = parseIpLink(docs[0]!);
  if (!link) return { addresses: [], routes: [] };
  return { link, addresses: parseIpAddr(docs[0]!), routes: docs[1] === undefined ? [] : parseIpRoutes(docs[1]) };
}
