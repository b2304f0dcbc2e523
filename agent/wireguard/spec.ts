import { DEFAULT_WIREGUARD_INTERFACE } from '../config/known.ts';
import { interfaceNameProblem } from '../config/validate.ts';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { canonicalCidr, canonicalInterfaceAddress, isDefaultRoute } from '../net/cidr.ts';
import { parseHostPort, type HostPort } from '../net/endpoint.ts';
import { isWireguardKey } from './keys.ts';

/*
 * The register response's `wireguard` object (its one type: WireguardSpec in agent/api/types.ts;
 * docs/control-plane-api.md §3), which normalizeSpec below validates:
 *   { address: "100.96.0.7/32", listenPort: 51840, mtu: 1380,
 *     peers: [{ publicKey, endpoint: "gw.example:51840", allowedIPs: [...], persistentKeepalive: 25 }] }
 */

/** The interface the agent creates and owns (INITD_WIREGUARD_INTERFACE; agent/config/known.ts). */
export const DEFAULT_IFACE = DEFAULT_WIREGUARD_INTERFACE;
export const DEFAULT_LISTEN_PORT = 51840;
export const DEFAULT_MTU = 1380;
export const DEFAULT_KEEPALIVE = 25;

/** A peer endpoint: hostname or canonical IP, and port (agent/net/endpoint.ts). */
export type Endpoint = HostPort;

/** A validated, canonical spec: every CIDR canonical, every default filled in. */
export interface NormalizedPeer {
  publicKey: string;
  endpoint?: Endpoint;
  allowedIPs: string[]; // canonical, de-duplicated, sorted
  persistentKeepalive: number; // 0 = off
}
export interface NormalizedSpec {
  address: string;
  listenPort: number;
  mtu: number;
  peers: NormalizedPeer[];
}

/** Throws INITD_WIREGUARD_INTERFACE's ConfigError (agent/config/validate.ts) unless `name` is usable as given. */
export function validateIfaceName(name: string, variable = 'INITD_WIREGUARD_INTERFACE'): void {
  const p = interfaceNameProblem(name, variable);
  if (p) throw new ConfigError([p]);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Check the `wireguard` object from the control plane and normalise it.
 * All problems are collected; a ConfigError names each field (`wireguard.peers[0].allowedIPs[1]`),
 * the bad value and what would be valid. Nothing on the host is touched before this passes.
 */
export function normalizeSpec(raw: unknown): NormalizedSpec {
  const problems: ConfigProblem[] = [];
  const bad = (variable: string, item: unknown, message: string) =>
    problems.push({ variable, item: typeof item === 'string' ? item : JSON.stringify(item) ?? String(item), message });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError([{ variable: 'wireguard', item: JSON.stringify(raw) ?? String(raw), message: 'the register response has no "wireguard" object' }]);
  }
  const r = raw as Record<string, unknown>;

  let address = '';
  if (typeof r.address !== 'string' || !canonicalInterfaceAddress(r.address)) {
    bad('wireguard.address', r.address, 'expected the node tunnel address with a prefix, e.g. "100.96.0.7/32"');
  } else address = canonicalInterfaceAddress(r.address)!;

  let listenPort = DEFAULT_LISTEN_PORT;
  if (r.listenPort !== undefined) {
    if (!isInt(r.listenPort) || r.listenPort < 1 || r.listenPort > 65535)
      bad('wireguard.listenPort', r.listenPort, `expected a UDP port 1-65535 (default ${DEFAULT_LISTEN_PORT})`);
    else listenPort = r.listenPort;
  }

  let mtu = DEFAULT_MTU;
  if (r.mtu !== undefined) {
    if (!isInt(r.mtu) || r.mtu < 1280 || r.mtu > 9000) bad('wireguard.mtu', r.mtu, `expected an integer 1280-9000 (default ${DEFAULT_MTU})`);
    else mtu = r.mtu;
  }

  const peers: NormalizedPeer[] = [];
  if (!Array.isArray(r.peers)) {
    bad('wireguard.peers', r.peers, 'expected a list of peers (the gateway at least)');
  } else {
    const seen = new Set<string>();
    r.peers.forEach((p: unknown, i: number) => {
      const at = `wireguard.peers[${i}]`;
      if (typeof p !== 'object' || p === null) {
        bad(at, p, 'expected an object {publicKey, endpoint, allowedIPs, persistentKeepalive}');
        return;
      }
      const q = p as Record<string, unknown>;
      const ok = problems.length;
      if (typeof q.publicKey !== 'string' || !isWireguardKey(q.publicKey))
        bad(`${at}.publicKey`, q.publicKey, 'expected a WireGuard public key: base64 of 32 bytes (44 characters)');
      else if (seen.has(q.publicKey)) bad(`${at}.publicKey`, q.publicKey, 'the same peer is listed twice');
      else seen.add(q.publicKey);
      let endpoint: Endpoint | undefined;
      if (q.endpoint !== undefined && q.endpoint !== null && q.endpoint !== '') {
        endpoint = typeof q.endpoint === 'string' ? parseHostPort(q.endpoint) : undefined;
        if (!endpoint) bad(`${at}.endpoint`, q.endpoint, 'expected "host:port", "1.2.3.4:port" or "[v6]:port"');
      }
      const allowed = new Set<string>();
      if (!Array.isArray(q.allowedIPs)) bad(`${at}.allowedIPs`, q.allowedIPs, 'expected a list of CIDRs, e.g. ["100.96.0.1/32"]');
      else
        q.allowedIPs.forEach((a: unknown, j: number) => {
          const c = typeof a === 'string' ? canonicalCidr(a) : undefined;
          if (typeof a !== 'string' || !a.includes('/') || !c) bad(`${at}.allowedIPs[${j}]`, a, 'expected a CIDR such as "10.244.0.0/16"');
          else if (isDefaultRoute(c))
            bad(`${at}.allowedIPs[${j}]`, a, 'a default route would send all node traffic into the tunnel; only specific networks are allowed');
          else allowed.add(c);
        });
      let keepalive = DEFAULT_KEEPALIVE;
      if (q.persistentKeepalive !== undefined) {
        if (!isInt(q.persistentKeepalive) || q.persistentKeepalive < 0 || q.persistentKeepalive > 65535)
          bad(`${at}.persistentKeepalive`, q.persistentKeepalive, 'expected seconds 0-65535 (0 = off, default 25)');
        else keepalive = q.persistentKeepalive;
      }
      if (problems.length === ok) {
        peers.push({ publicKey: q.publicKey as string, ...(endpoint ? { endpoint } : {}), allowedIPs: [...allowed].sort(), persistentKeepalive: keepalive });
      }
    });
  }
  if (problems.length) throw new ConfigError(problems);
  return { address, listenPort, mtu, peers };
}
