/**
 * The Retry-After gate of the API client (agent/api/client.ts): a 429/503 Retry-After holds EVERY
 * later request of that operation until it passes, not only the retry inside the same call.
 *
 * Found by the VM fault campaign (test/e2e/api-faults.test.ts, 429 with Retry-After 40 s): the
 * heartbeat's report call slept the Retry-After, retried, got a 429 again and gave up; the next
 * heartbeat ~30 s later asked again at once, i.e. before the server's Retry-After had passed.
 * A Retry-After longer than one call should sleep (maxInCallWaitMs, 60 s) used to hold the
 * reconcile pass (get edge) for up to an hour; now it ends the call and later calls are not sent
 * until the gate passes.
 */
import { MockAgent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../agent/api/client.ts';
import type { Clock } from '../../agent/api/retry.ts';
import type { StatusReport } from '../../agent/api/types.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { apiRejection } from '../helpers/api.ts';

const API = 'https://api.test.invalid';
const EDGE_TOKEN = 'ceet_edge-token-value-987654321';
const EDGE_PATH = '/omni-provisioner/v2beta/organizations/org-1/clusters/cl-1/edges/e-1';
const REPORT_PATH = `${EDGE_PATH}:reportStatus`;
const report: StatusReport = { phase: 'READY', agentVersion: '0.1.0', bootId: 'b', steps: [], k0s: { unitActive: true } };

class FakeClock implements Clock {
  t = Date.parse('2026-01-01T00:00:00Z');
  sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
}

let mock: MockAgent;
let clock: FakeClock;
let lines: string[];
/** Fake-clock time of every request the server saw, per path. */
let seen: Array<{ path: string; t: number }>;

function client(): ApiClient {
  return new ApiClient({
    apiUrl: API,
    orgId: 'org-1',
    clusterId: 'cl-1',
    edgeLocationId: 'loc-1',
    dispatcher: mock,
    clock,
    random: () => 0.5,
    logger: createLogger({ write: (l) => void lines.push(l), pretty: false, level: 'debug' }),
  });
}

function reply(path: string, status: number, headers: Record<string, string> = {}, times = 1): void {
  mock
    .get(API)
    .intercept({ path, method: path === EDGE_PATH ? 'GET' : 'POST' })
    .reply((o) => {
      seen.push({ path: o.path, t: clock.t });
      // A 404 is the API's own EDGE_NOT_FOUND for this edge (docs/control-plane-api.md §4): what ends a get-edge call at once.
      const data =
        status === 404
          ? { code: 5, message: 'edge e-1 not found', details: [{ reason: 'EDGE_NOT_FOUND', edgeId: 'e-1' }] }
          : status >= 400
            ? { code: 8, message: 'slow down' }
            : {};
      return { statusCode: status, data, responseOptions: { headers } };
    })
    .times(times);
}

beforeEach(() => {
  mock = new MockAgent();
  mock.disableNetConnect();
  clock = new FakeClock();
  lines = [];
  seen = [];
});
afterEach(async () => {
  await mock.close();
});

describe('Retry-After gate across calls', () => {
  it('the next call (the next heartbeat) waits out a Retry-After the previous call got', async () => {
    const c = client();
    reply(REPORT_PATH, 429, { 'retry-after': '40' }, 2);
    const e = await apiRejection(c.reportStatus(EDGE_TOKEN, 'e-1', report, { maxAttempts: 2 }));
    expect(e.kind).toBe('rate-limited');
    expect(clock.sleeps).toEqual([40_000]); // the in-call retry honoured it
    const last429 = seen.at(-1)!.t;
    clock.t += 30_000; // the heartbeat sleeps ~30 s
    reply(REPORT_PATH, 200);
    await c.reportStatus(EDGE_TOKEN, 'e-1', report, { maxAttempts: 2 });
    expect(seen).toHaveLength(3);
    // Before the fix this request went out 30 s after the 429: earlier than its Retry-After.
    expect(seen[2]!.t - last429).toBeGreaterThanOrEqual(40_000);
    expect(clock.sleeps).toEqual([40_000, 10_000]);
    expect(lines.join('')).toContain("waiting 10.0 s (the control plane's Retry-After) before sending");
  });

  it('a Retry-After longer than one call waits ends the call; later calls send nothing until it passes', async () => {
    const c = client();
    reply(EDGE_PATH, 503, { 'retry-after': '600' });
    const first = await apiRejection(c.getEdge(EDGE_TOKEN, 'e-1', { maxAttempts: 2 }));
    expect(first.kind).toBe('server');
    expect(first.retryable).toBe(true);
    expect(first.message).toMatch(/not retried before 2026-01-01T00:10:00\.000Z \(Retry-After 600 s\)/);
    expect(clock.sleeps).toEqual([]); // the reconcile pass is not held for 10 minutes
    clock.t += 60_000; // the next reconcile pass
    const second = await apiRejection(c.getEdge(EDGE_TOKEN, 'e-1', { maxAttempts: 2 }));
    expect(second.kind).toBe('rate-limited');
    expect(second.message).toContain('not sent');
    expect(seen).toHaveLength(1); // nothing reached the server
    clock.t += 540_000; // the gate has passed
    reply(EDGE_PATH, 404);
    expect(await c.getEdge(EDGE_TOKEN, 'e-1')).toEqual({ gone: true, edgeId: 'e-1' });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.t - seen[0]!.t).toBeGreaterThanOrEqual(600_000);
  });

  it('the gate is per operation: a 429 on reportStatus does not hold get edge', async () => {
    const c = client();
    reply(REPORT_PATH, 429, { 'retry-after': '3000' });
    await apiRejection(c.reportStatus(EDGE_TOKEN, 'e-1', report, { maxAttempts: 2 }));
    reply(EDGE_PATH, 404);
    expect(await c.getEdge(EDGE_TOKEN, 'e-1')).toEqual({ gone: true, edgeId: 'e-1' });
    expect(clock.sleeps).toEqual([]);
  });

  it('a Retry-After within the in-call limit is still slept through inside the call (register at install)', async () => {
    const c = client();
    reply(REPORT_PATH, 429, { 'retry-after': '45' });
    reply(REPORT_PATH, 200);
    await c.reportStatus(EDGE_TOKEN, 'e-1', report);
    expect(clock.sleeps).toEqual([45_000]);
    expect(seen[1]!.t - seen[0]!.t).toBe(45_000);
  });
});
