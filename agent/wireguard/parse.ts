import { canonicalCidr, canonicalInterfaceAddress } from './cidr.ts';
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
    ...(none(head[1]) ? {} : { publicKey: head[1]! }),
    listenPort: Number.isFinite(listenPort) ? listenPort : 0,
    fwmark: head[3]!,
    peers: [],
  };
  for (const [i, line] of lines.slice(1).entries()) {
    const f = line.split('\t');
    if (f.length !== 8) throw new Error(`wg show dump: peer line ${i + 1} has ${f.length} fields, expected 8`);
    const allowed = none(f[3]) ? [] : f[3]!.split(',').map((c) => canonicalCidr(c) ?? c.trim());
    const peer: PeerState = {
      publicKey: f[0]!,
      hasPresharedKey: !none(f[1]),
      ...(none(f[2]) ? {} : { endpoint: f[2]! }),
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

/**
 * `ip -j ...` output as an array of objects. Anything else (not JSON, not an
 * array, a null element) is an Error naming the command, never a TypeError.
 */
function ipJson(what: string, text: string): Array<Record<string, unknown>> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: the output is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v)) throw new Error(`${what}: expected a JSON array, got ${v === null ? 'null' : typeof v}`);
  return v.map((x: unknown, i) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new Error(`${what}: element ${i} is ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}, expected an object`);
    return x as Record<string, unknown>;
  });
}

const isUint = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;

/** `ip -j -d link show dev <if>` */
export function parseIpLink(json: string): LinkInfo | undefined {
  const what = 'ip -j link show';
  const l = ipJson(what, json)[0];
  if (!l) return undefined;
  if (!isUint(l.ifindex) || !isUint(l.mtu)) throw new Error(`${what}: ifindex ${JSON.stringify(l.ifindex)} / mtu ${JSON.stringify(l.mtu)} are not numbers`);
  const info = l.linkinfo && typeof l.linkinfo === 'object' ? (l.linkinfo as Record<string, unknown>) : undefined;
  const kind = typeof info?.info_kind === 'string' && info.info_kind ? info.info_kind : undefined;
  return {
    ifindex: l.ifindex,
    ...(kind ? { kind } : {}),
    up: Array.isArray(l.flags) && l.flags.includes('UP'),
    mtu: l.mtu,
  };
}

/** `ip -j addr show dev <if>`: addresses as canonical "ip/prefix"; IPv6 link-local (scope link) left out. */
export function parseIpAddr(json: string): string[] {
  const out: string[] = [];
  for (const l of ipJson('ip -j addr show', json)) {
    if (!Array.isArray(l.addr_info)) continue;
    for (const a of l.addr_info as unknown[]) {
      if (!a || typeof a !== 'object') continue;
      const { family, local, prefixlen, scope } = a as Record<string, unknown>;
      if (typeof local !== 'string' || typeof prefixlen !== 'number') continue;
      if (family === 'inet6' && scope === 'link') continue;
      const c = canonicalInterfaceAddress(`${local}/${prefixlen}`);
      if (c) out.push(c);
    }
  }
  return out.sort();
}

/** `ip -j [-6] route show dev <if>` (main table). A bare dst is a host route. */
export function parseIpRoutes(json: string, family6 = false): RouteState[] {
  const text = json.trim();
  if (text === '') return [];
  const out: RouteState[] = [];
  for (const r of ipJson('ip -j route show', text)) {
    if (r.type && r.type !== 'unicast') continue; // multicast/local/broadcast are the kernel's
    if (typeof r.dst !== 'string') continue;
    const dst = canonicalCidr(r.dst, family6);
    if (!dst) continue;
    out.push({ dst, ...(typeof r.protocol === 'string' && r.protocol ? { protocol: r.protocol } : {}) });
  }
  return out;
}
