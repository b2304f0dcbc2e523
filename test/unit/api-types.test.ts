/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return --
   the cases below turn valid control-plane answers into shapes no type describes (wrong types, missing fields), to prove
   the validators refuse them; `any` is the honest type of such a document. */
import { describe, expect, it } from 'vitest';
import { loadCaFile } from '../../agent/api/client.ts';
import { parseEdgeState, parseRegisterResponse, ResponseShapeError } from '../../agent/api/types.ts';
import { EXIT } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { scrub } from '../../agent/log/logger.ts';
import { wgPublicKey } from '../helpers/api.ts';

function good(): Record<string, any> {
  return {
    edge: { id: 'e-1', name: 'cast-1', phase: 'READY' },
    edgeToken: 'ceet_token-for-types-test-1',
    node: { name: 'cast-1', providerID: 'castai-omni://e-1', labels: { a: 'b' }, taints: [{ key: 'k', effect: 'NoSchedule' }] },
    wireguard: {
      address: 'fd00::7/128',
      listenPort: 51840,
      mtu: 1380,
      peers: [{ publicKey: wgPublicKey(), endpoint: '[fd00::1]:51840', allowedIPs: ['100.96.0.1/32'] }],
    },
    k0s: {
      version: 'v1.33.1+k0s.0',
      artifacts: { arm64: { url: 'https://dl/k0s', sha256: 'f'.repeat(64) } },
      joinToken: 'join-token-for-types-test',
      apiEndpoint: 'https://cp:8443',
      konnectivityEndpoint: 'cp:8132',
    },
    logs: { url: 'https://api/logs', apiKey: 'celk_key-for-types-test', expiresAt: '2030-01-01T00:00:00Z' },
  };
}

function fieldOf(mutate: (o: Record<string, any>) => void, parse: (v: unknown) => unknown = parseRegisterResponse): string {
  const o = good();
  mutate(o);
  try {
    parse(o);
  } catch (e) {
    expect(e).toBeInstanceOf(ResponseShapeError);
    return (e as ResponseShapeError).message;
  }
  throw new Error('expected a shape error');
}

describe('response validation names the field', () => {
  it('accepts a good register response (IPv6 addresses, one arch, taint without value)', () => {
    const r = parseRegisterResponse(good());
    expect(r.node.taints).toEqual([{ key: 'k', effect: 'NoSchedule' }]);
    expect(Object.keys(r.k0s.artifacts)).toEqual(['arm64']);
  });

  it.each([
    ['edge.phase', (o: any) => (o.edge.phase = 'GONE'), /field edge.phase must be one of CREATING, READY, DELETING, DELETED, got "GONE"/],
    ['wireguard.address', (o: any) => (o.wireguard.address = '100.96.0.7'), /field wireguard.address must be a CIDR/],
    ['wireguard.address prefix', (o: any) => (o.wireguard.address = '100.96.0.7/33'), /field wireguard.address must be a CIDR/],
    ['wireguard.listenPort', (o: any) => (o.wireguard.listenPort = 70000), /field wireguard.listenPort must be an integer 1..65535, got 70000/],
    ['wireguard.mtu', (o: any) => (o.wireguard.mtu = '1380'), /field wireguard.mtu must be an integer/],
    ['peers empty', (o: any) => (o.wireguard.peers = []), /field wireguard.peers must have at least 1/],
    ['peer endpoint', (o: any) => (o.wireguard.peers[0].endpoint = 'gw.example'), /field wireguard.peers\[0\].endpoint must be host:port/],
    ['peer allowedIPs', (o: any) => (o.wireguard.peers[0].allowedIPs = ['10.0.0.0']), /field wireguard.peers\[0\].allowedIPs\[0\] must be a CIDR/],
    ['node.labels', (o: any) => (o.node.labels = { a: 1 }), /field node.labels.a must be a string/],
    ['node.taints effect', (o: any) => (o.node.taints = [{ key: 'k', effect: 'Never' }]), /field node.taints\[0\].effect must be one of/],
    ['k0s.version', (o: any) => (o.k0s.version = '1.33'), /field k0s.version must be a k0s version/],
    ['k0s artifact url', (o: any) => (o.k0s.artifacts.arm64.url = 'http://dl/k0s'), /field k0s.artifacts.arm64.url must be an https:\/\/ URL/],
    ['k0s artifact sha', (o: any) => (o.k0s.artifacts.arm64.sha256 = 'abc'), /field k0s.artifacts.arm64.sha256 must be 64 lower-case hex/],
    ['k0s artifacts arch', (o: any) => (o.k0s.artifacts = { riscv: { url: 'https://x', sha256: 'f'.repeat(64) } }), /k0s.artifacts \(key riscv\) must be one of amd64, arm64/],
    ['k0s artifacts empty', (o: any) => (o.k0s.artifacts = {}), /field k0s.artifacts must name at least one architecture/],
    ['konnectivity', (o: any) => (o.k0s.konnectivityEndpoint = 'https://cp:8132'), /field k0s.konnectivityEndpoint must be host:port/],
    ['logs.url', (o: any) => (o.logs.url = 'not a url'), /field logs.url must be a URL/],
    ['logs missing', (o: any) => delete o.logs, /field logs must be an object, got nothing \(missing\)/],
    ['body', (o: any) => Object.assign(o, { edge: [] }), /field edge must be an object/],
  ])('%s', (_name, mutate, re) => {
    expect(fieldOf(mutate)).toMatch(re);
  });

  it('GET edge needs no edgeToken/logs', () => {
    const { edgeToken: _e, logs: _l, ...state } = good();
    expect(parseEdgeState(state).edge.id).toBe('e-1');
    expect(fieldOf((o) => delete o.k0s.joinToken, parseEdgeState)).toContain('field k0s.joinToken must be a non-empty string, got (secret, not shown)');
  });

  it('registers the secrets it receives, even when validation fails later', () => {
    const o = good();
    o.edgeToken = 'ceet_secret-seen-before-failure';
    o.logs.apiKey = 'celk_secret-seen-before-failure';
    o.wireguard.mtu = 1;
    expect(() => parseRegisterResponse(o)).toThrow(ResponseShapeError);
    expect(scrub('ceet_secret-seen-before-failure celk_secret-seen-before-failure')).toBe('[REDACTED] [REDACTED]');
  });
});

describe('loadCaFile', () => {
  it('reads a PEM bundle through the Host port', async () => {
    const h = new FakeHost().setFile('/etc/ca.pem', '-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n');
    expect(await loadCaFile(h, '/etc/ca.pem')).toContain('BEGIN CERTIFICATE');
  });
  it('refuses a missing or non-PEM file with exit code 2 naming INITD_CA_FILE', async () => {
    const h = new FakeHost().setFile('/etc/junk', 'hello');
    await expect(loadCaFile(h, '/etc/nope.pem')).rejects.toMatchObject({ message: 'INITD_CA_FILE: /etc/nope.pem does not exist', exitCode: EXIT.CONFIG });
    await expect(loadCaFile(h, '/etc/junk')).rejects.toMatchObject({ message: 'INITD_CA_FILE: /etc/junk holds no PEM certificate' });
  });
});
