/**
 * The control-plane emulator against the real agent client (agent/api/client.ts),
 * over real TLS on loopback: every endpoint of the contract, and every fault the
 * emulator can inject.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, type ApiClientOptions } from '../../agent/api/client.ts';
import type { Clock } from '../../agent/api/retry.ts';
import type { RegisterRequest } from '../../agent/api/types.ts';
import { decodeJoinToken } from '../../agent/k0s/token.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';
import { apiRejection, emulatorClient, machineIdFrom, registerRequest } from '../helpers/api.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let emu: ControlPlaneEmulator;
let https: Agent;
let sleeps: number[];

/** Records the delays the client asks for, but waits at most 5 ms so the suite stays fast. */
// Sleeps are recorded and skipped: the clock jumps ahead by each sleep, so the client's
// Retry-After gate (which compares now() to a deadline) sees the time as having passed.
let skipped = 0;
const fastClock: Clock = {
  now: () => Date.now() + skipped,
  sleep: async (ms) => {
    sleeps.push(ms);
    skipped += ms;
    await new Promise((r) => setTimeout(r, Math.min(ms, 5)));
  },
};

let machineCounter = 0;
function regRequest(machineId?: string): RegisterRequest {
  machineCounter++;
  return registerRequest({
    machineId: machineId ?? machineIdFrom(`m${machineCounter}-${Date.now()}`),
    hostname: `edge-${machineCounter}`,
    agentVersion: '0.1.0-test',
  });
}

const client = (extra: Partial<ApiClientOptions> = {}): ApiClient => emulatorClient(emu, { clock: fastClock, timeoutMs: 2000, ...extra });

async function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(url, { method: method as 'GET', headers, dispatcher: https });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') };
}

async function script(): Promise<{ text: string; bootstrapToken: string }> {
  const r = await get(emu.scriptUrl, { 'x-api-key': emu.apiKey });
  expect(r.status).toBe(200);
  const m = /BOOTSTRAP_TOKEN="([^"]+)"/.exec(r.text);
  expect(m).not.toBeNull();
  return { text: r.text, bootstrapToken: m![1]! };
}

const requestsSince = (seq: number) => emu.requests.filter((r) => r.seq > seq);
const lastSeq = () => emu.requests.at(-1)?.seq ?? 0;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'emulator-it-'));
  const dist = path.join(dir, 'dist');
  mkdirSync(dist);
  for (const arch of ['amd64', 'arm64']) {
    writeFileSync(path.join(dist, `castai-edge-initd-linux-${arch}.xz`), `fake xz agent for ${arch}`);
    writeFileSync(path.join(dist, `castai-edge-initd-linux-${arch}.gz`), `fake gz agent for ${arch}`);
  }
  emu = new ControlPlaneEmulator({ stateDir: path.join(dir, 'state'), distDir: dist, agentVersion: '0.1.0-test' });
  await emu.start();
  https = new Agent({ connect: { ca: emu.caPem } });
});

afterAll(async () => {
  await https?.close();
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  sleeps = [];
  emu.clearFaults();
});

describe('install script', () => {
  it('serves the installer with values baked in, for the org API key only', async () => {
    const { text, bootstrapToken } = await script();
    expect(text.startsWith('#!/usr/bin/env bash')).toBe(true);
    expect(text).toContain(`API_URL="${emu.apiUrl}"`);
    expect(text).toContain(`EDGE_LOCATION_ID="${emu.locationId}"`);
    expect(text).not.toContain(emu.apiKey);
    expect(text).not.toMatch(/@@[A-Z0-9_]+@@/);
    const sha = createHash('sha256').update(readFileSync(path.join(dir, 'dist/castai-edge-initd-linux-amd64.xz'))).digest('hex');
    expect(text).toContain(sha);
    expect(bootstrapToken).toMatch(/^cebt_/);
  });

  it('refuses a wrong or missing API key with a JSON error (harmless when piped into bash)', async () => {
    const wrong = await get(emu.scriptUrl, { 'x-api-key': 'nope' });
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.text)).toEqual({ code: 16, message: 'invalid API key', details: [] });
    const none = await get(emu.scriptUrl);
    expect(none.status).toBe(401);
    // bash given the JSON error does nothing and fails
    const out = (() => {
      try {
        return execFileSync('bash', [], { input: wrong.text, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
      } catch (e) {
        return `exit ${(e as { status: number }).status}`;
      }
    })();
    expect(out).toMatch(/^exit [1-9]/);
  });

  it('answers 404 for an unknown edge location', async () => {
    const r = await get(emu.scriptUrl.replace(emu.locationId, 'nope'), { 'x-api-key': emu.apiKey });
    expect(r.status).toBe(404);
    expect(r.text).toContain('edge location nope not found');
  });
});

describe('agent artifacts', () => {
  it('serves dist/ files with the bootstrap token; sha256 matches the script', async () => {
    const { text, bootstrapToken } = await script();
    const url = /URL_ARM64_GZ="([^"]+)"/.exec(text)![1]!;
    const sha = /SHA256_ARM64_GZ="([^"]+)"/.exec(text)![1]!;
    const r = await get(url, { authorization: `Bearer ${bootstrapToken}` });
    expect(r.status).toBe(200);
    expect(r.text).toBe('fake gz agent for arm64');
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(sha);
    expect((await get(url, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(url.replace('0.1.0-test', '9.9.9'), { authorization: `Bearer ${bootstrapToken}` })).status).toBe(404);
  });
});

describe('register / get edge / report status / delete', () => {
  it('registers (201), re-registers idempotently (200, same edge and address), and the response passes the client validator', async () => {
    const { bootstrapToken } = await script();
    const req = regRequest();
    const first = await client().register(bootstrapToken, req);
    expect(first.created).toBe(true);
    const again = await client().register(bootstrapToken, req);
    expect(again.created).toBe(false);
    expect(again.response.edge.id).toBe(first.response.edge.id);
    expect(again.response.wireguard.address).toBe(first.response.wireguard.address);
    expect(again.response.edgeToken).toBe(first.response.edgeToken);
    const other = await client().register(bootstrapToken, regRequest());
    expect(other.response.wireguard.address).not.toBe(first.response.wireguard.address);

    const r = first.response;
    expect(r.edge.name).toMatch(/^cast-[0-9a-f-]{36}$/);
    expect(r.node.providerID).toBe(`castai-omni://${r.edge.id}`);
    expect(r.node.labels).toMatchObject({ 'omni.cast.ai/edge-id': r.edge.id, 'omni.cast.ai/csp': 'custom' });
    expect(r.wireguard.peers[0]!.publicKey).toBe(emu.wgPublicKey);
    expect(r.wireguard.listenPort).toBe(51840);
    expect(Date.parse(r.logs.expiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    expect(emu.edges.get(r.edge.id)!.request.kubernetesLabels).toEqual({ env: 'prod' });

    // the join token is a k0s worker token for the emulator's kube API, carrying the cluster CA
    const tok = decodeJoinToken(r.k0s.joinToken);
    expect(tok.server).toBe(emu.kubeApi);
    expect(tok.server).toBe(r.k0s.apiEndpoint);
    expect(tok.user).toBe('kubelet-bootstrap');
    expect(tok.caSha256).toBe(new X509Certificate(emu.clusterCaPem).fingerprint256.replace(/:/g, '').toLowerCase());
    expect(tok.bootstrapToken).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);

    // k0s artifact = the k0s test double, with the sha256 the register answer names (the agent fetches it with curl)
    const k0s = await get(r.k0s.artifacts.amd64!.url);
    expect(k0s.status).toBe(200);
    expect(createHash('sha256').update(k0s.body).digest('hex')).toBe(r.k0s.artifacts.amd64!.sha256);
    expect(k0s.text).toContain('k0s-test-double');
  });

  it('rejects a register body that breaks the contract, naming the field', async () => {
    const { bootstrapToken } = await script();
    const e = await apiRejection(client().register(bootstrapToken, { ...regRequest(), machineId: 'XYZ' }));
    expect(e.kind).toBe('rejected');
    expect(e.message).toContain('field machineId must be 32 lower-case hex');
  });

  it('get edge, report status (READY), delete → DELETING → DELETED report → 404', async () => {
    const { bootstrapToken } = await script();
    const req = regRequest();
    const { response: r } = await client().register(bootstrapToken, req);
    const c = client();
    const s1 = await c.getEdge(r.edgeToken, r.edge.id);
    expect(s1.gone === false && s1.state.edge.phase).toBe('CREATING');

    await c.reportStatus(r.edgeToken, r.edge.id, {
      phase: 'READY',
      agentVersion: '0.1.0',
      bootId: 'b1',
      steps: [{ name: 'k0s', state: 'done', durationMs: 5 }],
    });
    const s2 = await c.getEdge(r.edgeToken, r.edge.id);
    expect(s2.gone === false && s2.state.edge.phase).toBe('READY');
    expect(emu.edges.get(r.edge.id)!.statusReports).toHaveLength(1);

    const badReport = await apiRejection(
      c.reportStatus(r.edgeToken, r.edge.id, { phase: 'READY', agentVersion: '0.1.0', bootId: 'b1', steps: [{ name: 'k0s', state: 'sleeping' as 'done' }] }),
    );
    expect(badReport.kind).toBe('rejected');
    expect(badReport.message).toContain('field steps[0] must be');

    const badTok = await apiRejection(c.getEdge('ceet_wrong-token-value', r.edge.id));
    expect(badTok.credential).toBe('edge-token');

    const delUrl = `${emu.baseUrl}/v2beta/organizations/${emu.orgId}/clusters/${emu.clusterId}/edge-locations/${emu.locationId}/edges/${r.edge.id}`;
    expect((await get(delUrl, { 'x-api-key': 'wrong' }, 'DELETE')).status).toBe(401);
    const del = await get(delUrl, { 'x-api-key': emu.apiKey }, 'DELETE');
    expect(del.status).toBe(200);
    expect((JSON.parse(del.text) as { edge: { phase: string } }).edge.phase).toBe('DELETING');
    const s3 = await c.getEdge(r.edgeToken, r.edge.id);
    expect(s3.gone === false && s3.state.edge.phase).toBe('DELETING');

    await c.reportStatus(r.edgeToken, r.edge.id, { phase: 'DELETED', agentVersion: '0.1.0', bootId: 'b1', steps: [] });
    expect(await c.getEdge(r.edgeToken, r.edge.id)).toEqual({ gone: true, edgeId: r.edge.id });
    expect((await get(delUrl, { 'x-api-key': emu.apiKey }, 'DELETE')).status).toBe(404);

    // the same machine registering again is a new edge
    const again = await client().register(bootstrapToken, req);
    expect(again.created).toBe(true);
    expect(again.response.edge.id).not.toBe(r.edge.id);
  });
});

describe('log sink', () => {
  it('accepts events with the scoped key only, for its own node only, until it expires', async () => {
    const { bootstrapToken } = await script();
    const { response: r } = await client().register(bootstrapToken, regRequest());
    const events = [{ level: 'info', time: new Date().toISOString(), message: '[2/6] register: registered' }];
    expect(await client().uploadLogs(r.logs, events)).toEqual({ sent: 1 });
    expect(emu.edges.get(r.edge.id)!.logEvents).toEqual(events);

    const other = await client().register(bootstrapToken, regRequest());
    const cross = await apiRejection(client().uploadLogs({ ...r.logs, url: other.response.logs.url }, events));
    expect(cross.status).toBe(403);
    expect(cross.credential).toBe('log-key');

    const withApiKey = await apiRejection(client().uploadLogs({ ...r.logs, apiKey: emu.apiKey }, events));
    expect(withApiKey.kind).toBe('auth');

    emu.expire('log-keys');
    const expired = await apiRejection(client().uploadLogs(r.logs, events));
    expect(expired.credential).toBe('log-key');
    expect(expired.message).toContain('log key expired');
  });
});

describe('faults against the real client', () => {
  let bootstrapToken: string;
  beforeAll(async () => {
    bootstrapToken = (await script()).bootstrapToken;
  });

  it('latency beyond the timeout → timeout error; one slow answer → retried, then success', async () => {
    emu.addFault({ kind: 'latency', endpoint: 'register', ms: 1500 });
    const e = await apiRejection(client({ timeoutMs: 300, retry: { maxAttempts: 2 } }).register(bootstrapToken, regRequest()));
    expect(e.kind).toBe('timeout');
    expect(e.message).toContain('gave up after 2 attempts');
    emu.clearFaults();
    emu.addFault({ kind: 'latency', endpoint: 'register', ms: 1500, times: 1 });
    const r = await client({ timeoutMs: 300 }).register(bootstrapToken, regRequest());
    expect(r.created).toBe(true);
    expect(sleeps).toHaveLength(2); // one per timed-out attempt above
    // let the server finish the slow requests so they do not land in later tests' records
    await new Promise((res) => setTimeout(res, 1600));
  });

  it('5xx → retried with backoff, then success', async () => {
    const seq = lastSeq();
    emu.addFault({ kind: 'status', status: 502, endpoint: 'register', times: 2 });
    const r = await client().register(bootstrapToken, regRequest());
    expect(r.created).toBe(true);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeLessThanOrEqual(1000);
    expect(sleeps[1]).toBeLessThanOrEqual(2000);
    expect(requestsSince(seq).map((x) => x.status)).toEqual([502, 502, 201]);
    expect(requestsSince(seq)[0]!.fault).toMatch(/^status 502#/);
  });

  it('401 → stops at once, naming the credential', async () => {
    const seq = lastSeq();
    emu.addFault({ kind: 'status', status: 401, endpoint: 'register', times: 1 });
    const e = await apiRejection(client().register(bootstrapToken, regRequest()));
    expect(e.kind).toBe('auth');
    expect(e.credential).toBe('bootstrap-token');
    expect(e.remediation).toContain('fetch a fresh init script');
    expect(requestsSince(seq)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('429 + Retry-After (seconds) → waits exactly that long', async () => {
    emu.addFault({ kind: 'status', status: 429, retryAfter: '3', endpoint: 'register', times: 1 });
    await client().register(bootstrapToken, regRequest());
    expect(sleeps).toEqual([3000]);
  });

  it('503 + Retry-After (HTTP-date) → waits until then', async () => {
    emu.addFault({ kind: 'status', status: 503, retryAfter: new Date(fastClock.now() + 20_000).toUTCString(), endpoint: 'register', times: 1 });
    await client().register(bootstrapToken, regRequest());
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThan(15_000);
    expect(sleeps[0]).toBeLessThanOrEqual(20_000);
  });

  it('garbage JSON → retried, then success', async () => {
    const seq = lastSeq();
    emu.addFault({ kind: 'garbage', endpoint: 'register', times: 1 });
    const r = await client().register(bootstrapToken, regRequest());
    expect(r.created).toBe(true);
    expect(sleeps).toHaveLength(1);
    expect(requestsSince(seq)[0]!.fault).toMatch(/^garbage/);
  });

  it('garbage JSON for good → a clear "not JSON" error', async () => {
    emu.addFault({ kind: 'garbage', endpoint: 'register' });
    const e = await apiRejection(client({ retry: { maxAttempts: 2 } }).register(bootstrapToken, regRequest()));
    expect(e.kind).toBe('bad-response');
    expect(e.message).toContain('not JSON');
  });

  it('dropped connection → retried, then success', async () => {
    const seq = lastSeq();
    emu.addFault({ kind: 'drop', endpoint: 'register', times: 1 });
    const r = await client().register(bootstrapToken, regRequest());
    expect(r.created).toBe(true);
    expect(sleeps).toHaveLength(1);
    expect(requestsSince(seq)[0]!.status).toBe(0);
  });

  it('truncated body (connection dies mid-response) → retried, then success', async () => {
    const seq = lastSeq();
    emu.addFault({ kind: 'truncate', endpoint: 'register', times: 1 });
    const r = await client().register(bootstrapToken, regRequest());
    expect(r.created).toBe(true);
    expect(sleeps).toHaveLength(1);
    expect(requestsSince(seq)[0]!.fault).toMatch(/^truncate/);
  });

  it('dropped connections on get edge and report status are retried too', async () => {
    const { response: r } = await client().register(bootstrapToken, regRequest());
    emu.addFault({ kind: 'drop', endpoint: 'get-edge', times: 1 });
    emu.addFault({ kind: 'status', status: 500, endpoint: 'report-status', times: 1 });
    expect((await client().getEdge(r.edgeToken, r.edge.id)).gone).toBe(false);
    await client().reportStatus(r.edgeToken, r.edge.id, { phase: 'JOINING', agentVersion: '0.1.0', bootId: 'b', steps: [] });
    expect(sleeps).toHaveLength(2);
  });

  it('expired bootstrap token → "bootstrap token expired: fetch a fresh init script"; a fresh script works again', async () => {
    emu.expire('bootstrap-tokens');
    const e = await apiRejection(client().register(bootstrapToken, regRequest()));
    expect(e.kind).toBe('auth');
    expect(e.message).toContain('bootstrap token expired');
    expect(e.remediation).toContain('fetch a fresh init script');
    expect(sleeps).toEqual([]);
    const fresh = await script();
    expect((await client().register(fresh.bootstrapToken, regRequest())).created).toBe(true);
    bootstrapToken = fresh.bootstrapToken;
  });
});

describe('TLS and proxies', () => {
  it('verifies TLS: without the emulator CA the call fails with a CA hint, and is not retried', async () => {
    const c = new ApiClient({ apiUrl: emu.apiUrl, orgId: emu.orgId, clusterId: emu.clusterId, edgeLocationId: emu.locationId, clock: fastClock });
    const e = await apiRejection(c.register('cebt_x', regRequest()));
    expect(e.kind).toBe('tls');
    expect(e.remediation).toContain('INITD_CA_FILE');
    expect(sleeps).toEqual([]);
  });

  it('goes through HTTPS_PROXY (CONNECT) and bypasses it for NO_PROXY hosts', async () => {
    const connects: string[] = [];
    const sockets = new Set<Socket>();
    const proxy: Server = createServer();
    proxy.on('connect', (req, clientSock: Socket) => {
      connects.push(req.url ?? '');
      const [h, p] = (req.url ?? '').split(':');
      const up = connect(Number(p), h, () => {
        clientSock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.pipe(clientSock);
        clientSock.pipe(up);
      });
      sockets.add(up).add(clientSock);
      up.on('error', () => clientSock.destroy());
      clientSock.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const port = (proxy.address() as { port: number }).port;
    try {
      const { bootstrapToken } = await script();
      const via = client({ proxy: { httpsProxy: `http://127.0.0.1:${port}` } });
      expect((await via.register(bootstrapToken, regRequest())).created).toBe(true);
      await via.close();
      expect(connects).toEqual([new URL(emu.apiUrl).host]);

      const bypass = client({ proxy: { httpsProxy: `http://127.0.0.1:${port}`, noProxy: 'localhost,127.0.0.1' } });
      expect((await bypass.register(bootstrapToken, regRequest())).created).toBe(true);
      await bypass.close();
      expect(connects).toHaveLength(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('kube API and konnectivity listeners', () => {
  it('presents the cluster CA (not the API CA) on the kube port', async () => {
    const kube = new Agent({ connect: { ca: emu.clusterCaPem } });
    const r = await request(`${emu.kubeApi}/version`, { dispatcher: kube });
    expect(r.statusCode).toBe(200);
    expect(((await r.body.json()) as { gitVersion: string }).gitVersion).toMatch(/^v1\.34\.10\+k0s/);
    await kube.close();
    await expect(request(`${emu.kubeApi}/version`, { dispatcher: https })).rejects.toThrow();
  });

  it('accepts TCP connections on the konnectivity port and records them', async () => {
    const before = emu.konnectivityConnections.length;
    const port = Number(emu.info().konnectivity.split(':').at(-1));
    await new Promise<void>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(emu.konnectivityConnections.length).toBe(before + 1);
  });
});

describe('request record', () => {
  it('records method, path, status and credential type, and never a secret value', async () => {
    const recs = emu.requests;
    expect(recs.length).toBeGreaterThan(20);
    const kinds = new Set(recs.map((r) => r.credential));
    for (const k of ['api-key', 'bootstrap-token', 'edge-token', 'log-key', 'none']) expect(kinds).toContain(k);
    expect(recs.some((r) => r.credential === 'api-key' && r.credentialValid === false)).toBe(true);
    const file = readFileSync(emu.requestsFile, 'utf8');
    expect(file.trim().split('\n')).toHaveLength(recs.length);
    expect(file).not.toContain(emu.apiKey);
    expect(file).not.toMatch(/cebt_|ceet_|celk_/);
    const rec = recs.find((r) => r.endpoint === 'register')!;
    expect(rec).toMatchObject({ method: 'POST', credential: 'bootstrap-token' });
    expect(rec.credentialFingerprint).toMatch(/^[0-9a-f]{8}$/);
  });

  it('the admin endpoint needs the admin key', async () => {
    expect((await get(`${emu.apiUrl}/_emulator/requests`)).status).toBe(401);
    const ok = await get(`${emu.apiUrl}/_emulator/faults`, { 'x-emulator-admin': emu.adminKey });
    expect(ok.status).toBe(200);
  });
});

describe('CLI', () => {
  it('start (background) / info / fault add / requests / expire / stop', async () => {
    const node = process.execPath;
    const main = path.join(ROOT, 'test/control-plane/main.ts');
    const sd = path.join(dir, 'cli-state');
    const run = (...args: string[]) => execFileSync(node, [main, ...args, '--state-dir', sd], { encoding: 'utf8', timeout: 60_000 });
    const out = run('start', '--kube-port', '0', '--konnectivity-port', '0');
    try {
      const env = Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(env.API_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(readFileSync(env.CA_FILE!, 'utf8')).toContain('BEGIN CERTIFICATE');
      expect(run('info')).toContain(`API_KEY=${env.API_KEY}`);
      const fault = JSON.parse(run('fault', 'add', '429', '--retry-after', '2', '--endpoint', 'install-script', '--times', '1'));
      expect(fault).toMatchObject({ kind: 'status', status: 429, retryAfter: '2', endpoint: 'install-script', times: 1 });
      const ag = new Agent({ connect: { ca: readFileSync(env.CA_FILE!, 'utf8') } });
      const r1 = await request(env.SCRIPT_URL!, { headers: { 'x-api-key': env.API_KEY! }, dispatcher: ag });
      await r1.body.dump();
      expect(r1.statusCode).toBe(429);
      expect(r1.headers['retry-after']).toBe('2');
      const r2 = await request(env.SCRIPT_URL!, { headers: { 'x-api-key': env.API_KEY! }, dispatcher: ag });
      await r2.body.dump();
      expect(r2.statusCode).toBe(200);
      await ag.close();
      const reqs = run('requests');
      expect(reqs).toMatch(/GET\t\S+:edgeInitdScript\t429\tapi-key\tfault=status 429#1/);
      expect(reqs).toMatch(/:edgeInitdScript\t200\tapi-key\n/);
      expect(JSON.parse(run('expire', 'bootstrap-tokens'))).toEqual({ expired: 1 });
      expect(JSON.parse(run('fault', 'list'))).toEqual([]);
    } finally {
      expect(run('stop')).toMatch(/stopped emulator pid \d+/);
    }
  });
});
