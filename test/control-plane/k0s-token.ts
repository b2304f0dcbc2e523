import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/**
 * Test-side ENCODER of k0s worker join tokens, written independently of the
 * agent's decoder (agent/k0s/token.ts) so each checks the other. The layout
 * follows what `k0s token create --role=worker` prints: base64(gzip(kubeconfig)),
 * kubeconfig in the key order Go's yaml marshaller emits.
 */

export interface JoinTokenInput {
  /** e.g. https://10.0.0.1:8443 */
  server: string;
  /** Cluster CA certificate, PEM. */
  caPem: string;
  /** Kubernetes bootstrap token `<6>.<16>`. */
  token: string;
  /** Defaults to kubelet-bootstrap (worker token); tests pass controller-bootstrap to check refusal. */
  user?: string;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
function randomAlnum(n: number): string {
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return s;
}

/** A fresh bootstrap token in the Kubernetes format `abcdef.0123456789abcdef`. */
export function newBootstrapToken(): string {
  return `${randomAlnum(6)}.${randomAlnum(16)}`;
}

export function joinTokenKubeconfig(input: JoinTokenInput): string {
  const user = input.user ?? 'kubelet-bootstrap';
  const ca = Buffer.from(input.caPem, 'utf8').toString('base64');
  return [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${ca}`,
    `    server: ${input.server}`,
    '  name: k0s',
    'contexts:',
    '- context:',
    '    cluster: k0s',
    `    user: ${user}`,
    '  name: k0s',
    'current-context: k0s',
    'kind: Config',
    'preferences: {}',
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${input.token}`,
    '',
  ].join('\n');
}

export function encodeJoinToken(input: JoinTokenInput): string {
  return gzipSync(Buffer.from(joinTokenKubeconfig(input), 'utf8')).toString('base64');
}

/** Wrap arbitrary kubeconfig text (for negative tests). */
export function encodeRawKubeconfig(yaml: string): string {
  return gzipSync(Buffer.from(yaml, 'utf8')).toString('base64');
}
