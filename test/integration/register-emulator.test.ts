/**
 * The agent's register step (agent/reconcile/steps/register.ts) and startup-log
 * shipper against the control-plane emulator over real TLS. The host is a
 * FakeHost (machine-id, CA file, state dir in memory); the network is real.
 */
import { DEFAULT_WIREGUARD_INTERFACE } from '../../agent/config/known.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request, Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterResponse } from '../../agent/api/types.ts';
import type { AgentConfig } from '../../agent/config/types.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { stepContext } from '../../agent/reconcile/context.ts';
import { StartupLogShipper } from '../../agent/reconcile/logship.ts';
import { apiClient } from '../../agent/reconcile/steps/api.ts';
import { registerStep } from '../../agent/reconcile/steps/register.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';
import { DEFAULT_STATE_DIR, REGISTER_FILE } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const MACHINE_ID = '4c4c4544004e4b10804bb4c04f565432';
let dir: string;
let emu: ControlPlaneEmulator;

function host(): FakeHost {
  const h = new FakeHost();
  h.setFile('/etc/machine-id', `${MACHINE_ID}\n`);
  h.setFile('/etc/castai-edge-initd/ca.pem', emu.caPem);
  return h;
}

function config(bootstrapToken: string): AgentConfig {
  return {
    apiUrl: emu.apiUrl,
    orgId: emu.orgId,
    clusterId: emu.clusterId,
    edgeLocationId: emu.locationId,
    bootstrapToken,
    caFile: '/etc/castai-edge-initd/ca.pem',
    stateDir: STATE,
    labels: { env: 'prod' },
    taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }],
    proxy: {},
    wireguardInterface: DEFAULT_WIREGUARD_INTERFACE,
    logLevel: 'info',
    sources: {},
    warnings: [],
  };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'register-emu-'));
  emu = new ControlPlaneEmulator({ stateDir: dir });
  await emu.start();
});
afterAll(async () => {
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('register step against the emulator', () => {
  it('registers, persists 0600 state, re-runs idempotently, uploads startup logs, and sees the removal', async () => {
    const lines: string[] = [];
    const shipper = new StartupLogShipper();
    const log = createLogger({ pretty: false, write: (l) => { lines.push(l); shipper.push(l); } });
    const h = host();
    const boot = emu.issueBootstrapToken();
    const ctx = await stepContext(h, config(boot), log, new AbortController().signal);

    const r1 = await registerStep().run(ctx);
    expect(r1).toMatchObject({ state: 'done', changed: true });
    expect(r1.summary).toMatch(/^registered: edge cast-/);
    const saved = JSON.parse(h.files.get(`${STATE}/${REGISTER_FILE}`)!.data) as RegisterResponse;
    expect(h.files.get(`${STATE}/${REGISTER_FILE}`)!.mode).toBe(0o600);
    expect(h.dirs.get(STATE)).toBe(0o700);
    expect(h.files.get(`${STATE}/wireguard/private.key`)?.mode).toBe(0o600);

    const edge = emu.edges.get(saved.edge.id)!;
    expect(edge.machineId).toBe(MACHINE_ID);
    expect(edge.request.kubernetesLabels).toEqual({ env: 'prod', nodeID: MACHINE_ID });
    expect(edge.request.kubernetesTaints).toEqual([{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    expect(edge.request.wireguardPublicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    // secrets never in log lines
    const all = lines.join('');
    for (const s of [boot, saved.edgeToken, saved.logs.apiKey, saved.k0s.joinToken]) expect(all).not.toContain(s);

    // startup logs go to the sink with the scoped key
    log.info('[2/6] register: done (test line)');
    await shipper.flush(await apiClient(ctx), saved.logs, true);
    expect(shipper.sent).toBeGreaterThan(0);
    expect(edge.logEvents.map((e) => e.message)).toContain('[2/6] register: done (test line)');
    const logReqs = emu.requests.filter((r) => r.endpoint === 'logs');
    expect(logReqs.every((r) => r.credential === 'log-key' && r.status === 200)).toBe(true);

    // a second pass: no new registration, the desired state is fetched with the edge token
    const before = emu.requests.length;
    const r2 = await registerStep().run(ctx);
    expect(r2.changed).toBe(false);
    const since = emu.requests.slice(before);
    expect(since.map((r) => [r.endpoint, r.credential])).toEqual([['get-edge', 'edge-token']]);

    // a restart (new context, bootstrap token expired meanwhile) still works from the saved state
    emu.expire('bootstrap-tokens');
    const ctx2 = await stepContext(h, config(boot), log, new AbortController().signal);
    expect((await registerStep().run(ctx2)).changed).toBe(false);

    // the operator deletes the edge: the next pass reports the removal
    const ag = new Agent({ connect: { ca: emu.caPem } });
    const del = await request(
      `${emu.baseUrl}/v2beta/organizations/${emu.orgId}/clusters/${emu.clusterId}/edge-locations/${emu.locationId}/edges/${saved.edge.id}`,
      {
        method: 'DELETE',
        headers: { 'x-api-key': emu.apiKey },
        dispatcher: ag,
      },
    );
    await del.body.dump();
    await ag.close();
    expect(del.statusCode).toBe(200);
    const r3 = await registerStep().run(ctx2);
    expect(r3.summary).toContain('edge removed: the edge is DELETING');
    expect(ctx2.shared.edgeRemoved).toBeDefined();
  });

  it('an expired bootstrap token on first registration stops with the fix', async () => {
    const h = host();
    h.setFile('/etc/machine-id', '0000000000000000000000000000abcd\n');
    const boot = emu.issueBootstrapToken();
    emu.expire('bootstrap-tokens');
    const ctx = await stepContext(h, config(boot), createLogger({ pretty: false, write: () => {} }), new AbortController().signal);
    await expect(registerStep().run(ctx)).rejects.toMatchObject({
      message: expect.stringContaining('bootstrap token expired'),
      remediation: expect.stringContaining('fetch a fresh init script'),
    });
    expect(h.files.has(`${STATE}/${REGISTER_FILE}`)).toBe(false);
  });
});
