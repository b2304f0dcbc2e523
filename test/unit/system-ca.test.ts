/**
 * Issue 15 item 6: the agent trusts the same CA store as curl — the system bundle — plus
 * INITD_CA_FILE, and picks up a CA installed after it failed (update-ca-certificates) on its next
 * pass. A real HTTPS server on loopback with a throw-away CA (test/control-plane/pki.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../agent/api/client.ts';
import { loadSystemCa, SYSTEM_CA_FILES, trustStamp } from '../../agent/api/trust-store.ts';
import { loadConfig } from '../../agent/config/load.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { stepContext } from '../../agent/reconcile/context.ts';
import { apiClient } from '../../agent/reconcile/steps/api.ts';
import { generatePki, type EmulatorPki } from '../control-plane/pki.ts';

let dir: string;
let pki: EmulatorPki;
let server: Server;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'system-ca-'));
  pki = generatePki(dir, ['127.0.0.1']);
  server = createServer({ cert: pki.apiServer.certPem, key: pki.apiServer.keyPem }, (_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"code":5,"message":"edge e-1 not found","details":[{"reason":"EDGE_NOT_FOUND","edgeId":"e-1"}]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
}, 60_000);
afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

/** Another system bundle: a CA that signed nothing here (stands in for the distribution's roots). */
const UNRELATED = () => pki.clusterCa.certPem;

async function getEdgeThrough(host: FakeHost, env: Record<string, string> = {}) {
  const cfg = await loadConfig(host, { env: { API_URL: `https://127.0.0.1:${port}`, ORG_ID: 'o', CLUSTER_ID: 'c', EDGE_LOCATION_ID: 'l', ...env } });
  const lines: string[] = [];
  const ctx = await stepContext(host, cfg, createLogger({ write: (l) => void lines.push(l), level: 'debug' }), new AbortController().signal);
  return { ctx, lines };
}

describe('the system CA store (what curl trusts)', () => {
  it('finds the bundle per distribution, first one with a certificate (Go crypto/x509 order)', async () => {
    expect(SYSTEM_CA_FILES[0]).toBe('/etc/ssl/certs/ca-certificates.crt');
    const rhel = new FakeHost().setFile('/etc/ssl/certs/ca-certificates.crt', 'not a bundle').setFile('/etc/pki/tls/certs/ca-bundle.crt', UNRELATED());
    expect(await loadSystemCa(rhel)).toEqual({ file: '/etc/pki/tls/certs/ca-bundle.crt', pem: UNRELATED() });
    expect(await loadSystemCa(new FakeHost())).toEqual({});
  });

  it("the API's CA only in the system bundle, no INITD_CA_FILE: the agent connects", async () => {
    const host = new FakeHost().setFile('/etc/ssl/certs/ca-certificates.crt', `${UNRELATED()}${pki.apiCa.certPem}`);
    const { ctx } = await getEdgeThrough(host);
    const c = await apiClient(ctx);
    // 404 from the server = TLS verified and an answer came back.
    expect(await c.getEdge('ceet_edge-token-0001', 'e-1', { maxAttempts: 1 })).toEqual({ gone: true, edgeId: 'e-1' });
    await c.close();
  });

  it('INITD_CA_FILE is added to the system store, not instead of it', async () => {
    const host = new FakeHost().setFile('/etc/ssl/certs/ca-certificates.crt', UNRELATED()).setFile('/etc/corp/api-ca.pem', pki.apiCa.certPem);
    const { ctx } = await getEdgeThrough(host, { INITD_CA_FILE: '/etc/corp/api-ca.pem' });
    const c = await apiClient(ctx);
    expect(await c.getEdge('ceet_edge-token-0001', 'e-1', { maxAttempts: 1 })).toEqual({ gone: true, edgeId: 'e-1' });
    await c.close();
  });

  it('a CA nobody trusts: a TLS error whose fix names the system store and INITD_CA_FILE; after update-ca-certificates the next pass connects without a restart', async () => {
    const host = new FakeHost().setFile('/etc/ssl/certs/ca-certificates.crt', UNRELATED());
    const { ctx, lines } = await getEdgeThrough(host);
    const c1 = await apiClient(ctx);
    let err: unknown;
    try {
      await c1.getEdge('ceet_edge-token-0001', 'e-1', { maxAttempts: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.kind).toBe('tls');
    expect(e.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    expect(e.remediation).toMatch(/update-ca-certificates/);
    expect(e.remediation).toMatch(/INITD_CA_FILE/);
    expect(await apiClient(ctx)).toBe(c1); // same store: same client

    // The operator installs the CA system-wide (the bundle changes: size and mtime).
    host.files.set('/etc/ssl/certs/ca-certificates.crt', { data: `${UNRELATED()}${pki.apiCa.certPem}`, mode: 0o644 });
    const c2 = await apiClient(ctx);
    expect(c2).not.toBe(c1);
    expect(await c2.getEdge('ceet_edge-token-0001', 'e-1', { maxAttempts: 1 })).toEqual({ gone: true, edgeId: 'e-1' });
    expect(lines.join('')).toMatch(/the CA store changed/);
    await c2.close();
  });

  it('trustStamp follows a symlinked bundle to its target', async () => {
    const host = new FakeHost()
      .setLink('/etc/pki/tls/certs/ca-bundle.crt', '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem')
      .setFile('/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', 'a');
    const before = await trustStamp(host);
    host.setFile('/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', 'ab');
    expect(await trustStamp(host)).not.toBe(before);
  });
});
