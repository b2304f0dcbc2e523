/**
 * API faults against a JOINED node in the VM lab (issue 9 item 2): the real installed
 * `castai-edge-initd` service, one VM, one join (the documented one-liner against the control-plane
 * emulator), then in sequence: outage (refused, then black-holed), 5xx storm, 429 + Retry-After,
 * garbage/truncated bodies, slow answers, 401, then get-edge answering nginx's HTML 404 and an
 * EDGE_NOT_FOUND for another edge (5 minutes each: never a teardown). While those 404 windows
 * wait, a second guest with the SAME machine-id runs the one-liner and is refused (409). Last, a
 * label/taint change (env file, one-liner, agent restart) reaches the Node without restarting k0sworker, and a
 * real DELETE tears the node down within two polls. The SHORT timings (90 s outage); `make
 * chaos-faults` runs the same campaign with the issue's 5-minute outage and prints the numbers as JSON.
 * Scenario code and the bounds' derivation: test/e2e/api-faults-fixture.ts,
 * docs/decisions/0120-api-fault-injection.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLog, guestNow, journalTail, oneLiner, waitFor, waitPass } from './join-fixture.ts';
import { machineIdClone, type CloneResult } from './machine-id-clone.ts';
import {
  agentRequests,
  bootJoined,
  OTHER_EDGE_ID,
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
let clone: CloneResult | undefined;
const log = (s: string) => process.stderr.write(`[api-faults] ${s}\n`);

beforeAll(async () => {
  f = await bootJoined('api-faults', log);
  // Debugging a part: API_FAULTS_ONLY=404 API_FAULTS_NOT_FOUND_S=60 (the other scenarios' tests then fail as "did not run").
  const only = process.env.API_FAULTS_ONLY?.split(',');
  const nf = Number(process.env.API_FAULTS_NOT_FOUND_S ?? 0);
  const timings = nf > 0 ? { ...SHORT_TIMINGS, notFoundMs: nf * 1000 } : SHORT_TIMINGS;
  c = await runCampaign(f, { timings, log, ...(only ? { only } : {}), during: { '404': async (lab) => void (clone = await machineIdClone(lab, log)) } });
}, 2_700_000);

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

  it('get-edge answering nginx\'s HTML 404, then EDGE_NOT_FOUND for another edge (5 min each): an outage, never a teardown (issue 14 item 1)', () => {
    const s = byName('404');
    common(s);
    expect(s.phases.map((p) => [p.label, p.durationS >= c.timings.notFoundMs / 1000])).toEqual([
      ['get-edge: nginx HTML 404', true],
      ['get-edge: JSON EDGE_NOT_FOUND for another edge', true],
    ]);
    expect(s.faulted['get-edge']).toBeGreaterThanOrEqual(4); // every pass met it: ≥ 2 polls per 5-minute window
    // The agent's own view at the end of each window: an outage, register.json kept, no removal evidence.
    expect(s.probes).toEqual([
      expect.objectContaining({
        controlPlane: 'outage',
        reason: expect.stringMatching(/a body that is not JSON \(text\/html/),
        registerJson: true,
        removalEvidence: false,
        phase: 'READY',
      }),
      expect.objectContaining({
        controlPlane: 'outage',
        reason: expect.stringContaining(`EDGE_NOT_FOUND for edge ${OTHER_EDGE_ID}, not this edge`),
        registerJson: true,
        removalEvidence: false,
        phase: 'READY',
      }),
    ]);
    // Warned once per change (HTML, then the other edge), not on each of the ~10 passes.
    expect(s.outageWarnings).toHaveLength(2);
  });

  it('a second guest with the same /etc/machine-id is refused (409), changes nothing on itself, and the first stays untouched (issue 14 item 2)', () => {
    expect(clone, 'the clone scenario ran during the 404 windows').toBeDefined();
    const k = clone!;
    log(`clone wall time ${k.wallS} s (inside the 404 windows)`);
    expect(k.registerError).toContain(`belongs to edge ${k.firstEdgeId}`);
    expect(k.registerError).toMatch(/last status report \d{4}-\d\d-\d\dT/);
    expect(k.lastSeenOk, 'lastSeen is the first guest\'s last status report').toBe(true);
    expect(k.registerError).toContain('rm /etc/machine-id && systemd-machine-id-setup');
    expect(k.statusText).toContain('register failed: machine-id');
    // Not a hot loop: the agent keeps running (no restarts) and asks once per pass.
    expect(k.agentActive).toBe('active');
    expect(k.restarts).toBe(0);
    expect(k.registerStatuses.length).toBeGreaterThanOrEqual(2);
    expect(new Set(k.registerStatuses)).toEqual(new Set([409]));
    expect(k.registerMinGapS!).toBeGreaterThanOrEqual(40);
    expect(k.hostChanges).toEqual([]);
    expect(k.firstEdgeAfter).toBe(k.firstEdgeBefore);
    expect(k.conflicts).toBe(k.registerStatuses.length);
  });

  it('the agent ran through all of it: same process, no teardown, bounded memory, edge READY', () => {
    expect(c.agentRestarts).toBe(0);
    expect(c.mainPidChanged).toBe(false);
    expect(c.teardownLines).toEqual([]);
    expect(c.edgePhase).toBe('READY');
    for (const [what, m] of [['VmRSS', c.rss], ['RssAnon', c.anon], ['RssFile', c.file]] as const) {
      log(
        `${what}: first minute max ${m.firstMinuteMaxMiB} MiB, last minute max ${m.lastMinuteMaxMiB} MiB, min ${m.minMiB}, max ${m.maxMiB} (${m.samples} samples); per minute ${m.perMinuteMaxMiB.join(' ')}`,
      );
    }
    expect(c.anon.samples).toBeGreaterThan(20);
    expect(c.anon.lastMinuteMaxMiB, 'RssAnon growth over the campaign (MiB)').toBeLessThanOrEqual(c.anon.firstMinuteMaxMiB + RSS_GROWTH_BOUND_MIB);
  });
});

describe('after all of it: a label change, then a real DELETE', () => {
  it('changing labels and taints (edit the env file, re-run the one-liner, restart the agent): the control plane patches the Node, k0sworker is not restarted, status shows what was accepted (issue 14 item 3)', async () => {
    const lab = f!;
    const edge = lab.cp.edgeOf(lab.vm.machineId)!;
    const k0s = () => lab.vm.sh('systemctl show -p MainPID -p NRestarts -p ActiveEnterTimestampMonotonic k0sworker');
    const before = await k0s();
    const since = (await guestNow(lab.vm)) * 1000;
    const agentPid = Number((await lab.vm.sh('systemctl show -p MainPID --value castai-edge-initd')).trim());
    await lab.vm.sh(
      "sed -i -e 's/^INITD_KUBERNETES_LABELS=.*/INITD_KUBERNETES_LABELS=env=e2e-changed/' -e 's/^INITD_KUBERNETES_TAINTS=.*/INITD_KUBERNETES_TAINTS=changed=yes:NoSchedule/' /root/edge.env",
    );
    // The documented steps (README, "Change labels"): a fresh one-liner (a fresh bootstrap token; the
    // installer does not restart for a new token alone), then restart the agent to read the env file.
    const inst = await lab.vm.exec(oneLiner(lab.cp), { timeoutMs: 600_000 });
    expect(inst.exitCode, inst.stderr).toBe(0);
    await lab.vm.sh('systemctl restart castai-edge-initd', { timeoutMs: 300_000 });
    const node = await waitFor(
      'the Node at the control plane to carry the new labels',
      async () => lab.cp.snapshot().nodes.find((n) => n.nodeName === edge.name && n.labels.env === 'e2e-changed'),
      300_000,
      () => journalTail(lab.vm),
      3000,
    );
    expect(node.labels['example.com/rack']).toBeUndefined(); // the old user label is gone
    expect(node.labels['omni.cast.ai/edge-id']).toBe(edge.id); // the control plane's own stay
    expect(node.taints).toEqual([{ key: 'changed', value: 'yes', effect: 'NoSchedule' }]);
    // A whole pass of the restarted agent, k0s step included …
    await waitPass(lab.vm, since, 300_000, (p) => p.pid !== agentPid && p.complete && p.steps.k0s !== undefined);
    // … and k0sworker was neither restarted nor reinstalled.
    expect(await k0s()).toBe(before);
    const st = JSON.parse((await lab.vm.exec('castai-edge-initd status --json')).stdout) as {
      nodeLabels?: { labels: Record<string, string>; taints: unknown[]; pending: unknown };
    };
    expect(st.nodeLabels?.labels.env).toBe('e2e-changed');
    expect(st.nodeLabels?.taints).toEqual([{ key: 'changed', value: 'yes', effect: 'NoSchedule' }]);
    expect(st.nodeLabels?.pending).toBeNull();
  }, 900_000);

  it('the operator\'s DELETE: teardown within two polls, then DELETED and the node is gone', async () => {
    const lab = f!;
    const edge = lab.cp.edgeOf(lab.vm.machineId)!;
    const t0 = Date.now();
    expect(await lab.cp.deleteEdge(edge.id)).toBe(200);
    const tearing = await waitFor(
      'a TEARING_DOWN status report',
      async () => lab.cp.snapshot().edges.find((e) => e.id === edge.id)?.statusReports.find((r) => Date.parse(r.time) >= t0 && r.body.phase === 'TEARING_DOWN'),
      (2 * PASS_GAP_MAX_S + 60) * 1000,
      undefined,
      1000,
    );
    const polls = agentRequests(lab.cp, lab.vm.ip).filter((r) => r.endpoint === 'get-edge' && r.t >= t0 && r.t <= Date.parse(tearing.time));
    log(`DELETE → TEARING_DOWN in ${((Date.parse(tearing.time) - t0) / 1000).toFixed(0)} s, ${polls.length} get-edge poll(s)`);
    expect(polls.length).toBeGreaterThanOrEqual(1);
    expect(polls.length).toBeLessThanOrEqual(2);
    await waitFor(
      'the DELETED report',
      async () => (lab.cp.snapshot().edges.find((e) => e.id === edge.id)?.phase === 'DELETED' ? true : undefined),
      600_000,
      undefined,
      2000,
    );
    const line = (await agentLog(lab.vm)).find((l) => l.time >= t0 - lab.clockOffsetMs && /tearing this node down/.test(l.msg));
    expect(line?.msg).toContain('the edge is DELETING');
    const host = await lab.vm.sh(
      'echo "$(systemctl is-active k0sworker) $(ip link show wg0 >/dev/null 2>&1 && echo wg0 || echo no-wg0) $([ -e /var/lib/k0s/kubelet.conf ] && echo kubelet.conf || echo no-kubelet.conf) $(e=$(systemctl is-enabled castai-edge-initd 2>/dev/null); echo "${e:-missing}")"',
    );
    expect(host.trim().split(' ')).toEqual([expect.not.stringMatching(/^active$/), 'no-wg0', 'no-kubelet.conf', 'disabled']);
  }, 900_000);
});
