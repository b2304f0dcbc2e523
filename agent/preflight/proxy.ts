import type { ProxyConfig } from '../config/types.ts';

/**
 * The HTTPS proxy used for `url`, honouring NO_PROXY the way curl and Go do:
 * `*` matches everything; `example.com` and `.example.com` match the host and
 * its subdomains; an IP matches itself; `host:port` entries match that port only.
 * CIDR entries are not interpreted here (they never match a host name).
 */
export function proxyFor(url: string, proxy: ProxyConfig): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const chosen = u.protocol === 'http:' ? proxy.httpProxy : proxy.httpsProxy;
  if (!chosen) return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = u.port || (u.protocol === 'http:' ? '80' : '443');
  for (const raw of (proxy.noProxy ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return undefined;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[(.*)\]/, '$1'));
    const name = (m?.[1] ?? entry).replace(/^\*?\./, '');
    const p = m?.[2];
    if (p && p !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return undefined;
  }
  return chosen;
}
