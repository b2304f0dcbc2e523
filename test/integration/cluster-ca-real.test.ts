/**
 * The cluster-CA check on real sockets: a loopback TLS server with a certificate from the pinned cluster CA,
 * probed through the real Host port by `doctor`'s check (preflight tls-control-plane-ca) and by the join's
 * verifyJoin. When the certificate names another server (SAN wrong.example.test, token server 127.0.0.1) the
 * kubelet's Go TLS refuses it (x509: certificate is valid for wrong.example.test, not 127.0.0.1), so both must
 * refuse; with the right SAN both pass. Before one check served both, doctor passed the first case.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealHost } from '../../agent/host/real.ts';
import { verifyJoin, type K0sDesired } from '../../agent/k0s/k0s.ts';
import { CHECKS, inspect } from '../../agent/preflight/preflight.ts';
import { REGISTER_FILE } from '../../agent/state/files.ts';
import { encodeJoinToken, newBootstrapToken } from '../control-plane/k0s-token.ts';
import { makeCa, makeServer, type CertPair } from '../control-plane/pki.ts';

const host = new RealHost();
let dir: string;
let ca: CertPair;
let konnectivity: net.Server;
let konnectivityPort: number;
const servers: tls.Server[] = [];

async function serve(cert: CertPair): Promise<number> {
  const s = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (sock) => sock.end());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cluster-ca-'));
  ca = makeCa(dir, 'cluster-ca', 'test-cluster-ca', 2);
  konnectivity = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => konnectivity.listen(0, '127.0.0.1', r));
  konnectivityPort = (konnectivity.address() as net.AddressInfo).port;
});
afterAll(async () => {
  for (const s of servers) s.close();
  await new Promise((r) => konnectivity?.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

/** doctor's verdict and the join's, for a control plane serving a certificate with these SANs. */
async function verdicts(name: string, sans: string[], signer: CertPair = ca): Promise<{ doctor: { status: string; message: string }; join: string }> {
  const port = await serve(makeServer(dir, name, signer, sans, 2));
  const joinToken = encodeJoinToken({ server: `https://127.0.0.1:${port}`, caPem: ca.certPem, token: newBootstrapToken() });
  const stateDir = path.join(dir, name);
  await fs.mkdir(stateDir, { mode: 0o700 });
  const k0s = { apiEndpoint: `https://127.0.0.1:${port}`, konnectivityEndpoint: `127.0.0.1:${konnectivityPort}`, joinToken };
  await fs.writeFile(path.join(stateDir, REGISTER_FILE), JSON.stringify({ k0s }), { mode: 0o600 });
  const r = await inspect(host, { stateDir, skip: [], deadlineMs: 5000 }, CHECKS.filter((c) => c.name === 'tls-control-plane-ca'));
  const d = { joinToken, konnectivity: { host: '127.0.0.1', port: konnectivityPort } } as K0sDesired;
  const join = await verifyJoin(host, d).then(
    () => 'joined',
    (e: Error) => e.message,
  );
  return { doctor: { status: r.checks[0]!.status, message: r.checks[0]!.message }, join };
}

describe('doctor and join agree on the real TLS handshake', () => {
  it('a chain from the pinned CA that names another server: both refuse it', async () => {
    const v = await verdicts('wrong-name', ['wrong.example.test']);
    const refused = /from the cluster CA .* would refuse \(not valid for 127\.0\.0\.1: ERR_TLS_CERT_ALTNAME_INVALID\)/;
    expect(v.doctor).toEqual({ status: 'fail', message: expect.stringMatching(refused) });
    expect(v.join).toMatch(refused);
    expect(v.join).toBe(v.doctor.message); // the same sentence
  });

  it('the same CA with the right SAN: both pass', async () => {
    const v = await verdicts('right-name', ['127.0.0.1']);
    expect(v.doctor).toEqual({ status: 'pass', message: expect.stringMatching(/presents a chain signed by the cluster CA/) });
    expect(v.join).toBe('joined');
  });

  it('a certificate from another CA (interception): both refuse it', async () => {
    const v = await verdicts('intercepted', ['127.0.0.1'], makeCa(dir, 'other-ca', 'interceptor', 2));
    expect(v.doctor).toEqual({ status: 'fail', message: expect.stringMatching(/presents a certificate not signed by the cluster CA/) });
    expect(v.join).toMatch(/does not present the CA from the join token/);
  });
});
