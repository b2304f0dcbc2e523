import { gzipSync } from 'node:zlib';
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../agent/api/client.ts';
import type { Clock } from '../../agent/api/retry.ts';
import type { RegisterRequest, RegisterResponse } from '../../agent/api/types.ts';
import { EXIT } from '../../agent/errors.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { apiRejection, registerRequest as makeRegisterRequest, wgPublicKey } from '../helpers/api.ts';

const API = 'https://api.test.invalid';
const ORG = 'org-1';
const CLUSTER = 'cl-1';
const LOC = 'loc-1';
const BOOT = 'cebt_bootstrap-token-value-123456';
const EDGE_TOKEN = 'ceet_edge-token-value-987654321';
const LOG_KEY = 'celk_log-key-value-abcdef123';
const REGISTER_PATH = `/omni-provisioner/v2beta/organizations/${ORG}/clusters/${CLUSTER}/edge-locations/${LOC}/edges`;
const EDGE_PATH = `/omni-provisioner/v2beta/organizations/${ORG}/clusters/${CLUSTER}/edges/e-1`;

const registerRequest: RegisterRequest = makeRegisterRequest();

function registerResponse(now = Date.now()): RegisterResponse {
  return {
    edge: { id: 'e-1', name: 'cast-abc', phase: 'CREATING' },
    edgeToken: EDGE_TOKEN,
    node: { name: 'cast-abc', providerID: 'castai-omni://e-1', labels: { 'omni.cast.ai/csp': 'custom' }, taints: [] },
    wireguard: {
      address: '100.96.0.7/32',
      listenPort: 51840,
      mtu: 1380,
      peers: [{ publicKey: wgPublicKey(), endpoint: 'gw.example:51840', allowedIPs: ['100.96.0.1/32', '10.244.0.0/16'], persistentKeepalive: 25 }],
    },
    k0s: {
      version: 'v1.33.1+k0s.0',
      artifacts: { amd64: { url: 'https://dl.example/k0s-amd64', sha256: 'a'.repeat(64) } },
      joinToken: gzipSync('kubeconfig').toString('base64'),
      apiEndpoint: 'https://cp.example:8443',
      konnectivityEndpoint: 'cp.example:8132',
    },
    logs: { url: `${API}/v1/kubernetes/external-clusters/${CLUSTER}/nodes/cast-abc/logs`, apiKey: LOG_KEY, expiresAt: new Date(now + 3_600_000).toISOString() },
  };
}

class FakeClock implements Clock {
  t = Date.parse('2026-01-01T00:00:00Z');
  sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new Error('aborted');
    this.sleeps.push(ms);
    this.t += ms;
  }
}

let mock: MockAgent;
let clock: FakeClock;
let lines: string[];

function client(extra: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}): ApiClient {
  return new ApiClient({
    apiUrl: API,
    orgId: ORG,
    clusterId: CLUSTER,
    edgeLocationId: LOC,
    dispatcher: mock,
    clock,
    random: () => 0.5,
    logger: createLogger({ write: (l) => void lines.push(l), pretty: false, level: 'debug' }),
    ...extra,
  });
}

const pool = () => mock.get(API);

beforeEach(() => {
  mock = new MockAgent();
  mock.disableNetConnect();
  clock = new FakeClock();
  lines = [];
});
afterEach(async () => {
  await mock.close();
});

describe('register', () => {
  it('sends the bootstrap token as Bearer and returns created=true on 201', async () => {
    let seen: Record<string, string> = {};
    pool()
      .intercept({ path: REGISTER_PATH, method: 'POST' })
      .reply((opts) => {
        seen = opts.headers as Record<string, string>;
        expect(JSON.parse(opts.body as string)).toEqual(registerRequest);
        return { statusCode: 201, data: registerResponse() };
      });
    const r = await client().register(BOOT, registerRequest);
    expect(r.created).toBe(true);
    expect(r.response.edge.name).toBe('cast-abc');
    expect(r.response.edgeToken).toBe(EDGE_TOKEN);
    expect(seen.authorization).toBe(`Bearer ${BOOT}`);
    expect(seen['x-api-key']).toBeUndefined();
    expect(seen['content-type']).toBe('application/json');
    expect(clock.sleeps).toEqual([]);
  });

  it('returns created=false on 200 (same machineId again)', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(200, registerResponse());
    expect((await client().register(BOOT, registerRequest)).created).toBe(false);
  });

  it('retries 5xx with full-jitter backoff, then succeeds', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(500, { code: 13, message: 'boom' }).times(2);
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse());
    const r = await client().register(BOOT, registerRequest);
    expect(r.created).toBe(true);
    // random() = 0.5: half of the 1 s, then 2 s ceilings
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(lines.join('')).toContain('retrying in 0.5 s');
  });

  it('honours Retry-After in seconds on 429', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(429, { code: 8, message: 'slow down' }, { headers: { 'retry-after': '7' } });
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse());
    await client().register(BOOT, registerRequest);
    expect(clock.sleeps).toEqual([7000]);
    expect(lines.join('')).toContain('Retry-After');
  });

  it('honours Retry-After as an HTTP-date on 503', async () => {
    const at = new Date(clock.t + 42_000).toUTCString();
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(503, { code: 14, message: 'maintenance' }, { headers: { 'retry-after': at } });
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse());
    await client().register(BOOT, registerRequest);
    expect(clock.sleeps).toEqual([42_000]);
  });

  it('stops at once on 401 with "bootstrap token expired" and says to fetch a fresh init script', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(401, { code: 16, message: 'bootstrap token expired' });
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.kind).toBe('auth');
    expect(e.credential).toBe('bootstrap-token');
    expect(e.retryable).toBe(false);
    expect(e.exitCode).toBe(EXIT.CONFIG);
    expect(e.message).toContain('register: the control plane rejected the bootstrap token (HTTP 401: bootstrap token expired): bootstrap token expired');
    expect(e.remediation).toContain('fetch a fresh init script');
    expect(clock.sleeps).toEqual([]);
    expect(e.message).not.toContain(BOOT);
  });

  it('stops on 403 too', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(403, { code: 7, message: 'revoked' });
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.kind).toBe('auth');
    expect(e.status).toBe(403);
  });

  it('retries a garbage (non-JSON) 200 body with a clear message, then succeeds', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(200, '<html>502 Bad Gateway</html>', { headers: { 'content-type': 'text/html' } });
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse());
    await client().register(BOOT, registerRequest);
    expect(clock.sleeps).toHaveLength(1);
    expect(lines.join('')).toContain('body that is not JSON (text/html');
  });

  it('gives up on garbage after maxAttempts, saying so', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(200, '{"edge": {"id": ').times(3);
    const e = await apiRejection(client({ retry: { maxAttempts: 3 } }).register(BOOT, registerRequest));
    expect(e.kind).toBe('bad-response');
    expect(e.message).toContain('gave up after 3 attempts');
    expect(e.message).toContain('not JSON');
    expect(clock.sleeps).toHaveLength(2);
  });

  it('names the bad field of a malformed response and does not retry', async () => {
    const bad = registerResponse() as unknown as { wireguard: { peers: Array<{ publicKey: string }> } };
    bad.wireguard.peers[0]!.publicKey = 'short';
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, bad);
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.kind).toBe('invalid-response');
    expect(e.field).toBe('wireguard.peers[0].publicKey');
    expect(e.message).toContain('field wireguard.peers[0].publicKey must be a base64 WireGuard public key');
    expect(clock.sleeps).toEqual([]);
  });

  it('never shows a secret field value in a shape error', async () => {
    const bad = { ...registerResponse(), logs: { url: 'https://x/logs', apiKey: 12345678, expiresAt: 'soon' } };
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, bad);
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.field).toBe('logs.expiresAt');
    const bad2 = { ...registerResponse(), edgeToken: 42 };
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, bad2);
    const e2 = await apiRejection(client().register(BOOT, registerRequest));
    expect(e2.message).toContain('field edgeToken must be a non-empty string, got (secret, not shown)');
  });

  it('retries dropped connections (network errors)', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).replyWithError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse());
    await client().register(BOOT, registerRequest);
    expect(clock.sleeps).toHaveLength(1);
    expect(lines.join('')).toContain('UND_ERR_SOCKET');
  });

  it('reports a timeout as such', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse()).delay(500);
    const e = await apiRejection(client({ timeoutMs: 50, retry: { maxAttempts: 1 } }).register(BOOT, registerRequest));
    expect(e.kind).toBe('timeout');
    expect(e.message).toContain('within 0.05 s');
  });

  it('stops when aborted during backoff', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(503, { message: 'x' }).persist();
    const ac = new AbortController();
    const c = new ApiClient({
      apiUrl: API, orgId: ORG, clusterId: CLUSTER, edgeLocationId: LOC, dispatcher: mock,
      clock: { now: () => Date.now(), sleep: async () => { ac.abort(); throw new Error('aborted'); } },
    });
    const e = await apiRejection(c.register(BOOT, registerRequest, { signal: ac.signal }));
    expect(e.kind).toBe('aborted');
  });

  it('rejects a 400 without retrying, quoting the server message', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(400, { code: 3, message: 'field machineId must be 32 hex' });
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.kind).toBe('rejected');
    expect(e.message).toContain('field machineId must be 32 hex');
    expect(clock.sleeps).toEqual([]);
  });

  it('keeps tokens out of log lines even when the server echoes them', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(503, { message: `token ${BOOT} is busy` });
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(201, registerResponse());
    await client().register(BOOT, registerRequest);
    const all = lines.join('');
    expect(all).toContain('[REDACTED]');
    expect(all).not.toContain(BOOT);
  });
});

describe('getEdge / reportStatus', () => {
  it('uses "Token <edge token>" and parses the desired state', async () => {
    let auth = '';
    const { edgeToken: _t, logs: _l, ...state } = registerResponse();
    pool()
      .intercept({ path: EDGE_PATH, method: 'GET' })
      .reply((o) => {
        auth = (o.headers as Record<string, string>).authorization ?? '';
        return { statusCode: 200, data: { ...state, edge: { ...state.edge, phase: 'DELETING' } } };
      });
    const r = await client().getEdge(EDGE_TOKEN, 'e-1');
    expect(auth).toBe(`Token ${EDGE_TOKEN}`);
    expect(r.gone).toBe(false);
    if (!r.gone) expect(r.state.edge.phase).toBe('DELETING');
  });

  it('"gone" only on the API\'s own JSON EDGE_NOT_FOUND naming this edge (docs/control-plane-api.md §4)', async () => {
    pool()
      .intercept({ path: EDGE_PATH, method: 'GET' })
      .reply(404, { code: 5, message: 'edge e-1 not found', details: [{ reason: 'EDGE_NOT_FOUND', edgeId: 'e-1' }] });
    expect(await client().getEdge(EDGE_TOKEN, 'e-1')).toEqual({ gone: true, edgeId: 'e-1' });
  });

  it('names the edge token on 401 and says to re-register', async () => {
    pool().intercept({ path: `${EDGE_PATH}:reportStatus`, method: 'POST' }).reply(401, { code: 16, message: 'edge token rejected' });
    const e = await apiRejection(client().reportStatus(EDGE_TOKEN, 'e-1', { phase: 'READY', agentVersion: '0.1.0', bootId: 'b', steps: [] }));
    expect(e.credential).toBe('edge-token');
    expect(e.message).toContain('rejected the edge token');
    expect(e.remediation).toContain('re-run the init script');
  });
});

describe('uploadLogs', () => {
  const events = [{ level: 'info', time: '2026-01-01T00:00:00Z', message: 'registered' }];
  const sink = () => ({
    url: `${API}/v1/kubernetes/external-clusters/${CLUSTER}/nodes/cast-abc/logs`,
    apiKey: LOG_KEY,
    expiresAt: new Date(clock.t + 3_600_000).toISOString(),
  });

  it('sends only the scoped key as X-API-Key', async () => {
    let headers: Record<string, string> = {};
    pool()
      .intercept({ path: `/v1/kubernetes/external-clusters/${CLUSTER}/nodes/cast-abc/logs`, method: 'POST' })
      .reply((o) => {
        headers = o.headers as Record<string, string>;
        expect(JSON.parse(o.body as string)).toEqual({ logEvents: events });
        return { statusCode: 200, data: { accepted: 1 } };
      });
    expect(await client().uploadLogs(sink(), events)).toEqual({ sent: 1 });
    expect(headers['x-api-key']).toBe(LOG_KEY);
    expect(headers.authorization).toBeUndefined();
  });

  it('sends nothing after expiresAt', async () => {
    const s = { ...sink(), expiresAt: new Date(clock.t - 1).toISOString() };
    const e = await apiRejection(client().uploadLogs(s, events));
    expect(e.kind).toBe('expired');
    expect(e.credential).toBe('log-key');
    mock.assertNoPendingInterceptors();
  });

  it('does not retry past expiresAt', async () => {
    const s = { ...sink(), expiresAt: new Date(clock.t + 200).toISOString() };
    pool().intercept({ path: `/v1/kubernetes/external-clusters/${CLUSTER}/nodes/cast-abc/logs`, method: 'POST' }).reply(503, { message: 'x' });
    const e = await apiRejection(client().uploadLogs(s, events));
    expect(e.kind).toBe('expired');
    expect(e.message).toContain('expires before the next attempt');
    expect(clock.sleeps).toEqual([]);
  });

  it('stops on a rejected log key, naming it', async () => {
    pool().intercept({ path: `/v1/kubernetes/external-clusters/${CLUSTER}/nodes/cast-abc/logs`, method: 'POST' }).reply(401, { message: 'log key expired' });
    const e = await apiRejection(client().uploadLogs(sink(), events));
    expect(e.credential).toBe('log-key');
    expect(e.remediation).toContain('no other credential is ever used');
  });

  it('splits large batches', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => ({ level: 'info', time: '2026-01-01T00:00:00Z', message: `line ${i}` }));
    const sizes: number[] = [];
    pool()
      .intercept({ path: `/v1/kubernetes/external-clusters/${CLUSTER}/nodes/cast-abc/logs`, method: 'POST' })
      .reply((o) => {
        sizes.push((JSON.parse(o.body as string) as { logEvents: unknown[] }).logEvents.length);
        return { statusCode: 200, data: {} };
      })
      .times(3);
    expect(await client().uploadLogs(sink(), many)).toEqual({ sent: 1200 });
    expect(sizes).toEqual([500, 500, 200]);
  });
});

describe('configuration', () => {
  it('refuses a non-https API_URL', () => {
    expect(() => new ApiClient({ apiUrl: 'http://api.example', orgId: ORG, clusterId: CLUSTER })).toThrow('must use https');
  });
});

describe('get edge: a 404 is removal evidence only when the control plane itself says so (issue 14 item 1)', () => {
  const NGINX =
    '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';
  const cases: Array<[string, number | undefined, string | object, RegExp]> = [
    ['nginx\'s HTML 404 page', undefined, NGINX, /not the control plane's EDGE_NOT_FOUND for this edge: a body that is not JSON \(text\/html/],
    ['an empty 404', undefined, '', /an empty body/],
    ['a JSON 404 without an EDGE_NOT_FOUND detail', undefined, { code: 5, message: 'edge e-1 not found', details: [] }, /JSON without an EDGE_NOT_FOUND detail/],
    ['EDGE_NOT_FOUND for another edge', undefined, { code: 5, message: 'edge e-2 not found', details: [{ reason: 'EDGE_NOT_FOUND', edgeId: 'e-2' }] }, /EDGE_NOT_FOUND for edge e-2, not this edge e-1/],
    ['EDGE_NOT_FOUND with another gRPC code', undefined, { code: 13, message: 'x', details: [{ reason: 'EDGE_NOT_FOUND', edgeId: 'e-1' }] }, /code 13/],
  ];
  for (const [what, , body, re] of cases) {
    it(`${what}: not proof — an outage (kind not-proof, retried, never "gone")`, async () => {
      const headers = typeof body === 'string' ? { 'content-type': 'text/html' } : { 'content-type': 'application/json' };
      pool().intercept({ path: EDGE_PATH, method: 'GET' }).reply(404, typeof body === 'string' ? body : JSON.stringify(body), { headers }).times(2);
      const e = await apiRejection(client().getEdge(EDGE_TOKEN, 'e-1', { maxAttempts: 2 }));
      expect(e.kind).toBe('not-proof');
      expect(e.retryable).toBe(true);
      expect(e.status).toBe(404);
      expect(e.message).toMatch(re);
      expect(clock.sleeps).toHaveLength(1); // retried once, like any outage
    });
  }

  it('a 200 that describes another edge is not this edge\'s desired state (and never a DELETING for it)', async () => {
    const { edgeToken: _t, logs: _l, ...state } = registerResponse();
    pool().intercept({ path: EDGE_PATH, method: 'GET' }).reply(200, { ...state, edge: { id: 'e-2', name: 'cast-other', phase: 'DELETING' } });
    const e = await apiRejection(client().getEdge(EDGE_TOKEN, 'e-1', { maxAttempts: 1 }));
    expect(e.kind).toBe('invalid-response');
    expect(e.field).toBe('edge.id');
    expect(e.message).toContain('describes edge e-2, not this edge e-1');
  });

  it('quietRetries: the in-call retry is logged at debug (the register step warns once per change itself)', async () => {
    pool().intercept({ path: EDGE_PATH, method: 'GET' }).reply(503, { code: 14, message: 'unavailable' }).times(2);
    await apiRejection(client().getEdge(EDGE_TOKEN, 'e-1', { maxAttempts: 2, quietRetries: true }));
    const retry = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => /retrying in/.test(l.msg));
    expect(retry).toHaveLength(1);
    expect(retry[0]!.level).toBe(20);
  });
});

describe('register: 409 MACHINE_ID_CONFLICT (issue 14 item 2)', () => {
  it('is a non-retried conflict naming the other edge, when it last reported, and the fix', async () => {
    pool()
      .intercept({ path: REGISTER_PATH, method: 'POST' })
      .reply(409, {
        code: 6,
        message: 'machine-id already registered',
        details: [{ reason: 'MACHINE_ID_CONFLICT', edgeId: 'e-9', lastSeen: '2026-01-01T00:00:00Z' }],
      });
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.kind).toBe('conflict');
    expect(e.retryable).toBe(false);
    expect(e.conflict).toEqual({ edgeId: 'e-9', lastSeen: '2026-01-01T00:00:00Z' });
    expect(e.message).toContain('edge e-9');
    expect(e.remediation).toContain('rm /etc/machine-id && systemd-machine-id-setup');
    expect(e.exitCode).toBe(EXIT.CONFIG);
    expect(clock.sleeps).toEqual([]);
  });

  it('a 409 without the contract\'s detail stays a plain rejection', async () => {
    pool().intercept({ path: REGISTER_PATH, method: 'POST' }).reply(409, { code: 6, message: 'conflict', details: [] });
    const e = await apiRejection(client().register(BOOT, registerRequest));
    expect(e.kind).toBe('rejected');
    expect(e.conflict).toBeUndefined();
  });
});
