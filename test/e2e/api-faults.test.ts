/**
 * API faults against a JOINED node in the VM lab (issue 9 item 2): the real installed
 * `castai-edge-initd` service, one VM, one join (the documented one-liner against the control-plane
 * emulator), then in sequence: outage (refused, then black-holed), 5xx storm, 429 + Retry-After,
 * garbage/truncated bodies, slow answers, 401. The SHORT timings (90 s outage); `make chaos-faults`
 * runs the same campaign with the issue's 5-minute outage and prints the numbers as JSON.
 * Scenario code and the bounds' derivation: test/e2e/api-faults-fixture.ts,
 * docs/decisions/0120-api-fault-injection.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootJoined,
  PASS_GAP_MAX_S,
  PER_MINUTE_BOUND,
  RSS_GROWTH_BOUND_MIB,
  RECOVERY_BOUND_S,
  runCampaign,
  SHORT_TIMINGS,
  TCP_ENDPOINT,
  TOTAL_PER_MINUTE_BOUND,
  type CampaignResult,
  type FaultLab,
  type ScenarioResult,
} from './api-faults-fixture.ts';

let f: FaultLab | undefined;
let c: CampaignResult;
const log = (s: string) => process.stderr.write(`[api-faults] ${s}\n`);

beforeAll(async () => {
  f = await bootJoined('api-faults', log);
  c = await runCampaign(f, { timings: SHORT_TIMINGS, log });
}, 1_500_000);

afterAll(async () => {
  await f?.lab.close();
  await f?.cp.stop();
});

const byName = (n: string): ScenarioResult => {
  const s = c.scenarios.find((x) => x.name === n);
  if (!s) throw new Error(`scenario ${n} did not run`);
  return s;
};

/** The properties every fault must keep: no storm, joined throughout, recovery in time. */
function common(s: ScenarioResult, recoveryBoundS = RECOVERY_BOUND_S): void {
  expect(s.joinedProblems, `node stayed joined during ${s.name}`).toEqual([]);
  expect(s.stayedJoined).toBe(true);
  expect(s.kubeHeartbeats).toBeGreaterThan(0);
  for (const [endpoint, r] of Object.entries(s.requestsPerMin)) {
    const bound = endpoint === TCP_ENDPOINT ? TOTAL_PER_MINUTE_BOUND : PER_MINUTE_BOUND[endpoint]!;
    expect(r.max, `${s.name}: ${endpoint} requests in a 60 s window (bound ${bound})`).toBeLessThanOrEqual(bound);
  }
  expect(s.totalPerMin.max, `${s.name}: all API requests in a 60 s window`).toBeLessThanOrEqual(TOTAL_PER_MINUTE_BOUND);
  expect(s.recoveryS, `${s.name}: seconds from clearing the fault to the agent's next clean 2xx`).not.toBeNull();
  expect(s.recoveryS!).toBeLessThanOrEqual(recoveryBoundS);
  expect(s.rss.samples).toBeGreaterThan(1);
}

describe('API faults against a joined node (real agent service in the VM lab)', () => {
  it('outage (refused, then black-holed): bounded reconnects, stays joined, recovers', () => {
    const s = byName('outage');
    common(s);
    expect(s.phases.map((p) => p.source)).toEqual(['nftables', 'nftables']);
    // The agent did try (and was refused / black-holed): TCP attempts were seen, nothing reached the emulator.
    expect(s.faulted[TCP_ENDPOINT]).toBeGreaterThan(0);
    expect(s.requestsPerMin['get-edge']!.total + s.requestsPerMin['report-status']!.total).toBe(0);
  });

  it('5xx storm (500, 502, 503): bounded retries, stays joined, recovers', () => {
    const s = byName('5xx');
    common(s);
    expect(s.faulted['get-edge']).toBeGreaterThan(0);
    expect(s.faulted['report-status']).toBeGreaterThan(0);
  });

  it('429 with Retry-After: the next request to that endpoint waits at least Retry-After', () => {
    const s = byName('429');
    common(s, RECOVERY_BOUND_S + SHORT_TIMINGS.retryAfterSec);
    expect(s.retryAfter!.pairs, 'a 429 followed by another request to the same endpoint').toBeGreaterThanOrEqual(2);
    // Server-side request start times; the agent's wait starts after it received the 429, so no slack is needed beyond clock rounding.
    expect(s.retryAfter!.minGapS!).toBeGreaterThanOrEqual(SHORT_TIMINGS.retryAfterSec - 0.1);
  });

  it('garbage (200 non-JSON, then truncated): treated as retryable, stays joined, recovers', () => {
    const s = byName('garbage');
    common(s);
    expect(s.faulted['get-edge']).toBeGreaterThan(0);
    expect(s.faulted['report-status']).toBeGreaterThan(0);
  });

  it('slow answers (15 s > the 10 s timeout): bounded, stays joined, recovers', () => {
    const s = byName('slow');
    common(s);
    expect(s.faulted['get-edge']).toBeGreaterThan(0);
  });

  it('401 (edge token revoked): the register step fails (DEGRADED), get-edge not retried, NO teardown; READY again after', () => {
    const s = byName('401');
    common(s);
    // Designed behaviour (agent/api/client.ts, reconcile/steps/register.ts, lifecycle.ts): a 401 is an
    // operator problem, never retried inside a call, never a reason to tear the node down.
    expect(s.auth!.phase).toBe('DEGRADED');
    expect(s.auth!.registerError).toMatch(/register: FAILED: get edge: the control plane rejected the edge token \(HTTP 401/);
    expect(s.auth!.registerError).toMatch(/re-run the init script/);
    if (s.auth!.getEdgeMinGapS !== null) expect(s.auth!.getEdgeMinGapS).toBeGreaterThanOrEqual(40); // one attempt per pass
    expect(s.readyS, 'a READY report after the 401 is cleared').not.toBeNull();
    expect(s.readyS!).toBeLessThanOrEqual(PASS_GAP_MAX_S + 45);
  });

  it('the agent ran through all of it: same process, no teardown, bounded memory, edge READY', () => {
    expect(c.agentRestarts).toBe(0);
    expect(c.mainPidChanged).toBe(false);
    expect(c.teardownLines).toEqual([]);
    expect(c.edgePhase).toBe('READY');
    for (const [what, m] of [['VmRSS', c.rss], ['RssAnon', c.anon], ['RssFile', c.file]] as const) {
      log(`${what}: first minute max ${m.firstMinuteMaxMiB} MiB, last minute max ${m.lastMinuteMaxMiB} MiB, min ${m.minMiB}, max ${m.maxMiB} (${m.samples} samples); per minute ${m.perMinuteMaxMiB.join(' ')}`);
    }
    expect(c.anon.samples).toBeGreaterThan(20);
    expect(c.anon.lastMinuteMaxMiB, 'RssAnon growth over the campaign (MiB)').toBeLessThanOrEqual(c.anon.firstMinuteMaxMiB + RSS_GROWTH_BOUND_MIB);
  });
});
