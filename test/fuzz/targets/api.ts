/** Fuzz targets: the control-plane response validators (agent/api/types.ts). */
import fc from 'fast-check';
import { parseEdgeState, parseRegisterResponse, ResponseShapeError } from '../../../agent/api/types.ts';
import { read } from '../fixtures.ts';
import { assert, isInt, isStr, parseWith, target, type FuzzTarget } from '../harness.ts';
import { applyText, mutatedJson, noise, textMutation } from '../mutate.ts';

/** A valid register response in the shape the emulator sends (all secrets FAKE). */
export function validRegisterResponse(): Record<string, unknown> {
  return {
    edge: { id: '0b6f7a52-3f0e-4b8a-9a39-1f5d0c0e4a11', name: 'cast-7d1f', phase: 'CREATING' },
    node: {
      name: 'cast-7d1f',
      providerID: 'castai-omni://0b6f7a52-3f0e-4b8a-9a39-1f5d0c0e4a11',
      labels: { 'omni.cast.ai/csp': 'custom', 'topology.kubernetes.io/region': 'edge-1' },
      taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }],
    },
    wireguard: {
      address: '100.96.0.7/32',
      listenPort: 51840,
      mtu: 1380,
      peers: [
        {
          publicKey: 'MZFCNlaYRHY5Ti6BPHDDzV31QTclzggCTIiKWav0PW8=',
          endpoint: '[fd00::1]:51840',
          allowedIPs: ['100.96.0.1/32', '10.244.0.0/16'],
          persistentKeepalive: 25,
        },
      ],
    },
    k0s: {
      version: 'v1.33.1+k0s.0',
      artifacts: {
        amd64: { url: 'https://api.example.test/downloads/k0s-amd64', sha256: 'a'.repeat(64) },
        arm64: { url: 'https://api.example.test/downloads/k0s-arm64', sha256: 'b'.repeat(64) },
      },
      joinToken: read('k0s/worker-token.txt').trim(),
      apiEndpoint: 'https://cp.example.test:6443',
      konnectivityEndpoint: 'cp.example.test:8132',
    },
    edgeToken: 'FAKE-edge-token-0000000000',
    logs: { url: 'https://api.example.test/logs', apiKey: 'FAKE-log-key-000000000', expiresAt: '2030-01-01T00:00:00Z' },
  };
}

const names = (e: Error) => (e instanceof ResponseShapeError && e.field !== '' && e.message.startsWith(`field ${e.field} `) ? e.field : false);

function inputs(docs: unknown[]): fc.Arbitrary<unknown> {
  const texts = docs.map((d) => JSON.stringify(d));
  return fc.oneof(
    { weight: 10, arbitrary: mutatedJson(docs, 6) },
    // text mutations of the body that still parse as JSON (what the client hands the validator)
    {
      weight: 2,
      arbitrary: fc.tuple(fc.nat(texts.length - 1), fc.array(textMutation, { minLength: 1, maxLength: 3 })).map(([i, m]) => {
        try {
          return JSON.parse(applyText(texts[i]!, m)) as unknown;
        } catch {
          return JSON.parse(texts[i]!) as unknown;
        }
      }),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: noise },
  );
}

function checkState(v: ReturnType<typeof parseEdgeState>): void {
  assert(isStr(v.edge.id) && isStr(v.node.name) && isStr(v.k0s.joinToken), 'api: missing strings');
  assert(isInt(v.wireguard.listenPort, 1) && v.wireguard.listenPort <= 65535 && isInt(v.wireguard.mtu, 576), 'api: port/mtu range');
  assert(v.wireguard.peers.length >= 1 && v.wireguard.peers.every((p) => p.allowedIPs.length >= 1 && p.allowedIPs.every(isStr)), 'api: peers');
  assert(Object.values(v.node.labels).every(isStr), 'api: label values');
  assert(Object.keys(v.k0s.artifacts).every((a) => a === 'amd64' || a === 'arm64'), 'api: artifact arch');
}

const reg = validRegisterResponse();
const { edgeToken: _e, logs: _l, ...state } = reg;

export const apiTargets: FuzzTarget[] = [
  target({
    name: 'api.register',
    parser: 'parseRegisterResponse (POST …/edges:register)',
    arbitrary: inputs([reg]),
    check: (v) =>
      parseWith(() => parseRegisterResponse(v), (r) => {
        checkState(r);
        assert(isStr(r.edgeToken) && isStr(r.logs.apiKey) && !Number.isNaN(Date.parse(r.logs.expiresAt)), 'api: register secrets/logs');
      }, [ResponseShapeError], names, 'register'),
  }),
  target({
    name: 'api.edge-state',
    parser: 'parseEdgeState (GET …/edges/{id})',
    arbitrary: inputs([state, { ...state, edge: { ...(state.edge as object), phase: 'DELETING' } }]),
    check: (v) => parseWith(() => parseEdgeState(v), checkState, [ResponseShapeError], names, 'edge-state'),
  }),
];
