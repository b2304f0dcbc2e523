/**
 * Kubeconfig files, as client-go reads them (the one home for picking a cluster and a user out of
 * one): the join token's kubeconfig (token.ts) and the kubelet's own /var/lib/k0s/kubelet.conf.
 *
 * What k0s writes to /var/lib/k0s/kubelet.conf is the kubelet's TLS-bootstrap result
 * (k8s.io/kubernetes pkg/kubelet/certificate/bootstrap, writeKubeconfigFromBootstrapping, called by
 * k0s pkg/component/worker/utils.go BootstrapKubeletClientConfig): cluster `default-cluster` with
 * the CA (data, or a file), user `default-auth` whose client-certificate and client-key both name
 * the cert store's `kubelet-client-current.pem` under the kubelet cert dir
 * (/var/lib/k0s/kubelet/pki for k0s), a symlink to the current cert+key pair. See
 * docs/decisions/0141-node-ready.md.
 */
import path from 'node:path';
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { registerSecret } from '../log/secrets.ts';
import { parseYamlSubset, YamlSubsetError } from './yaml-subset.ts';

export type KubeconfigError = (message: string, remediation?: string) => Error;

export function asRecord(v: unknown, field: string, err: KubeconfigError): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw err(`kubeconfig field "${field}" must be a mapping`);
  return v as Record<string, unknown>;
}

export function asString(v: unknown, field: string, err: KubeconfigError): string {
  if (typeof v !== 'string' || v === '') throw err(`kubeconfig field "${field}" is missing or not a string`);
  return v;
}

function asList(v: unknown, field: string, err: KubeconfigError): unknown[] {
  if (!Array.isArray(v) || v.length === 0) throw err(`kubeconfig field "${field}" is missing or empty`);
  return v;
}

function findNamed(list: unknown[], name: string, field: string, err: KubeconfigError): Record<string, unknown> {
  for (const [i, item] of list.entries()) {
    const rec = asRecord(item, `${field}[${i}]`, err);
    if (rec.name === name) return rec;
  }
  throw err(`kubeconfig has no ${field} entry named "${name}"`);
}

/**
 * The cluster and user entries a client uses: those of `current-context` (or of the first context,
 * or the first cluster and user when there are no contexts).
 */
export function selectContext(root: Record<string, unknown>, err: KubeconfigError): { cluster: Record<string, unknown>; userEntry: Record<string, unknown> } {
  if (root.kind !== undefined && root.kind !== 'Config') throw err(`kubeconfig "kind" is ${JSON.stringify(root.kind)}, expected "Config"`);
  const contexts = Array.isArray(root.contexts) ? root.contexts : [];
  let clusterName: string | undefined;
  let userName: string | undefined;
  const current = typeof root['current-context'] === 'string' ? root['current-context'] : undefined;
  if (contexts.length > 0) {
    const ctx = current ? findNamed(contexts, current, 'contexts', err) : asRecord(contexts[0], 'contexts[0]', err);
    const c = asRecord(ctx.context, 'contexts[].context', err);
    clusterName = asString(c.cluster, 'contexts[].context.cluster', err);
    userName = asString(c.user, 'contexts[].context.user', err);
  }
  const clusters = asList(root.clusters, 'clusters', err);
  const clusterEntry = clusterName ? findNamed(clusters, clusterName, 'clusters', err) : asRecord(clusters[0], 'clusters[0]', err);
  const cluster = asRecord(clusterEntry.cluster, 'clusters[].cluster', err);
  const users = asList(root.users, 'users', err);
  const userEntry = userName ? findNamed(users, userName, 'users', err) : asRecord(users[0], 'users[0]', err);
  return { cluster, userEntry };
}

/** Parse kubeconfig text into its root mapping. */
export function parseKubeconfig(text: string, err: KubeconfigError): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYamlSubset(text);
  } catch (e) {
    if (e instanceof YamlSubsetError) throw err(`not valid YAML: ${e.message}`);
    throw e;
  }
  return asRecord(doc, '(document)', err);
}

/** What a kubeconfig says about reaching the API: files are still paths here. */
export interface KubeconfigRefs {
  server: string;
  caData?: string;
  caFile?: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  token?: string;
}

export function kubeconfigRefs(text: string, err: KubeconfigError): KubeconfigRefs {
  const { cluster, userEntry } = selectContext(parseKubeconfig(text, err), err);
  const user = asRecord(userEntry.user ?? {}, 'users[].user', err);
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const out: KubeconfigRefs = { server: asString(cluster.server, 'clusters[].cluster.server', err) };
  const set = <K extends keyof KubeconfigRefs>(k: K, v: string | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('caData', str(cluster['certificate-authority-data']));
  set('caFile', str(cluster['certificate-authority']));
  set('certData', str(user['client-certificate-data']));
  set('certFile', str(user['client-certificate']));
  set('keyData', str(user['client-key-data']));
  set('keyFile', str(user['client-key']));
  set('token', str(user.token));
  return out;
}

/** The kubelet's credentials, resolved: PEM text, never paths. */
export interface KubeletCredentials {
  server: string;
  caPem: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

/**
 * Read a kubelet kubeconfig and everything it names, through the Host port. The kubeconfig must
 * be root's and not writable by group or others (we trust it with a TLS identity); relative file
 * names are relative to the kubeconfig's directory, as client-go resolves them.
 */
export async function loadKubeletCredentials(host: Host, file: string): Promise<KubeletCredentials> {
  const err: KubeconfigError = (m, r) =>
    new AgentError(`${file}: ${m}`, r ?? 'k0s writes this file when the kubelet joins; `castai-edge-initd reset` and a re-run make a fresh one');
  const st = await host.stat(file);
  if (!st) throw err('does not exist (the kubelet has not joined)');
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw err(
      `is not root's or is writable by others (uid ${st.uid}, mode ${st.mode.toString(8)}); it is not trusted`,
      `chown root:root ${file} && chmod 0600 ${file}`,
    );
  }
  const text = await host.readFile(file);
  if (text === undefined) throw err('vanished while being read');
  const refs = kubeconfigRefs(text, err);
  const dir = path.dirname(file);
  const readRef = async (data: string | undefined, ref: string | undefined, what: string): Promise<string | undefined> => {
    if (data) return Buffer.from(data, 'base64').toString('utf8');
    if (!ref) return undefined;
    const p = path.isAbsolute(ref) ? ref : path.join(dir, ref);
    const v = await host.readFile(p);
    if (v === undefined) throw err(`its ${what} ${p} does not exist`);
    return v;
  };
  const caPem = await readRef(refs.caData, refs.caFile, 'certificate-authority');
  if (!caPem?.includes('-----BEGIN CERTIFICATE-----')) throw err('names no cluster CA certificate (certificate-authority[-data])');
  const certPem = await readRef(refs.certData, refs.certFile, 'client-certificate');
  const keyPem = await readRef(refs.keyData, refs.keyFile, 'client-key');
  if (keyPem) registerSecret(keyPem);
  if (refs.token) registerSecret(refs.token);
  if (!(certPem && keyPem) && !refs.token) throw err('has neither a client certificate and key nor a token');
  return { server: refs.server, caPem, ...(certPem && keyPem ? { certPem, keyPem } : {}), ...(refs.token ? { token: refs.token } : {}) };
}
