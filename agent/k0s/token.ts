import { X509Certificate } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { AgentError, EXIT } from '../errors.ts';
import { registerSecret } from '../log/secrets.ts';
import { asRecord, asString, parseKubeconfig, selectContext } from './kubeconfig.ts';

/**
 * k0s worker join tokens.
 *
 * A k0s join token (what `k0s token create --role=worker` prints, and what
 * k0smotron hands out) is `base64(gzip(kubeconfig))`. The kubeconfig has one
 * cluster (`server: https://<host>:8443`, `certificate-authority-data`: the
 * cluster CA, base64 PEM) and one user `kubelet-bootstrap` whose `token` is a
 * Kubernetes bootstrap token (`abcdef.0123456789abcdef`).
 *
 * We decode it before joining to pin the cluster CA and learn the API
 * endpoint (preflight probes it), and refuse tokens that are not worker
 * tokens (a controller token's user is `controller-bootstrap`).
 */

export interface K0sJoinToken {
  /** `https://host:port` exactly as in the kubeconfig. */
  server: string;
  host: string;
  port: number;
  /** The cluster CA certificate(s), PEM. */
  caPem: string;
  /** sha256 fingerprint of the (first) CA certificate's DER, lower-case hex without colons. */
  caSha256: string;
  /** Always `kubelet-bootstrap` (anything else is refused). */
  user: string;
  /** The bootstrap token `<id>.<secret>` (secret: registered with registerSecret). */
  bootstrapToken: string;
  /** The public id half of the bootstrap token (safe to log). */
  tokenId: string;
}

export const WORKER_TOKEN_USER = 'kubelet-bootstrap';
/**
 * Bounds for a token from the network: a worker kubeconfig is ~2-3 KiB (one CA, a server URL, a
 * bootstrap token), so 64 KiB decompressed is generous; gunzip stops there (maxOutputLength)
 * instead of inflating a gzip bomb into memory. The base64 text itself is capped the same way.
 */
export const MAX_JOIN_TOKEN_CHARS = 64 * 1024;
export const MAX_KUBECONFIG_BYTES = 64 * 1024;
const BOOTSTRAP_TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

function tokenError(message: string, remediation?: string): AgentError {
  return new AgentError(
    `k0s join token: ${message}`,
    remediation ?? 'the control plane sent an unusable join token; re-run registration (restart castai-edge-initd) and report it if it persists',
    EXIT.RUNTIME,
  );
}

/** Decode base64 → gunzip → kubeconfig text. */
export function unwrapJoinToken(token: string): string {
  if (token.length > MAX_JOIN_TOKEN_CHARS)
    throw tokenError(`the token is ${token.length} characters long; a worker join token is a few KiB (at most ${MAX_JOIN_TOKEN_CHARS} accepted)`);
  const compact = token.replace(/\s+/g, '');
  if (compact === '') throw tokenError('the token is empty');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw tokenError('the token is not base64 (expected base64(gzip(kubeconfig)) as printed by `k0s token create --role=worker`)');
  }
  const raw = Buffer.from(compact, 'base64');
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) {
    throw tokenError('the base64 payload is not gzip data (expected base64(gzip(kubeconfig)))');
  }
  try {
    return gunzipSync(raw, { maxOutputLength: MAX_KUBECONFIG_BYTES }).toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw tokenError(
        `the gzip payload decompresses to more than ${MAX_KUBECONFIG_BYTES} bytes (a worker kubeconfig is a few KiB); refused without inflating it`,
      );
    }
    throw tokenError(`the gzip payload is corrupt or truncated (${(e as Error).message})`);
  }
}

/** Decode and validate a k0s worker join token. Throws AgentError with a precise message. */
export function decodeJoinToken(token: string): K0sJoinToken {
  const yaml = unwrapJoinToken(token);
  const err = (m: string, r?: string) => tokenError(m.startsWith('not valid YAML') ? `the kubeconfig inside is ${m}` : m, r);
  const { cluster, userEntry } = selectContext(parseKubeconfig(yaml, err), err);
  const server = asString(cluster.server, 'clusters[].cluster.server', err);
  const caData = asString(cluster['certificate-authority-data'], 'clusters[].cluster.certificate-authority-data', err);

  const user = asString(userEntry.name, 'users[].name', err);
  if (user !== WORKER_TOKEN_USER) {
    throw tokenError(
      `user is "${user}", expected "${WORKER_TOKEN_USER}": this is not a worker join token`,
      'the control plane must issue a worker token (k0s token create --role=worker); a controller token is never accepted',
    );
  }
  const bootstrapToken = asString(asRecord(userEntry.user, 'users[].user', err).token, 'users[].user.token', err);
  registerSecret(bootstrapToken);
  const m = BOOTSTRAP_TOKEN_RE.exec(bootstrapToken);
  if (!m) throw tokenError('users[].user.token is not a Kubernetes bootstrap token (expected the form abcdef.0123456789abcdef)');

  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw tokenError(`clusters[].cluster.server "${server}" is not a URL`);
  }
  if (url.protocol !== 'https:') throw tokenError(`clusters[].cluster.server "${server}" must be https`);
  const port = url.port ? Number(url.port) : 443;
  if (port < 1 || port > 65535) throw tokenError(`clusters[].cluster.server "${server}" has port ${port}; expected 1-65535`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');

  const caPem = Buffer.from(caData, 'base64').toString('utf8');
  if (!caPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw tokenError('clusters[].cluster.certificate-authority-data does not hold a PEM certificate');
  }
  let caSha256: string;
  try {
    caSha256 = new X509Certificate(caPem).fingerprint256.replace(/:/g, '').toLowerCase();
  } catch (e) {
    throw tokenError(`clusters[].cluster.certificate-authority-data is not a valid certificate (${(e as Error).message})`);
  }

  return { server, host, port, caPem, caSha256, user, bootstrapToken, tokenId: m[1] as string };
}
