/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access --
   the cases below turn valid control-plane answers into shapes no type describes (wrong types, missing fields), to prove
   the validators refuse them; `any` is the honest type of such a document. */
/**
 * Issue 15 item 5: input from the network is bounded and validated before it reaches any argv or
 * file — response bodies (1 MiB), the join token (64 KiB decompressed: a gzip bomb is refused
 * without inflating it), and the Node name, provider ID, labels and taints the control plane sends
 * (the same validators as INITD_KUBERNETES_LABELS/TAINTS, agent/config/validate.ts).
 */
import { gzipSync } from 'node:zlib';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, MAX_RESPONSE_BYTES } from '../../agent/api/client.ts';
import { parseEdgeState, parseRegisterResponse, ResponseShapeError } from '../../agent/api/types.ts';
import { AgentError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { MAX_KUBECONFIG_BYTES, unwrapJoinToken } from '../../agent/k0s/token.ts';
import { readSavedRegistration } from '../../agent/reconcile/steps/register.ts';
import { StateStore } from '../../agent/state/store.ts';
import { validRegisterResponse } from '../fuzz/targets/api.ts';
import { apiRejection } from '../helpers/api.ts';

const API = 'https://api.test.invalid';
const EDGE_ID = (validRegisterResponse().edge as { id: string }).id;
const EDGE_PATH = `/omni-provisioner/v2beta/organizations/org-1/clusters/cl-1/edges/${EDGE_ID}`;

/** The edge state (GET …/edges/<id>) of the fuzz targets' valid register answer: all of it but edgeToken and logs. */
function edgeState(): Record<string, any> {
  const { edgeToken: _t, logs: _l, ...state } = validRegisterResponse();
  return state;
}

let mock: MockAgent;
beforeEach(() => {
  mock = new MockAgent();
  mock.disableNetConnect();
});
afterEach(async () => {
  await mock.close();
});

function client(): ApiClient {
  return new ApiClient({
    apiUrl: API,
    orgId: 'org-1',
    clusterId: 'cl-1',
    dispatcher: mock,
    retry: { maxAttempts: 2 },
    clock: { now: () => Date.now(), sleep: async () => {} },
    random: () => 0,
  });
}

describe('response bodies are capped at 1 MiB', () => {
  it('refuses an oversized body announced by Content-Length without reading it, and retries like any bad answer', async () => {
    const big = Buffer.alloc(MAX_RESPONSE_BYTES + 1, 0x20);
    for (let i = 0; i < 2; i++)
      mock
        .get(API)
        .intercept({ path: EDGE_PATH, method: 'GET' })
        .reply(200, big, { headers: { 'content-type': 'application/json', 'content-length': String(big.length) } });
    const e = await apiRejection(client().getEdge('ceet_edge-token-value-0001', EDGE_ID));
    expect(e.kind).toBe('bad-response');
    expect(e.message).toMatch(/response body of 1048577 bytes \(Content-Length\), over the 1048576 byte limit; refused without reading it \(gave up after 2 attempts\)/);
  });

  it('stops reading a body without a length as soon as it passes the limit', async () => {
    // A chunked, endless-looking body: 4 MiB of JSON-ish bytes, no Content-Length.
    mock.get(API).intercept({ path: EDGE_PATH, method: 'GET' }).reply(200, `[${'1,'.repeat(2 * 1024 * 1024)}1]`).times(2);
    const e = await apiRejection(client().getEdge('ceet_edge-token-value-0001', EDGE_ID));
    expect(e.message).toMatch(/more than 1048576 bytes, over the 1048576 byte limit/);
  });

  it('a body just under the limit is still read and parsed', async () => {
    const body = JSON.stringify(edgeState()).replace(/}$/, `${' '.repeat(MAX_RESPONSE_BYTES - JSON.stringify(edgeState()).length - 10)}}`);
    expect(body.length).toBeLessThan(MAX_RESPONSE_BYTES);
    mock.get(API).intercept({ path: EDGE_PATH, method: 'GET' }).reply(200, body);
    const r = await client().getEdge('ceet_edge-token-value-0001', EDGE_ID);
    expect(r.gone ? null : r.state.node.name).toBe('cast-7d1f');
  });
});

describe('the k0s join token is bounded', () => {
  it('a gzip bomb (10 MiB of zeros in ~10 KiB) is refused without inflating it', () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024)).toString('base64');
    expect(bomb.length).toBeLessThan(20_000);
    const before = process.memoryUsage().arrayBuffers;
    expect(() => unwrapJoinToken(bomb)).toThrow(new RegExp(`decompresses to more than ${MAX_KUBECONFIG_BYTES} bytes .* refused without inflating it`));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
  });

  it('a token text over 64 KiB is refused before decoding', () => {
    expect(() => unwrapJoinToken('A'.repeat(70_000))).toThrow(/the token is 70000 characters long/);
    expect(() => unwrapJoinToken('A'.repeat(70_000))).toThrow(AgentError);
  });
});

/** What the control plane might send that would change the kubelet's argv or our files. */
const HOSTILE: Array<[string, (o: Record<string, any>) => void, RegExp]> = [
  ['node name with a space (a second kubelet flag)', (o) => (o.node.name = 'cast-1 --register-with-taints=x'), /field node.name is not valid/],
  ['node name with uppercase', (o) => (o.node.name = 'Cast-1'), /field node.name is not valid: must be lowercase/],
  ['node name with a slash', (o) => (o.node.name = '../../etc'), /field node.name is not valid/],
  ['node name too long', (o) => (o.node.name = 'a'.repeat(254)), /at most 253/],
  ['providerID with a space', (o) => (o.node.providerID = 'castai-omni://e-1 --node-ip=6.6.6.6'), /field node.providerID is not valid/],
  ['providerID with a quote', (o) => (o.node.providerID = "castai-omni://e-1'"), /field node.providerID is not valid/],
  ['providerID without a scheme', (o) => (o.node.providerID = 'e-1'), /field node.providerID is not valid/],
  ['label value with a comma (a second --labels item)', (o) => (o.node.labels = { env: 'prod,node-role.kubernetes.io/master=' }), /field node.labels.env is not valid/],
  ['label key with a space', (o) => (o.node.labels = { 'a b': 'c' }), /field node.labels.a b is not valid/],
  ['label key the kubelet refuses', (o) => (o.node.labels = { 'node-role.kubernetes.io/master': '' }), /node-role.kubernetes.io\/ labels/],
  ['taint key with a colon and comma', (o) => (o.node.taints = [{ key: 'x:NoSchedule,evil', effect: 'NoSchedule' }]), /field node.taints\[0\] is not valid/],
  ['taint value with a space', (o) => (o.node.taints = [{ key: 'k', value: 'a b', effect: 'NoExecute' }]), /field node.taints\[0\] is not valid/],
  ['edge id with a path', (o) => (o.edge.id = '../admin'), /field edge.id must be an ID/],
  ['k0s version with a tail', (o) => (o.k0s.version = 'v1.33.1; reboot'), /field k0s.version must be a k0s version/],
];

describe('control-plane values pass the env-file validators before any argv or file', () => {
  it.each(HOSTILE)('%s is refused, naming the field', (_name, mutate, re) => {
    const o = edgeState();
    mutate(o);
    expect(() => parseEdgeState(o)).toThrow(ResponseShapeError);
    expect(() => parseEdgeState(o)).toThrow(re);
  });

  it('the values the emulator and the real control plane send pass', () => {
    const r = parseEdgeState(edgeState());
    expect(r.node.labels['topology.kubernetes.io/region']).toBe('edge-1');
  });

  it('a hostile register answer is an invalid-response error (not retried) and writes nothing', async () => {
    const o: Record<string, any> = validRegisterResponse();
    o.node.name = 'x --hostname-override=evil';
    expect(() => parseRegisterResponse(o)).toThrow(/node.name/);
    mock.get(API).intercept({ path: /edges$/, method: 'POST' }).reply(201, o);
    const c = new ApiClient({
      apiUrl: API,
      orgId: 'org-1',
      clusterId: 'cl-1',
      edgeLocationId: 'loc-1',
      dispatcher: mock,
      clock: { now: () => Date.now(), sleep: async () => {} },
    });
    const e = await apiRejection(c.register('cebt_token-0001', {} as never));
    expect(e.kind).toBe('invalid-response');
    expect(e.retryable).toBe(false);
    expect(e.field).toBe('node.name');
  });

  it('a hostile saved register.json is refused too (a damaged state file never reaches k0s argv)', async () => {
    const o: Record<string, any> = validRegisterResponse();
    o.node.labels = { env: 'a,b=c' };
    const host = new FakeHost().setFile('/var/lib/castai-edge-initd/register.json', JSON.stringify(o), 0o600);
    await expect(readSavedRegistration(new StateStore(host))).rejects.toThrow(/register.json is damaged: field node.labels.env is not valid/);
  });
});
