/**
 * The CA store the agent verifies the API with: the SYSTEM store, like curl (and so the
 * installer), plus INITD_CA_FILE. An operator behind a TLS-inspecting proxy installs its CA
 * system-wide (update-ca-certificates, update-ca-trust); curl trusts it at once, and so must we.
 *
 * The system store is the distribution's PEM bundle, found the way Go's crypto/x509
 * (root_linux.go certFiles) and curl's configure (--with-ca-bundle probing) find it: the first of
 * SYSTEM_CA_FILES that holds a certificate. It is read through the Host port. When a host has
 * none (a minimal image without ca-certificates), the agent falls back to Node's bundled Mozilla
 * store and says so (curl would fail there). docs/decisions/0166-system-ca-store.md.
 */
import path from 'node:path';
import type { Host } from '../host/host.ts';

/** The system bundle, per distribution, in Go's order. */
export const SYSTEM_CA_FILES: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo, Arch (update-ca-certificates / update-ca-trust)
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7+
  '/etc/ssl/cert.pem', // Alpine
];

export interface SystemCa {
  /** The bundle file used, or undefined when the host has none. */
  file?: string;
  /** Its PEM text (every certificate in it). */
  pem?: string;
}

const hasCert = (s: string | undefined): s is string => Boolean(s?.includes('-----BEGIN CERTIFICATE-----'));

/** The first system bundle that holds a certificate (unreadable candidates are skipped). */
export async function loadSystemCa(host: Pick<Host, 'readFile'>): Promise<SystemCa> {
  for (const file of SYSTEM_CA_FILES) {
    const pem = await host.readFile(file).catch(() => undefined);
    if (hasCert(pem)) return { file, pem };
  }
  return {};
}

/**
 * A cheap fingerprint of what the trust store is made of (size and mtime of every candidate
 * bundle and of INITD_CA_FILE): when it changes — an operator ran update-ca-certificates after
 * the agent failed — the API client is rebuilt, so the next pass uses the new store.
 */
export async function trustStamp(host: Pick<Host, 'stat' | 'readlink'>, caFile?: string): Promise<string> {
  const parts: string[] = [];
  for (const f of [...SYSTEM_CA_FILES, ...(caFile ? [caFile] : [])]) {
    let st = await host.stat(f).catch(() => undefined);
    // A bundle is often a symlink into /etc/pki or /usr/share: what changes is the target.
    if (st?.isSymlink) {
      const to = await host.readlink(f).catch(() => undefined);
      if (to !== undefined) st = await host.stat(path.posix.resolve(path.posix.dirname(f), to)).catch(() => undefined);
    }
    parts.push(st ? `${f}:${st.size}:${st.mtimeMs}` : `${f}:-`);
  }
  return parts.join('|');
}
