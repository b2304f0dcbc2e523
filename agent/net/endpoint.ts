/**
 * The one `host:port` parser and printer. Used for the WireGuard peer endpoint, the konnectivity endpoint the
 * k0s step probes, the endpoints `doctor` reads from register.json, `wg`'s printed endpoints and the
 * cluster-CA check's target. Decision: docs/decisions/0210-one-home-per-fact.md.
 *
 * The form is Go's net.JoinHostPort / SplitHostPort (what k0s, konnectivity and `wg` print): `host:port`,
 * `1.2.3.4:port` or `[v6]:port`, the port 1-65535. An IPv6 address must be in brackets; a hostname must be
 * a valid DNS name (RFC 1123 labels).
 */
import { isIP } from 'node:net';
import { canonicalIp } from './cidr.ts';

export interface HostPort {
  /** A lower-case hostname without its trailing dot, or a canonical IP (no brackets). */
  host: string;
  port: number;
  isHostname: boolean;
}

const HOSTNAME_RE = /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** "host:port", "1.2.3.4:port" or "[v6]:port"; undefined when malformed. */
export function parseHostPort(s: string): HostPort | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const h = m[1]!;
  if (isIP(h)) return { host: canonicalIp(h)!, port, isHostname: false };
  if (s.startsWith('[')) return undefined;
  if (!HOSTNAME_RE.test(h)) return undefined;
  return { host: h.toLowerCase().replace(/\.$/, ''), port, isHostname: true };
}

/** `host:port`, an IPv6 address in brackets (as `wg` takes and prints it, and Go's net.JoinHostPort). */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
