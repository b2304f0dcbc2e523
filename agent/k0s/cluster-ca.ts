/**
 * The one cluster-CA check, used by preflight (`tls-control-plane-ca`, so `doctor`) and by the k0s
 * step before it changes anything (`k0s.verify-join`). Both must say what the real join will say.
 *
 * The kubelet (and k0s before it) talks to the control plane with client-go, whose Go crypto/tls
 * verifies the presented chain against the kubeconfig's certificate-authority-data only and then
 * the server name from the kubeconfig's `server:` URL (a DNS name against the DNS SANs, an IP
 * against the IP SANs). So the connection passes only when both hold: the Host port's `authorized`
 * (Node's tls: chain against `ca`, then checkServerIdentity against the host name). A chain that
 * merely contains the pinned CA but names another server fails the real join (x509: certificate is
 * valid for …, not …), so it fails here too. Decision: docs/decisions/0210-one-home-per-fact.md.
 */
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { formatHostPort } from '../net/endpoint.ts';
import type { K0sJoinToken } from './token.ts';

type ClusterCaVerdict =
  /** TCP + TLS handshake done, chain from the pinned CA, valid for the token's server name. */
  | { ok: true; target: string }
  /** No TLS handshake at all (refused, timed out, reset). */
  | { ok: false; kind: 'unreachable'; target: string; error: string }
  /** The chain is not from the pinned CA (TLS interception, wrong endpoint, re-created cluster). */
  | { ok: false; kind: 'untrusted'; target: string; error: string; chainSha256: string[] }
  /** The chain holds the pinned CA yet is refused: not valid for the token's server name (the SANs), expired, … */
  | { ok: false; kind: 'refused'; target: string; error: string; chainSha256: string[] };

/** Node's checkServerIdentity code for a certificate whose SANs do not name the server (Go: x509.HostnameError). */
export const NAME_MISMATCH = 'ERR_TLS_CERT_ALTNAME_INVALID';

/** Probe the token's server with its CA pinned and judge the result as the kubelet would. */
export async function verifyClusterCa(
  host: Host,
  tok: Pick<K0sJoinToken, 'host' | 'port' | 'caPem' | 'caSha256'>,
  timeoutMs: number,
): Promise<ClusterCaVerdict> {
  const target = formatHostPort(tok.host, tok.port);
  const r = await host.tlsProbe(tok.host, tok.port, tok.caPem, timeoutMs);
  if (!r.connected) return { ok: false, kind: 'unreachable', target, error: r.error ?? 'no TLS handshake' };
  if (r.authorized) return { ok: true, target };
  const kind = r.chainSha256.includes(tok.caSha256) ? 'refused' : 'untrusted';
  return { ok: false, kind, target, error: r.error ?? 'not verified', chainSha256: r.chainSha256 };
}

/**
 * The refusal both callers give for a chain that holds the pinned CA and is still refused: the join throws it,
 * doctor shows its message and fix.
 */
export function refusedError(tok: Pick<K0sJoinToken, 'host' | 'caSha256'>, v: { target: string; error: string }): AgentError {
  const why = v.error === NAME_MISMATCH ? `not valid for ${tok.host}: ${v.error}` : v.error;
  return new AgentError(
    `${v.target} presents a certificate from the cluster CA (sha256 ${tok.caSha256.slice(0, 16)}…) that the kubelet would refuse (${why})`,
    "the control plane's serving certificate must name the join token's server (a DNS or IP SAN) and be in date: " +
      'fix the endpoint the control plane advertises or its certificate, or fetch a fresh init script',
  );
}
