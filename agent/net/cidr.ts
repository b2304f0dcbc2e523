import { isIPv4, isIPv6 } from 'node:net';

/**
 * Small, dependency-free CIDR helpers so desired (API) and actual (`ip`, `wg`)
 * values compare equal when they mean the same network: host bits are masked
 * (as the kernel and `wg` do), IPv6 is written in RFC 5952 form, and a bare
 * address (how `ip route` prints a host route) gets /32 or /128.
 */

function v4ToBytes(ip: string): number[] {
  return ip.split('.').map((x) => Number(x));
}

function v6ToBytes(ip: string): number[] | undefined {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  let tail: number[] = [];
  // Embedded IPv4 (::ffff:1.2.3.4)
  const lastColon = s.lastIndexOf(':');
  const maybeV4 = s.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    if (!isIPv4(maybeV4)) return undefined;
    tail = v4ToBytes(maybeV4);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 && head.length !== 8) return undefined;
  if (fill < 0) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  const bytes: number[] = [];
  for (const g of groups) bytes.push((g >> 8) & 0xff, g & 0xff);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

function bytesToV6(b: number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952: compress the longest run (length >= 2) of zero groups, first one on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function mask(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return bits === 8 ? b : b & ((0xff << (8 - bits)) & 0xff);
  });
}

/** Canonical form of an IP address (IPv6 compressed, lower case); undefined when invalid. */
export function canonicalIp(ip: string): string | undefined {
  if (isIPv4(ip)) return v4ToBytes(ip).join('.');
  if (isIPv6(ip)) {
    const b = v6ToBytes(ip);
    return b ? bytesToV6(b) : undefined;
  }
  return undefined;
}

/**
 * Canonical network for "addr/prefix" (host bits cleared), or for a bare
 * address (a host route). `default` becomes 0.0.0.0/0 (or ::/0 with `family6`).
 * Returns undefined for anything invalid.
 */
export function canonicalCidr(s: string, family6 = false): string | undefined {
  const t = s.trim();
  if (t === 'default') return family6 ? '::/0' : '0.0.0.0/0';
  const slash = t.indexOf('/');
  const ip = slash >= 0 ? t.slice(0, slash) : t;
  const pfxText = slash >= 0 ? t.slice(slash + 1) : undefined;
  if (pfxText !== undefined && !/^\d{1,3}$/.test(pfxText)) return undefined;
  if (isIPv4(ip)) {
    const prefix = pfxText === undefined ? 32 : Number(pfxText);
    if (prefix > 32) return undefined;
    return `${mask(v4ToBytes(ip), prefix).join('.')}/${prefix}`;
  }
  if (isIPv6(ip)) {
    const b = v6ToBytes(ip);
    const prefix = pfxText === undefined ? 128 : Number(pfxText);
    if (!b || prefix > 128) return undefined;
    return `${bytesToV6(mask(b, prefix))}/${prefix}`;
  }
  return undefined;
}

/** An interface address keeps its host bits: "100.96.0.7/24" stays as is (canonical IP + prefix). */
export function canonicalInterfaceAddress(s: string): string | undefined {
  const t = s.trim();
  const slash = t.indexOf('/');
  if (slash < 0) return undefined;
  const ip = canonicalIp(t.slice(0, slash));
  const pfx = t.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(pfx)) return undefined;
  const n = Number(pfx);
  if (n > (ip.includes(':') ? 128 : 32)) return undefined;
  return `${ip}/${n}`;
}

export function isDefaultRoute(cidr: string): boolean {
  return cidr.endsWith('/0');
}
