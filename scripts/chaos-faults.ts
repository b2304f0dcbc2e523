#!/usr/bin/env node
/**
 * `make chaos-faults` (issue 9 item 2, API faults): the API fault campaign against a JOINED node in
 * the VM lab, with the 5-minute outage (half connection-refused, half black-holed) and
 * 2-minute 5xx / 429 (Retry-After 90 s) / garbage / slow / 401 faults, in sequence, against the
 * real installed agent service, then get-edge answering nginx's HTML 404 and an EDGE_NOT_FOUND for
 * another edge for 5 minutes each (never a teardown). Scenario code: test/e2e/api-faults-fixture.ts (shared with
 * test/e2e/api-faults.test.ts, which asserts the same properties with short faults).
 * Design and bounds: docs/decisions/0120-api-fault-injection.md.
 *
 * Progress goes to stderr; the LAST stdout line is one JSON object (also dist/chaos-faults.json,
 * with the full per-fault detail). Exit 1 when a measured property breaks its bound.
 *
 *   node scripts/chaos-faults.ts [--outage-s N] [--fault-s N] [--retry-after-s N] [--not-found-s N] [--only a,b]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  bootJoined,
  FULL_TIMINGS,
  PASS_GAP_MAX_S,
  PER_MINUTE_BOUND,
  RSS_GROWTH_BOUND_MIB,
  RECOVERY_BOUND_S,
  runCampaign,
  summary,
  TCP_ENDPOINT,
  TOTAL_PER_MINUTE_BOUND,
  type CampaignResult,
} from '../test/e2e/api-faults-fixture.ts';
import { REPO_ROOT } from '../test/e2e/lab.ts';

const { values: o } = parseArgs({
  options: {
    'outage-s': { type: 'string' },
    'fault-s': { type: 'string' },
    'retry-after-s': { type: 'string' },
    'not-found-s': { type: 'string' },
    only: { type: 'string' },
  },
});
const num = (k: string, v: string | undefined, d: number): number => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 10) {
    process.stderr.write(`chaos-faults: --${k} must be an integer ≥ 10 (seconds), got "${v}"\n`);
    process.exit(2);
  }
  return n;
};
const timings = {
  ...FULL_TIMINGS,
  outageMs: num('outage-s', o['outage-s'], FULL_TIMINGS.outageMs / 1000) * 1000,
  faultMs: num('fault-s', o['fault-s'], FULL_TIMINGS.faultMs / 1000) * 1000,
  retryAfterSec: num('retry-after-s', o['retry-after-s'], FULL_TIMINGS.retryAfterSec),
  notFoundMs: num('not-found-s', o['not-found-s'], FULL_TIMINGS.notFoundMs / 1000) * 1000,
};
const log = (s: string) => process.stderr.write(`chaos-faults: ${new Date().toISOString().slice(11, 19)} ${s}\n`);

/** Every property the e2e test asserts, as violations (empty = all held). */
function violations(c: CampaignResult): string[] {
  const out: string[] = [];
  for (const s of c.scenarios) {
    for (const [e, r] of Object.entries(s.requestsPerMin)) {
      const bound = e === TCP_ENDPOINT ? TOTAL_PER_MINUTE_BOUND : (PER_MINUTE_BOUND[e] ?? 0);
      if (r.max > bound) out.push(`${s.name}: ${e} ${r.max} requests in 60 s > ${bound}`);
    }
    if (s.totalPerMin.max > TOTAL_PER_MINUTE_BOUND) out.push(`${s.name}: ${s.totalPerMin.max} API requests in 60 s > ${TOTAL_PER_MINUTE_BOUND}`);
    const rb = RECOVERY_BOUND_S + (s.retryAfter?.seconds ?? 0);
    if (s.recoveryS === null || s.recoveryS > rb) out.push(`${s.name}: recovery ${s.recoveryS ?? 'never'} s > ${rb} s`);
    if (!s.stayedJoined) out.push(`${s.name}: node did not stay joined: ${s.joinedProblems.join('; ')}`);
    if (s.retryAfter && (s.retryAfter.minGapS === null || s.retryAfter.minGapS < s.retryAfter.seconds - 0.1))
      out.push(`${s.name}: a request ${s.retryAfter.minGapS} s after a 429 with Retry-After ${s.retryAfter.seconds}`);
    if (s.auth && s.auth.phase !== 'DEGRADED') out.push(`${s.name}: phase ${s.auth.phase} during the 401 (expected DEGRADED)`);
    if (s.name === '401' && (s.readyS === null || s.readyS > PASS_GAP_MAX_S + 45))
      out.push(`401: READY again after ${s.readyS ?? 'never'} s > ${PASS_GAP_MAX_S + 45} s`);
    for (const p of s.probes ?? []) {
      if (p.controlPlane !== 'outage' || !p.registerJson || p.removalEvidence)
        out.push(
          `${s.name}: ${p.label}: the agent saw ${p.controlPlane ?? 'nothing'} (register.json ${p.registerJson ? 'kept' : 'GONE'}, removal evidence ${p.removalEvidence ? 'RECORDED' : 'none'}); expected an outage`,
        );
    }
    if (s.outageWarnings && s.outageWarnings.length !== s.phases.length)
      out.push(`${s.name}: ${s.outageWarnings.length} outage warnings for ${s.phases.length} changes (once per change)`);
  }
  if (c.agentRestarts || c.mainPidChanged) out.push(`the agent restarted (${c.agentRestarts} restarts, MainPID changed: ${c.mainPidChanged})`);
  if (c.teardownLines.length) out.push(`teardown: ${c.teardownLines.join('; ')}`);
  if (c.edgePhase !== 'READY') out.push(`edge phase ${c.edgePhase} at the end`);
  if (c.anon.lastMinuteMaxMiB > c.anon.firstMinuteMaxMiB + RSS_GROWTH_BOUND_MIB) out.push(`RssAnon grew ${c.anon.growthMiB} MiB > ${RSS_GROWTH_BOUND_MIB} MiB`);
  return out;
}

const t0 = Date.now();
log(`timings ${JSON.stringify(timings)}; booting the VM lab`);
const f = await bootJoined('chaos-faults', log);
let code: number;
try {
  const c = await runCampaign(f, { timings, log, ...(o.only ? { only: o.only.split(',') } : {}) });
  const bad = violations(c);
  const out = {
    ...summary(c),
    rssAnonGrowthBoundMiB: RSS_GROWTH_BOUND_MIB,
    violations: bad,
    ok: bad.length === 0,
    durationS: Math.round((Date.now() - t0) / 1000),
  };
  mkdirSync(path.join(REPO_ROOT, 'dist'), { recursive: true });
  writeFileSync(path.join(REPO_ROOT, 'dist/chaos-faults.json'), `${JSON.stringify({ ...out, detail: c }, null, 2)}\n`);
  for (const v of bad) log(`VIOLATION: ${v}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  code = bad.length ? 1 : 0;
} catch (e) {
  log(`failed: ${(e as Error).stack ?? String(e)}`);
  await f.lab.collectDiagnostics('chaos-faults-failed').catch(() => '');
  code = 1;
} finally {
  await f.lab.close();
  await f.cp.stop();
}
process.exit(code);
