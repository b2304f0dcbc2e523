/**
 * One cluster-CA check (agent/k0s/cluster-ca.ts) for `doctor` (preflight tls-control-plane-ca) and the join
 * (k0s.verify-join): for every probe result both give the same verdict. The case that split them before: a
 * chain from the pinned CA whose certificate names another server. Node reports it as the Host port's
 * tlsProbe does on a real socket (test/integration/cluster-ca-real.test.ts): authorized false,
 * ERR_TLS_CERT_ALTNAME_INVALID, the chain up to the CA; the kubelet refuses it, so doctor must fail too.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import type { TlsProbeResult } from '../../agent/host/host.ts';
import { NAME_MISMATCH } from '../../agent/k0s/cluster-ca.ts';
import { verifyJoin, type K0sDesired } from '../../agent/k0s/k0s.ts';
import { CHECKS, inspect } from '../../agent/preflight/preflight.ts';
import { DEFAULT_STATE_DIR, REGISTER_FILE } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
// A real k0s worker join token (server https://cp.example.test:8443, CA test/fixtures/k0s/ca.pem).
const JOIN_TOKEN = readFileSync(new URL('../fixtures/k0s/worker-token.txt', import.meta.url), 'utf8').trim();
const CA_SHA256 = new X509Certificate(readFileSync(new URL('../fixtures/k0s/ca.pem', import.meta.url))).fingerprint256.replace(/:/g, '').toLowerCase();
const LEAF = 'ab'.repeat(32);
const TLS_CHECK = CHECKS.filter((c) => c.name === 'tls-control-plane-ca');

function host(probe: Omit<TlsProbeResult, 'durationMs'> | undefined): FakeHost {
  const h = new FakeHost();
  const k0s = { apiEndpoint: 'https://cp.example.test:8443', konnectivityEndpoint: 'cp.example.test:8132', joinToken: JOIN_TOKEN };
  h.setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify({ k0s }), 0o600);
  if (probe) h.tls.set('cp.example.test:8443', { ...probe, durationMs: 3 });
  h.tcp.set('cp.example.test:8132', { ok: true, durationMs: 1 });
  return h;
}

async function doctor(h: FakeHost): Promise<{ pass: boolean; message: string }> {
  const r = await inspect(h, { stateDir: STATE, skip: [], deadlineMs: 2000 }, TLS_CHECK);
  const c = r.checks[0]!;
  return { pass: c.status === 'pass', message: c.message };
}

async function join(h: FakeHost): Promise<{ pass: boolean; message: string }> {
  const d = { joinToken: JOIN_TOKEN, konnectivity: { host: 'cp.example.test', port: 8132 } } as K0sDesired;
  try {
    await verifyJoin(h, d);
    return { pass: true, message: '' };
  } catch (e) {
    return { pass: false, message: (e as Error).message };
  }
}

describe('doctor and join judge the control-plane certificate with one check', () => {
  it('a chain from the pinned CA that names another server: both refuse it, as the kubelet would (doctor passed it before)', async () => {
    const h = host({ connected: true, authorized: false, error: NAME_MISMATCH, chainSha256: [LEAF, CA_SHA256] });
    const [dr, jr] = [await doctor(h), await join(h)];
    const refused = /cp\.example\.test:8443 presents a certificate from the cluster CA .* would refuse \(not valid for cp\.example\.test/;
    expect(dr).toEqual({ pass: false, message: expect.stringMatching(refused) });
    expect(jr).toEqual({ pass: false, message: expect.stringMatching(/not valid for cp\.example\.test: ERR_TLS_CERT_ALTNAME_INVALID/) });
  });

  const refused = (error: string, chainSha256: string[]) => ({ connected: true, authorized: false, error, chainSha256 });
  const cases: Array<{ name: string; probe: Omit<TlsProbeResult, 'durationMs'> | undefined; pass: boolean }> = [
    { name: 'the CA, the right name', probe: { connected: true, authorized: true, chainSha256: [LEAF, CA_SHA256] }, pass: true },
    { name: 'the right name, sent without the CA (Node adds it from `ca`)', probe: { connected: true, authorized: true, chainSha256: [LEAF] }, pass: true },
    { name: 'the wrong name', probe: refused(NAME_MISMATCH, [LEAF, CA_SHA256]), pass: false },
    { name: 'an expired leaf from the CA', probe: refused('CERT_HAS_EXPIRED', [LEAF, CA_SHA256]), pass: false },
    { name: 'another CA (interception)', probe: refused('UNABLE_TO_VERIFY_LEAF_SIGNATURE', [LEAF]), pass: false },
    { name: 'no handshake', probe: undefined, pass: false },
  ];
  it.each(cases)('$name: doctor and join agree ($pass)', async ({ probe, pass }) => {
    const [dr, jr] = [await doctor(host(probe)), await join(host(probe))];
    expect({ doctor: dr.pass, join: jr.pass }).toEqual({ doctor: pass, join: pass });
  });
});
