import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';

/**
 * Certificates for the control-plane emulator, made with the Debian `openssl`
 * CLI at every start (Node has no X.509 generator). EC P-256 keys: fast on TCG.
 *
 *   <dir>/api-ca.pem        CA of the emulated Cast AI API (pass via NODE_EXTRA_CA_CERTS / --ca-file / INITD_CA_FILE)
 *   <dir>/api-server.{pem,key}
 *   <dir>/cluster-ca.pem    the "k0smotron cluster CA", embedded in join tokens
 *   <dir>/kube-server.{pem,key}  served on the kube-API port (8443) and checked by the k0s test double
 *
 * Keys are 0600. Nothing here is a production CA: every start makes new ones.
 */

export interface CertPair {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface EmulatorPki {
  apiCa: CertPair;
  apiServer: CertPair;
  clusterCa: CertPair;
  kubeServer: CertPair;
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString() ?? err.message} (is the Debian "openssl" package installed?)`, { cause: e });
  }
}

function pair(certFile: string, keyFile: string): CertPair {
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile, certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

export function makeCa(dir: string, name: string, cn: string, days: number): CertPair {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  openssl([
    'req', '-x509', '-new', '-nodes',
    '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-keyout', key, '-out', cert, '-days', String(days), '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pair(cert, key);
}

export function makeServer(dir: string, name: string, ca: CertPair, sans: string[], days: number): CertPair {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  const altNames = [...new Set(sans)].map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
  writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${altNames}\n`,
  );
  openssl([
    'req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-keyout', key, '-out', csr, '-subj', `/CN=${sans[0] ?? 'localhost'}`,
  ]);
  openssl([
    'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-out', cert, '-days', String(days), '-extfile', ext, '-sha256',
  ]);
  return pair(cert, key);
}

/** Generate both CAs and server certificates valid for `sans` (IPs and DNS names). */
export function generatePki(dir: string, sans: string[], days = 7): EmulatorPki {
  const apiCa = makeCa(dir, 'api-ca', 'edge-initd control-plane emulator API CA (test only)', days);
  const clusterCa = makeCa(dir, 'cluster-ca', 'edge-initd emulator k0s cluster CA (test only)', days);
  return {
    apiCa,
    clusterCa,
    apiServer: makeServer(dir, 'api-server', apiCa, sans, days),
    kubeServer: makeServer(dir, 'kube-server', clusterCa, sans, days),
  };
}

/**
 * Sign a kubelet client CSR with the cluster CA, as kube-controller-manager's
 * kubernetes.io/kube-apiserver-client-kubelet signer does once the CSR approver accepted it:
 * the subject must be exactly O=system:nodes, CN=system:node:<nodeName> (anything else is refused,
 * like the approver's kubelet-client recognizer), usage clientAuth. Returns the certificate PEM.
 */
export function signKubeletCsr(dir: string, ca: CertPair, csrPem: string, nodeName: string, days = 7): string {
  const base = path.join(dir, `kubelet-${createHash('sha256').update(csrPem).digest('hex').slice(0, 16)}`);
  writeFileSync(`${base}.csr`, csrPem, { mode: 0o600 });
  try {
    let subject: string;
    try {
      subject = execFileSync('openssl', ['req', '-in', `${base}.csr`, '-noout', '-verify', '-subject', '-nameopt', 'RFC2253'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }).toString();
    } catch {
      throw new Error('csr is not a valid PEM certificate signing request');
    }
    const dn = /^subject=\s*(.*)$/m.exec(subject)?.[1]?.trim() ?? '';
    const want = `CN=system:node:${nodeName},O=system:nodes`;
    if (dn !== want) throw new Error(`csr subject is "${dn}", expected "${want}"`);
    writeFileSync(`${base}.ext`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
    openssl([
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-CAcreateserial',
      '-out',
      `${base}.pem`,
      '-days',
      String(days),
      '-extfile',
      `${base}.ext`,
      '-sha256',
    ]);
    return readFileSync(`${base}.pem`, 'utf8');
  } finally {
    for (const ext of ['csr', 'ext', 'pem']) rmSync(`${base}.${ext}`, { force: true });
  }
}

/**
 * A kubelet client CSR for `nodeName` (O=system:nodes, CN=system:node:<name>), as the k0s test
 * double makes it (test/doubles/k0s-test-double.sh): for tests that post a join by hand.
 */
export function kubeletCsrPem(dir: string, nodeName: string): string {
  const base = path.join(dir, `test-kubelet-${createHash('sha256').update(nodeName).digest('hex').slice(0, 12)}`);
  try {
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`,
      '-subj', `/O=system:nodes/CN=system:node:${nodeName}`, '-out', `${base}.csr`]);
    return readFileSync(`${base}.csr`, 'utf8');
  } finally {
    for (const ext of ['key', 'csr']) rmSync(`${base}.${ext}`, { force: true });
  }
}

/** The kubelet's client certificate and key (one PEM, a symlink to the current pair) in k0s's kubelet cert dir. */
export const KUBELET_CLIENT_PEM = '/var/lib/k0s/kubelet/pki/kubelet-client-current.pem';

/**
 * What k0s leaves in /var/lib/k0s/kubelet.conf once the kubelet's TLS bootstrap is done (kubernetes
 * pkg/kubelet/certificate/bootstrap writeKubeconfigFromBootstrapping, clientcmd.WriteToFile, called by
 * k0s pkg/component/worker/utils.go; docs/decisions/0141-node-ready.md): the cluster CA as data,
 * `server`, and user `default-auth` whose certificate and key are both KUBELET_CLIENT_PEM. The k0s
 * test double writes exactly this; the agent's reader (agent/k0s/kubeconfig.ts) reads it.
 */
export function kubeletConfText(clusterCaPem: string, server: string): string {
  return [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(clusterCaPem).toString('base64')}`,
    `    server: ${server}`,
    '  name: default-cluster',
    'contexts:',
    '- context:',
    '    cluster: default-cluster',
    '    namespace: default',
    '    user: default-auth',
    '  name: default-context',
    'current-context: default-context',
    'kind: Config',
    'preferences: {}',
    'users:',
    '- name: default-auth',
    '  user:',
    `    client-certificate: ${KUBELET_CLIENT_PEM}`,
    `    client-key: ${KUBELET_CLIENT_PEM}`,
    '',
  ].join('\n');
}
