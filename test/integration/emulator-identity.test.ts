/**
 * The control-plane emulator's side of issue 14 items 1–3, over real HTTPS on loopback, checked
 * with the agent's own API client (docs/control-plane-api.md §3, §4):
 *  - identity = (machineId, wireguardPublicKey): 409 MACHINE_ID_CONFLICT while the edge reported
 *    within 10 minutes, else the edge takes the new key;
 *  - the API's 404s carry EDGE_NOT_FOUND naming the edge; the fault admin can answer nginx's HTML
 *    404 or an EDGE_NOT_FOUND for another edge;
 *  - a re-registration with changed labels/taints patches the existing Node record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../agent/api/client.ts';
import type { RegisterRequest } from '../../agent/api/types.ts';
import { decodeJoinToken } from '../../agent/k0s/token.ts';
import { ControlPlaneEmulator, MACHINE_ID_LIVE_MS } from '../control-plane/emulator.ts';
import { NGINX_404_HTML } from '../control-plane/faults.ts';
import { kubeletCsrPem } from '../control-plane/pki.ts';
import { apiRejection, emulatorClient, machineIdFrom, registerRequest, wgPublicKey } from '../helpers/api.ts';

let dir: string;
let emu: ControlPlaneEmulator;
let https: Agent;

let n = 0;
const req = (over: Partial<RegisterRequest> = {}): RegisterRequest => {
  n++;
  return registerRequest({ machineId: machineIdFrom(`identity-${n}-${Date.now()}`), hostname: `edge-${n}`, agentVersion: '0.1.0-test', ...over });
};

const client = () => emulatorClient(emu, { timeoutMs: 2000, retry: { maxAttempts: 1 } });

const report = (c: ApiClient, tok: string, id: string) => c.reportStatus(tok, id, { phase: 'READY', agentVersion: '0.1.0', bootId: 'b', steps: [] });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'emu-identity-'));
  emu = new ControlPlaneEmulator({ stateDir: dir, agentVersion: '0.1.0-test' });
  await emu.start();
  https = new Agent({ connect: { ca: emu.caPem } });
});
afterAll(async () => {
  await https?.close();
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => emu.clearFaults());

describe('identity = (machineId, wireguardPublicKey)', () => {
  it('same pair again: 200, same edge; another key while the edge reports: 409 MACHINE_ID_CONFLICT, edge untouched', async () => {
    const boot = emu.issueBootstrapToken();
    const c = client();
    const first = req();
    const r1 = await c.register(boot, first);
    expect(r1.created).toBe(true);
    const again = await c.register(boot, first);
    expect(again).toMatchObject({ created: false, response: { edge: { id: r1.response.edge.id } } });
    await report(c, r1.response.edgeToken, r1.response.edge.id);
    const lastSeen = emu.edges.get(r1.response.edge.id)!.statusReports.at(-1)!.time;

    const clone = { ...first, hostname: 'the-clone', wireguardPublicKey: wgPublicKey() };
    const e = await apiRejection(c.register(boot, clone));
    expect(e.status).toBe(409);
    expect(e.kind).toBe('conflict');
    expect(e.conflict).toEqual({ edgeId: r1.response.edge.id, lastSeen });
    const edge = emu.edges.get(r1.response.edge.id)!;
    expect(edge.request.wireguardPublicKey).toBe(first.wireguardPublicKey);
    expect(edge.request.hostname).toBe(first.hostname);
    expect(edge.registrations).toBe(2);
    expect(edge.conflicts).toEqual([expect.objectContaining({ hostname: 'the-clone', wireguardPublicKey: clone.wireguardPublicKey })]);
    // The raw body is the contract's: code 6, reason, edgeId, lastSeen (RFC 3339).
    const raw = await request(`${emu.baseUrl}/v2beta/organizations/${emu.orgId}/clusters/${emu.clusterId}/edge-locations/${emu.locationId}/edges`, {
      method: 'POST',
      headers: { authorization: `Bearer ${boot}`, 'content-type': 'application/json' },
      body: JSON.stringify(clone),
      dispatcher: https,
    });
    expect(raw.statusCode).toBe(409);
    expect(await raw.body.json()).toEqual({
      code: 6,
      message: expect.any(String),
      details: [{ reason: 'MACHINE_ID_CONFLICT', edgeId: r1.response.edge.id, lastSeen }],
    });
  });

  it('another key for an edge silent for 10 minutes (or that never reported): 200, same edge, the edge takes the new key', async () => {
    const boot = emu.issueBootstrapToken();
    const c = client();
    const first = req();
    const r1 = await c.register(boot, first);
    await report(c, r1.response.edgeToken, r1.response.edge.id);
    const edge = emu.edges.get(r1.response.edge.id)!;
    edge.statusReports.at(-1)!.time = new Date(Date.now() - MACHINE_ID_LIVE_MS - 1000).toISOString(); // as if 10 min passed
    const reinstalled = { ...first, wireguardPublicKey: wgPublicKey() };
    const r2 = await c.register(boot, reinstalled);
    expect(r2.created).toBe(false);
    expect(r2.response.edge.id).toBe(r1.response.edge.id);
    expect(r2.response.wireguard.address).toBe(r1.response.wireguard.address);
    expect(edge.request.wireguardPublicKey).toBe(reinstalled.wireguardPublicKey);
  });
});

describe('404s: the API names the edge; the fault admin can imitate a front end', () => {
  it('an unknown edge: JSON 404 with code 5 and EDGE_NOT_FOUND naming it; the client calls it gone', async () => {
    const c = client();
    expect(await c.getEdge('ceet_whatever', 'no-such-edge')).toEqual({ gone: true, edgeId: 'no-such-edge' });
  });

  it('html-404: nginx\'s page byte for byte (text/html); edge-not-found: for another edge, or for the edge in the path', async () => {
    const boot = emu.issueBootstrapToken();
    const c = client();
    const { response: r } = await c.register(boot, req());
    const url = `${emu.baseUrl}/v2beta/organizations/${emu.orgId}/clusters/${emu.clusterId}/edges/${r.edge.id}`;
    emu.addFault({ kind: 'html-404', endpoint: 'get-edge', times: 1 });
    const html = await request(url, { headers: { authorization: `Token ${r.edgeToken}` }, dispatcher: https });
    expect(html.statusCode).toBe(404);
    expect(html.headers['content-type']).toBe('text/html');
    expect(await html.body.text()).toBe(NGINX_404_HTML);

    emu.addFault({ kind: 'html-404', endpoint: 'get-edge', times: 1 });
    expect((await apiRejection(c.getEdge(r.edgeToken, r.edge.id))).kind).toBe('not-proof');
    emu.addFault({ kind: 'edge-not-found', endpoint: 'get-edge', edgeId: 'another-edge', times: 1 });
    const other = await apiRejection(c.getEdge(r.edgeToken, r.edge.id));
    expect(other.kind).toBe('not-proof');
    expect(other.message).toContain('EDGE_NOT_FOUND for edge another-edge');
    emu.addFault({ kind: 'edge-not-found', endpoint: 'get-edge', times: 1 });
    expect(await c.getEdge(r.edgeToken, r.edge.id)).toEqual({ gone: true, edgeId: r.edge.id });
    expect((await c.getEdge(r.edgeToken, r.edge.id)).gone).toBe(false); // the faults are used up
  });
});

describe('label and taint changes reach the Node (docs/control-plane-api.md §3)', () => {
  it('re-registering with new labels/taints patches the joined Node: old user labels/taints go, new ones come, control-plane labels stay', async () => {
    const boot = emu.issueBootstrapToken();
    const c = client();
    const first = req({ kubernetesLabels: { env: 'prod', team: 'a' }, kubernetesTaints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    const { response: r } = await c.register(boot, first);
    // The k0s double joins (what the kubelet does when it creates its Node): labels and taints from its flags.
    const tok = decodeJoinToken(r.k0s.joinToken);
    const join = await request(`${emu.kubeApi}/k0s-test-double/v1/join`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tok.bootstrapToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        nodeName: r.node.name,
        hostname: first.hostname,
        labels: { ...first.kubernetesLabels, ...r.node.labels },
        taints: first.kubernetesTaints,
        csr: kubeletCsrPem(dir, r.node.name),
      }),
      dispatcher: new Agent({ connect: { ca: emu.clusterCaPem } }),
    });
    expect(join.statusCode).toBe(201);
    await join.body.dump();

    await c.register(boot, {
      ...first,
      kubernetesLabels: { env: 'staging', 'omni.cast.ai/csp': 'mine' },
      kubernetesTaints: [{ key: 'spot', effect: 'NoExecute' }],
    });
    const node = emu.nodes.get(r.node.name)!;
    expect(node.labels).toEqual({ ...r.node.labels, env: 'staging' }); // team gone; the control plane's csp wins
    expect(node.labels['omni.cast.ai/csp']).toBe('custom');
    expect(node.taints).toEqual([{ key: 'spot', effect: 'NoExecute' }]);
    expect(node.patchedAt).toBeDefined();
  });
});
