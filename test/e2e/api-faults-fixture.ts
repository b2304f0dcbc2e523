/**
 * API fault campaign against a JOINED node in the VM lab (issue 9 item 2; TEST CODE), shared by
 * test/e2e/api-faults.test.ts (short faults, assertions) and scripts/chaos-faults.ts (the issue's
 * 5-minute outage, JSON report). Design and bounds: docs/decisions/0120-api-fault-injection.md.
 *
 * One VM joins through the documented one-liner (join-fixture.ts), then the faults run in
 * sequence against the real installed `castai-edge-initd` service:
 *
 *   outage   the API unreachable: first connection REFUSED (TCP reset), then BLACK-HOLED (every
 *            packet dropped), by nftables in the lab namespace, only for the guest → API:443
 *            (the kube API :8443 and WireGuard stay up: it is the Cast AI API that is out);
 *   5xx      every agent endpoint answers 500, then 502, then 503 (no Retry-After);
 *   429      every agent endpoint answers 429 with Retry-After R seconds;
 *   garbage  200 with a non-JSON body, then 200 with a truncated body (socket dies mid-body);
 *   slow     every answer delayed 15 s (> the agent's 10 s request timeout);
 *   401      the edge token is rejected (get-edge and report-status answer 401): revoked key;
 *   404      get-edge answers what is NOT removal evidence (issue 14 item 1): nginx's HTML 404 page,
 *            then the API's JSON EDGE_NOT_FOUND naming ANOTHER edge, 5 minutes each: the node must
 *            stay joined and no teardown may run (docs/decisions/0130).
 *
 * "Agent endpoints" are the ones the agent calls in steady state: register, get-edge,
 * report-status, logs. The k0s test double's kube-* endpoints are never faulted (that is the
 * k0smotron side, not the API).
 *
 * Measured per fault, from the emulator's request record (or, while the API is unreachable at
 * the TCP level, from the nftables set of connection attempts): requests per minute per endpoint
 * (max over every 60 s window inside the fault, and mean), recovery (first clean 2xx after the
 * fault is cleared), the agent's RSS (VmRSS of MainPID, sampled in the guest every 10 s), and
 * whether the node stayed joined the whole time (k0sworker active, kubelet.conf, wg0, the
 * /var/lib/k0s mount, the same agent MainPID, no teardown in the log, kube heartbeats continue,
 * the edge not deleted).
 */
import path from 'node:path';
import type { FaultSpec } from '../control-plane/faults.ts';
import {
  agentLog,
  bootJoinLab,
  journalTail,
  oneLiner,
  prepareGuest,
  STATE_DIR,
  UNIT,
  waitFor,
  waitJoined,
  WG_IFACE,
  type ControlPlane,
  type ReqRec,
} from './join-fixture.ts';
import { REPO_ROOT, type Lab, type Vm } from './lab.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The endpoints the agent calls (and the only ones faulted). */
export const AGENT_ENDPOINTS = ['register', 'get-edge', 'report-status', 'logs'] as const;
/** Pseudo-endpoint for TCP connection attempts to the API port while it is unreachable. */
export const TCP_ENDPOINT = 'tcp-connect:443';

/**
 * Upper bounds on requests per 60 s window, from the agent's documented timing
 * (docs/decisions/0120-api-fault-injection.md):
 *  - reconcile passes start ≥ 48 s apart (60 s − 20 % jitter, plus the pass itself), each with
 *    ONE get-edge call of at most 2 attempts → ≤ 2 passes × 2 = 4 get-edge per minute;
 *  - heartbeats: ≥ 24 s of sleep (30 s − 20 %) after each report call, ≤ 2 attempts per call →
 *    ≤ 3 calls × 2 = 6, plus a phase-change report after each pass (≤ 2 × 2) → ≤ 10 report-status;
 *  - register and logs are not called by a registered, running node → 0.
 * A request storm (a retry loop without backoff) would exceed these by orders of magnitude.
 */
export const PER_MINUTE_BOUND: Record<string, number> = { 'get-edge': 4, 'report-status': 10, register: 0, logs: 0 };
export const TOTAL_PER_MINUTE_BOUND = 14;

/** The agent's request timeout (agent/api/client.ts) and heartbeat / reconcile periods (lifecycle.ts, daemon.ts). */
export const REQUEST_TIMEOUT_S = 10;
export const HEARTBEAT_MAX_S = 36; // 30 s + 20 %
export const PASS_GAP_MAX_S = 72; // 60 s + 20 %
/**
 * Recovery bound (first clean 2xx after the fault is cleared): a report call in flight at the
 * clear may still fail (2 attempts × 10 s timeout + ≤ 1 s backoff), then the next heartbeat
 * comes ≤ 36 s later: 21 + 36 + 3 s slack = 60 s. After a 429 the Retry-After gate adds up to R.
 */
export const RECOVERY_BOUND_S = 2 * REQUEST_TIMEOUT_S + 1 + HEARTBEAT_MAX_S + 3;

/**
 * Memory: the last minute's max RssAnon (the agent's private memory: V8 heap, buffers) may exceed the
 * first minute's max by at most this much. VmRSS and RssFile (the executable's pages; flat at
 * ~55 MiB) are reported too, with per-minute maxima. Measured in the lab: RssAnon flat (~48 MiB)
 * for the first ~8 min of faults, then +20 MiB over the next 10 min without coming down. The SEA
 * cannot force a GC, so the VM cannot tell uncollected garbage from a leak: an in-process run of
 * the same daemon + hooks against the emulator (forced GC every 10 s, 200 passes with slow and 401
 * faults) kept the live heap at 17.3 → 18.2 MiB. This bound is therefore a coarse guard (a storm or
 * a per-request leak would blow through it), not proof of a flat heap; see 0120.
 */
export const RSS_GROWTH_BOUND_MIB = 32;

export interface CampaignTimings {
  /** Total outage (half refused, half black-holed). The issue asks for 5 min. */
  outageMs: number;
  /** Minimum length of each other fault. */
  faultMs: number;
  /** Retry-After seconds of the 429 fault. */
  retryAfterSec: number;
  /** Latency of the slow fault (must exceed the 10 s request timeout). */
  slowMs: number;
  /** Each of the two 404 phases (HTML, then EDGE_NOT_FOUND for another edge). The issue asks for 5 min. */
  notFoundMs: number;
}

export const SHORT_TIMINGS: CampaignTimings = { outageMs: 90_000, faultMs: 30_000, retryAfterSec: 40, slowMs: 15_000, notFoundMs: 300_000 };
export const FULL_TIMINGS: CampaignTimings = { outageMs: 300_000, faultMs: 120_000, retryAfterSec: 90, slowMs: 15_000, notFoundMs: 300_000 };

/** The edge id the 404 scenario's EDGE_NOT_FOUND names: never the node's own. */
export const OTHER_EDGE_ID = '00000000-0000-4000-8000-0000000000ff';

type Apply = { kind: 'emu'; specs: FaultSpec[] } | { kind: 'net'; mode: 'refused' | 'blackhole' };

interface PhaseDef {
  label: string;
  ms: number;
  apply: Apply;
}

export interface ScenarioDef {
  name: 'outage' | '5xx' | '429' | 'garbage' | 'slow' | '401' | '404';
  phases: PhaseDef[];
  retryAfterSec?: number;
  /** Keep the fault on until the agent has hit it on these endpoints (a pass is ≤ 72 s away). */
  untilHit?: string[];
  /** The fault degrades the agent (401): recovery also waits for a READY status report. */
  waitReady?: boolean;
  /** At the end of each phase, read the agent's own view (status --json, state files, journal): the 404 scenario. */
  probe?: boolean;
}

/** What the agent itself said at the end of a 404 phase (probe): it saw an outage, not a removal. */
export interface AgentView {
  label: string;
  /** `status --json` → controlPlane.state and .reason. */
  controlPlane: string | null;
  reason: string | null;
  phase: string | null;
  /** State files: register.json must stay; removal-evidence.json must not appear. */
  registerJson: boolean;
  removalEvidence: boolean;
}

const onAgentEndpoints = (spec: Omit<FaultSpec, 'endpoint'>): FaultSpec[] => AGENT_ENDPOINTS.map((endpoint) => ({ ...spec, endpoint }));

export function scenarios(t: CampaignTimings): ScenarioDef[] {
  const third = Math.round(t.faultMs / 3);
  const half = Math.round(t.faultMs / 2);
  return [
    {
      name: 'outage',
      phases: [
        { label: 'refused', ms: Math.round(t.outageMs / 2), apply: { kind: 'net', mode: 'refused' } },
        { label: 'black-holed', ms: t.outageMs - Math.round(t.outageMs / 2), apply: { kind: 'net', mode: 'blackhole' } },
      ],
    },
    {
      name: '5xx',
      phases: [500, 502, 503].map((status) => ({
        label: `HTTP ${status}`,
        ms: third,
        apply: { kind: 'emu' as const, specs: onAgentEndpoints({ kind: 'status', status }) },
      })),
      untilHit: ['get-edge', 'report-status'],
    },
    {
      name: '429',
      // Longer than 2 × R, so that a heartbeat (every ~30 s) and a pass (~60 s) both come back inside the fault.
      phases: [
        {
          label: `HTTP 429, Retry-After ${t.retryAfterSec}`,
          ms: Math.max(t.faultMs, t.retryAfterSec * 2000),
          apply: { kind: 'emu', specs: onAgentEndpoints({ kind: 'status', status: 429, retryAfter: String(t.retryAfterSec) }) },
        },
      ],
      retryAfterSec: t.retryAfterSec,
      untilHit: ['get-edge', 'report-status'],
    },
    {
      name: 'garbage',
      phases: [
        { label: '200 non-JSON', ms: half, apply: { kind: 'emu', specs: onAgentEndpoints({ kind: 'garbage' }) } },
        { label: '200 truncated', ms: t.faultMs - half, apply: { kind: 'emu', specs: onAgentEndpoints({ kind: 'truncate' }) } },
      ],
      untilHit: ['get-edge', 'report-status'],
    },
    {
      name: 'slow',
      phases: [{ label: `+${t.slowMs / 1000} s latency`, ms: t.faultMs, apply: { kind: 'emu', specs: onAgentEndpoints({ kind: 'latency', ms: t.slowMs }) } }],
      untilHit: ['get-edge', 'report-status'],
    },
    {
      name: '401',
      phases: [
        {
          label: 'edge token rejected (401)',
          ms: t.faultMs,
          apply: { kind: 'emu', specs: onAgentEndpoints({ kind: 'status', status: 401, message: 'edge token revoked (fault injected)' }) },
        },
      ],
      untilHit: ['get-edge', 'report-status'],
      waitReady: true,
    },
    {
      name: '404',
      phases: [
        { label: 'get-edge: nginx HTML 404', ms: t.notFoundMs, apply: { kind: 'emu', specs: [{ kind: 'html-404', endpoint: 'get-edge' }] } },
        {
          label: 'get-edge: JSON EDGE_NOT_FOUND for another edge',
          ms: t.notFoundMs,
          apply: { kind: 'emu', specs: [{ kind: 'edge-not-found', endpoint: 'get-edge', edgeId: OTHER_EDGE_ID }] },
        },
      ],
      untilHit: ['get-edge'],
      probe: true,
    },
  ];
}

// ------------------------------------------------------------------------------ results

export interface EndpointRate {
  /** Max requests in any 60 s window inside the fault (the whole fault when it is shorter). */
  max: number;
  /** Requests per minute over the fault. */
  mean: number;
  total: number;
}

export interface Sample {
  /** Host epoch ms. */
  t: number;
  pid: number;
  rssKiB: number;
  /** RssAnon: heap and other private memory (what a leak grows). */
  anonKiB: number;
  /** RssFile: pages of the 100 MiB executable faulted in as code paths run (not a leak). */
  fileKiB: number;
  agent: string;
  k0sworker: string;
  kubeletConf: boolean;
  wg0: boolean;
  mounted: boolean;
}

export interface ScenarioResult {
  name: string;
  phases: Array<{ label: string; durationS: number; source: 'emulator' | 'nftables' }>;
  durationS: number;
  start: number;
  cleared: number;
  requestsPerMin: Record<string, EndpointRate>;
  /** Requests to agent endpoints (or TCP attempts) per 60 s window, all endpoints together. */
  totalPerMin: EndpointRate;
  /** Faulted requests per endpoint (proves the fault was exercised). */
  faulted: Record<string, number>;
  recoveryS: number | null;
  readyS: number | null;
  rss: { minMiB: number; maxMiB: number; samples: number };
  anon: { minMiB: number; maxMiB: number };
  stayedJoined: boolean;
  joinedProblems: string[];
  kubeHeartbeats: number;
  /** 429 only: the shortest gap after a 429 before the next request to the same endpoint. */
  retryAfter?: { seconds: number; minGapS: number | null; pairs: number };
  /** 401 only: the agent's phase (status --json) and its error line during the fault. */
  auth?: { phase: string | null; registerError: string | null; getEdgeMinGapS: number | null };
  /** 404 only: the agent's view at the end of each phase, and its outage warnings (one per change, not per pass). */
  probes?: AgentView[];
  outageWarnings?: string[];
}

export interface MemStats {
  firstMinuteMaxMiB: number;
  lastMinuteMaxMiB: number;
  growthMiB: number;
  minMiB: number;
  maxMiB: number;
  samples: number;
  /** Max of each minute since the campaign started: the trajectory (plateau or leak). */
  perMinuteMaxMiB: number[];
}

export interface CampaignResult {
  timings: CampaignTimings;
  joinS: number;
  scenarios: ScenarioResult[];
  /** VmRSS, RssAnon (the bound applies to it) and RssFile of the agent over the campaign. */
  rss: MemStats;
  anon: MemStats;
  file: MemStats;
  agentRestarts: number;
  mainPidChanged: boolean;
  teardownLines: string[];
  edgePhase: string | null;
}

// ------------------------------------------------------------------------------ lab

export interface FaultLab {
  lab: Lab;
  cp: ControlPlane;
  vm: Vm;
  /** Host epoch ms − guest epoch ms. */
  clockOffsetMs: number;
  joinS: number;
}

/** Boot the lab, run the documented one-liner, wait until joined and the first heartbeat. */
export async function bootJoined(name: string, log: (s: string) => void = () => {}): Promise<FaultLab> {
  const { lab, cp, vm } = await bootJoinLab(name);
  try {
    log('lab booted; installing with the one-liner');
    await prepareGuest(vm, cp);
    const t0 = Date.now();
    const inst = await vm.exec(oneLiner(cp), { timeoutMs: 900_000 });
    if (inst.exitCode !== 0) throw new Error(`installer failed (${inst.exitCode}):\n${inst.stdout}\n${inst.stderr}`);
    await waitJoined(vm, cp, 600_000);
    const joinS = (Date.now() - t0) / 1000;
    log(`joined in ${joinS.toFixed(0)} s`);
    // Steady state: a clean report-status from the agent (the first pass's report).
    await waitFor(
      'a first successful report-status',
      async () => (agentRequests(cp).some((r) => r.endpoint === 'report-status' && r.status === 200) ? true : undefined),
      120_000,
      () => journalTail(vm),
      2000,
    );
    const h0 = Date.now();
    const g = Number((await vm.sh('date +%s.%N')).trim()) * 1000;
    const h1 = Date.now();
    return { lab, cp, vm, clockOffsetMs: Math.round((h0 + h1) / 2 - g), joinS };
  } catch (e) {
    await lab.collectDiagnostics('api-faults-boot').catch(() => '');
    await lab.close();
    await cp.stop();
    throw e;
  }
}

/** Hit by a fault: a fault rule answered it, or (latency rules leave no label) it took longer than the agent waits. */
export const isFaulted = (r: ReqRec & { fault?: string }): boolean => Boolean(r.fault) || r.durationMs >= REQUEST_TIMEOUT_S * 1000;

/** Requests from the agent to the agent endpoints, from the emulator's record; with `ip`, only that guest's. */
export function agentRequests(cp: ControlPlane, ip?: string): Array<ReqRec & { t: number; fault?: string }> {
  return (cp.snapshot().requests as Array<ReqRec & { fault?: string; remote?: string }>)
    .filter((r) => (AGENT_ENDPOINTS as readonly string[]).includes(r.endpoint))
    .filter((r) => !ip || (r.remote ?? '').replace(/^::ffff:/, '').startsWith(`${ip}:`))
    .map((r) => ({ ...r, t: Date.parse(r.time) }));
}

async function emuFaults(f: FaultLab, batch: { clear?: boolean; add?: FaultSpec[] }): Promise<void> {
  const r = await f.lab.hostExec(process.execPath, [path.join(REPO_ROOT, 'test/e2e/api-faults-admin.ts'), '--state-dir', f.cp.stateDir], {
    input: JSON.stringify(batch),
    timeoutMs: 30_000,
  });
  if (r.exitCode !== 0) throw new Error(`api-faults-admin failed: ${r.stderr}${r.stdout}`);
}

const NFT_TABLE = 'apifaults';
const NFT_TIMEOUT_S = 7200;

/** Refuse (TCP reset) or black-hole (drop) guest → API:443 in the lab namespace; every attempt's source port goes into a set. */
async function netFault(f: FaultLab, mode: 'refused' | 'blackhole'): Promise<void> {
  const guest = f.vm.ip!;
  const port = new URL(f.cp.env.API_URL!).port || '443';
  const verdict = mode === 'refused' ? 'reject with tcp reset' : 'drop';
  const script = [
    `table inet ${NFT_TABLE} {`,
    `  set flows { type inet_service; flags dynamic,timeout; timeout ${NFT_TIMEOUT_S}s; }`,
    '  chain input {',
    '    type filter hook input priority -10;',
    `    ip saddr ${guest} tcp dport ${port} tcp flags & (syn|ack) == syn add @flows { tcp sport }`,
    `    ip saddr ${guest} tcp dport ${port} ${verdict}`,
    '  }',
    '}',
  ].join('\n');
  const r = await f.lab.hostExec('nft', ['-f', '-'], { input: `${script}\n` });
  if (r.exitCode !== 0) throw new Error(`nft failed: ${r.stderr}`);
}

/** Remove the nftables table; returns the host epoch ms of every connection attempt it saw. */
async function netClear(f: FaultLab): Promise<number[]> {
  const r = await f.lab.hostExec('nft', ['-j', 'list', 'set', 'inet', NFT_TABLE, 'flows']);
  const now = Date.now();
  if (r.exitCode !== 0) return [];
  await f.lab.hostExec('nft', ['delete', 'table', 'inet', NFT_TABLE]);
  const j = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: Array<{ elem?: { expires?: number } }> } }> };
  const elems = j.nftables.find((x) => x.set)?.set?.elem ?? [];
  return elems.map((e) => now - (NFT_TIMEOUT_S - (e.elem?.expires ?? NFT_TIMEOUT_S)) * 1000);
}

// ------------------------------------------------------------------------------ guest sampler

const SAMPLES = '/root/api-faults-samples.log';

/** Start the in-guest sampler: every 10 s, MainPID, VmRSS and the joined-ness of the node. */
export async function startSampler(vm: Vm): Promise<void> {
  const loop = [
    'while [ ! -e /run/api-faults.stop ]; do',
    `  pid=$(systemctl show -p MainPID --value ${UNIT})`,
    '  m=$(awk \'/^VmRSS:/{r=$2} /^RssAnon:/{a=$2} /^RssFile:/{f=$2} END{printf "%d %d %d", r, a, f}\' /proc/$pid/status 2>/dev/null)',
    `  a=$(systemctl is-active ${UNIT}); k=$(systemctl is-active k0sworker)`,
    '  [ -f /var/lib/k0s/kubelet.conf ] && kc=1 || kc=0',
    `  ip link show ${WG_IFACE} >/dev/null 2>&1 && wg=1 || wg=0`,
    '  findmnt -n --mountpoint /var/lib/k0s >/dev/null 2>&1 && mt=1 || mt=0',
    '  echo "$(date +%s.%N) $pid ${m:-0 0 0} $a $k $kc $wg $mt"',
    '  sleep 10',
    `done >> ${SAMPLES}`,
  ].join('\n');
    const g = vm.putFile(Buffer.from(`${loop}\n`), 'api-faults-sampler.sh', 0o755);
  await vm.sh(`rm -f ${SAMPLES} /run/api-faults.stop; nohup setsid bash ${g} >/dev/null 2>&1 < /dev/null & echo started`);
}

export async function stopSampler(vm: Vm): Promise<void> {
  await vm.sh('touch /run/api-faults.stop').catch(() => '');
}

export async function readSamples(f: FaultLab): Promise<Sample[]> {
  const out = await f.vm.sh(`cat ${SAMPLES} 2>/dev/null || true`, { timeoutMs: 60_000 });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length === 10)
    .map(([t, pid, rss, anon, file, a, k, kc, wg, mt]) => ({
      t: Math.round(Number(t) * 1000 + f.clockOffsetMs),
      pid: Number(pid),
      rssKiB: Number(rss),
      anonKiB: Number(anon),
      fileKiB: Number(file),
      agent: a!,
      k0sworker: k!,
      kubeletConf: kc === '1',
      wg0: wg === '1',
      mounted: mt === '1',
    }));
}

// ------------------------------------------------------------------------------ measurement

/** Max count in any window of `windowMs` (starting at an event) inside [start, end], and the mean per minute. */
export function rate(times: number[], start: number, end: number, windowMs = 60_000): EndpointRate {
  const ts = times.filter((t) => t >= start && t <= end).sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < ts.length; i++) {
    while (j < ts.length && ts[j]! < ts[i]! + windowMs) j++;
    max = Math.max(max, j - i);
  }
  const minutes = Math.max(end - start, 1) / 60_000;
  return { max, mean: Math.round((ts.length / minutes) * 100) / 100, total: ts.length };
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

type MemKey = 'rssKiB' | 'anonKiB' | 'fileKiB';

/** First/last-minute max, min, max and the per-minute maxima of one memory figure. */
export function memStats(samples: Sample[], key: MemKey, start: number): MemStats {
  const xs = samples.filter((s) => s[key] > 0);
  const end = xs.at(-1)?.t ?? start;
  const max = (a: Sample[]) => (a.length ? mib(Math.max(...a.map((s) => s[key]))) : 0);
  const first = max(xs.filter((s) => s.t < start + 60_000));
  const last = max(xs.filter((s) => s.t > end - 60_000));
  const per: number[] = [];
  for (const s of xs) {
    const i = Math.floor((s.t - start) / 60_000);
    per[i] = Math.max(per[i] ?? 0, mib(s[key]));
  }
  return {
    firstMinuteMaxMiB: first,
    lastMinuteMaxMiB: last,
    growthMiB: Math.round((last - first) * 10) / 10,
    minMiB: xs.length ? mib(Math.min(...xs.map((s) => s[key]))) : 0,
    maxMiB: max(xs),
    samples: xs.length,
    perMinuteMaxMiB: Array.from(per, (x) => x ?? 0),
  };
}

// ------------------------------------------------------------------------------ the campaign

export interface RunOptions {
  timings: CampaignTimings;
  log?: (s: string) => void;
  /** Only these scenarios (default: all, in order). */
  only?: string[];
  /**
   * Work that runs while a scenario's fault is on (started with it, awaited before its recovery is
   * measured): the e2e test boots its machine-id clone during the 404 windows, which only wait.
   */
  during?: Partial<Record<ScenarioDef['name'], (f: FaultLab) => Promise<unknown>>>;
}

export async function runCampaign(f: FaultLab, o: RunOptions): Promise<CampaignResult> {
  const log = o.log ?? (() => {});
  const defs = scenarios(o.timings).filter((s) => !o.only || o.only.includes(s.name));
  const startPid = Number((await f.vm.sh(`systemctl show -p MainPID --value ${UNIT}`)).trim());
  const restarts0 = Number((await f.vm.sh(`systemctl show -p NRestarts --value ${UNIT}`)).trim());
  await startSampler(f.vm);
  const campaignStart = Date.now();
  const results: ScenarioResult[] = [];
  try {
    for (const def of defs) results.push(await runScenario(f, def, log, o.during?.[def.name]));
  } finally {
    await emuFaults(f, { clear: true }).catch(() => undefined);
    await netClear(f).catch(() => []);
  }
  await sleep(11_000); // one more sample after the last recovery
  await stopSampler(f.vm);
  const samples = (await readSamples(f)).filter((s) => s.t >= campaignStart);
  const lines = await agentLog(f.vm);
  const teardownLines = lines.filter((l) => l.time >= campaignStart - f.clockOffsetMs && /tearing this node down|^teardown/.test(l.msg)).map((l) => l.msg);
  const restarts = Number((await f.vm.sh(`systemctl show -p NRestarts --value ${UNIT}`)).trim()) - restarts0;
  const endPid = Number((await f.vm.sh(`systemctl show -p MainPID --value ${UNIT}`)).trim());
  return {
    timings: o.timings,
    joinS: f.joinS,
    scenarios: results,
    rss: memStats(samples, 'rssKiB', campaignStart),
    anon: memStats(samples, 'anonKiB', campaignStart),
    file: memStats(samples, 'fileKiB', campaignStart),
    agentRestarts: restarts,
    mainPidChanged: endPid !== startPid || samples.some((s) => s.pid !== startPid),
    teardownLines,
    edgePhase: f.cp.edgeOf(f.vm.machineId)?.phase ?? null,
  };
}

async function applyPhase(f: FaultLab, p: PhaseDef, previous: PhaseDef | undefined, netTimes: number[]): Promise<void> {
  if (previous?.apply.kind === 'net') netTimes.push(...(await netClear(f)));
  if (p.apply.kind === 'net') {
    if (previous?.apply.kind === 'emu') await emuFaults(f, { clear: true });
    await netFault(f, p.apply.mode);
  } else {
    await emuFaults(f, { clear: true, add: p.apply.specs });
  }
}

async function runScenario(f: FaultLab, def: ScenarioDef, log: (s: string) => void, during?: (f: FaultLab) => Promise<unknown>): Promise<ScenarioResult> {
  log(`fault ${def.name}: ${def.phases.map((p) => `${p.label} ${Math.round(p.ms / 1000)} s`).join(', ')}`);
  const netTimes: number[] = [];
  const phaseOut: ScenarioResult['phases'] = [];
  const start = Date.now();
  let prev: PhaseDef | undefined;
  let auth: ScenarioResult['auth'];
  const probes: AgentView[] = [];
  let side: Promise<unknown> | undefined;
  for (const [i, p] of def.phases.entries()) {
    const ps = Date.now();
    await applyPhase(f, p, prev, netTimes);
    if (i === 0 && during) side = during(f).then((v) => ({ ok: true, v }), (e: unknown) => ({ ok: false, e }));
    const isLast = i === def.phases.length - 1;
    let until = ps + p.ms;
    await sleep(Math.max(0, until - Date.now()));
    if (isLast && def.untilHit) {
      // Keep the fault on until every listed endpoint was hit by it (a reconcile pass is ≤ 72 s away).
      const capped = Date.now() + (PASS_GAP_MAX_S + 45) * 1000;
      for (;;) {
        const hit = agentRequests(f.cp, f.vm.ip).filter((r) => r.t >= start && isFaulted(r));
        if (def.untilHit.every((e) => hit.some((r) => r.endpoint === e)) || Date.now() > capped) break;
        await sleep(2000);
      }
    }
    if (def.name === '401' && isLast) auth = await authState(f, start);
    if (def.probe) {
      // Keep the phase on until the agent has met it at least once (a pass is ≤ 72 s away), then look.
      const capped = Date.now() + (PASS_GAP_MAX_S + 45) * 1000;
      while (!agentRequests(f.cp, f.vm.ip).some((r) => r.t >= ps && r.endpoint === 'get-edge' && r.fault) && Date.now() < capped) await sleep(2000);
      probes.push(await agentView(f, p.label));
    }
    until = Date.now();
    phaseOut.push({ label: p.label, durationS: Math.round((until - ps) / 100) / 10, source: p.apply.kind === 'net' ? 'nftables' : 'emulator' });
    prev = p;
  }
  // Clear.
  const cleared = Date.now();
  if (prev?.apply.kind === 'net') netTimes.push(...(await netClear(f)));
  else await emuFaults(f, { clear: true });
  log(`fault ${def.name}: cleared after ${((cleared - start) / 1000).toFixed(0)} s; waiting for recovery`);
  if (side) {
    const r = (await side) as { ok: boolean; e?: unknown };
    if (!r.ok) throw r.e;
  }

  // Recovery: the first clean (not faulted) 2xx from the agent after the clear.
  const extra = (def.retryAfterSec ?? 0) * 1000;
  const okAfter = () =>
    agentRequests(f.cp, f.vm.ip).find(
      (r) => r.t >= cleared && !isFaulted(r) && r.status >= 200 && r.status < 300 && (r.endpoint === 'get-edge' || r.endpoint === 'report-status'),
    );
  const firstOk = await waitFor(
    `a clean 2xx after clearing ${def.name}`,
    async () => okAfter(),
    RECOVERY_BOUND_S * 1000 + extra + 30_000,
    undefined,
    1000,
  ).catch(() => undefined);
  let readyS: number | null = null;
  if (def.waitReady) {
    const edgeReady = () => {
      const e = f.cp.edgeOf(f.vm.machineId);
      return e?.statusReports.find((r) => Date.parse(r.time) >= cleared && r.body.phase === 'READY');
    };
    const r = await waitFor('a READY status report after the fault', async () => edgeReady(), (PASS_GAP_MAX_S + 90) * 1000, undefined, 1000).catch(
      () => undefined,
    );
    readyS = r ? Math.round((Date.parse(r.time) - cleared) / 100) / 10 : null;
  }
  const done = Date.now();

  // Request rates inside the fault.
  const reqs = agentRequests(f.cp, f.vm.ip);
  const inFault = reqs.filter((r) => r.t >= start && r.t <= cleared);
  const requestsPerMin: Record<string, EndpointRate> = {};
  for (const e of AGENT_ENDPOINTS) requestsPerMin[e] = rate(inFault.filter((r) => r.endpoint === e).map((r) => r.t), start, cleared);
  if (def.phases.some((p) => p.apply.kind === 'net')) requestsPerMin[TCP_ENDPOINT] = rate(netTimes, start, cleared);
  const totalPerMin = rate([...inFault.map((r) => r.t), ...netTimes], start, cleared);
  const faulted: Record<string, number> = {};
  for (const r of inFault) if (isFaulted(r)) faulted[r.endpoint] = (faulted[r.endpoint] ?? 0) + 1;
  if (netTimes.length) faulted[TCP_ENDPOINT] = netTimes.length;

  // Retry-After: after each 429, the next request to the same endpoint comes ≥ R later.
  let retryAfter: ScenarioResult['retryAfter'];
  if (def.retryAfterSec !== undefined) {
    let minGap: number | null = null;
    let pairs = 0;
    for (const e of AGENT_ENDPOINTS) {
      const seq = reqs.filter((r) => r.endpoint === e && r.t >= start && r.t <= done);
      for (let i = 0; i + 1 < seq.length; i++) {
        if (seq[i]!.status !== 429) continue;
        const gap = (seq[i + 1]!.t - seq[i]!.t) / 1000;
        pairs++;
        minGap = minGap === null ? gap : Math.min(minGap, gap);
      }
    }
    retryAfter = { seconds: def.retryAfterSec, minGapS: minGap === null ? null : Math.round(minGap * 10) / 10, pairs };
  }
  if (auth) {
    const ge = inFault.filter((r) => r.endpoint === 'get-edge').map((r) => r.t);
    let g: number | null = null;
    for (let i = 1; i < ge.length; i++) g = g === null ? ge[i]! - ge[i - 1]! : Math.min(g, ge[i]! - ge[i - 1]!);
    auth.getEdgeMinGapS = g === null ? null : Math.round(g / 100) / 10;
  }

  // Joined during the fault and until recovery.
  const samples = (await readSamples(f)).filter((s) => s.t >= start && s.t <= done);
  const problems: string[] = [];
  const pid0 = samples[0]?.pid;
  for (const s of samples) {
    const at = `+${((s.t - start) / 1000).toFixed(0)} s`;
    if (s.k0sworker !== 'active') problems.push(`${at}: k0sworker ${s.k0sworker}`);
    if (s.agent !== 'active') problems.push(`${at}: agent ${s.agent}`);
    if (!s.kubeletConf) problems.push(`${at}: /var/lib/k0s/kubelet.conf missing`);
    if (!s.wg0) problems.push(`${at}: ${WG_IFACE} missing`);
    if (!s.mounted) problems.push(`${at}: /var/lib/k0s not mounted`);
    if (s.pid !== pid0) problems.push(`${at}: agent MainPID ${pid0} → ${s.pid}`);
  }
  if (samples.length < 2) problems.push(`only ${samples.length} guest samples`);
  const snap = f.cp.snapshot();
  const kubeHeartbeats = snap.requests.filter(
    (r) => r.endpoint === 'kube-heartbeat' && Date.parse(r.time) >= start && Date.parse(r.time) <= done && r.status === 200,
  ).length;
  // The k0s test double heartbeats every 10 s: a joined node keeps doing so through an API fault.
  if (kubeHeartbeats < Math.floor((done - start) / 20_000)) problems.push(`only ${kubeHeartbeats} kube heartbeats in ${((done - start) / 1000).toFixed(0)} s`);
  const edge = f.cp.edgeOf(f.vm.machineId);
  if (!edge || edge.phase === 'DELETING' || edge.phase === 'DELETED') problems.push(`edge phase ${edge?.phase ?? 'gone'}`);
  const teardown = (await agentLog(f.vm)).filter((l) => l.time >= start - f.clockOffsetMs && /tearing this node down|^teardown/.test(l.msg));
  for (const l of teardown) problems.push(`agent log: ${l.msg}`);

  const rss = samples.map((s) => s.rssKiB).filter((x) => x > 0);
  const anon = samples.map((s) => s.anonKiB).filter((x) => x > 0);
  const outageWarnings = def.probe ? (await agentLog(f.vm)).filter((l) => l.time >= start - f.clockOffsetMs && l.level === 40 && /control plane outage/.test(l.msg)).map((l) => l.msg) : undefined;
  const res: ScenarioResult = {
    name: def.name,
    phases: phaseOut,
    durationS: Math.round((cleared - start) / 100) / 10,
    start,
    cleared,
    requestsPerMin,
    totalPerMin,
    faulted,
    recoveryS: firstOk ? Math.round((firstOk.t - cleared) / 100) / 10 : null,
    readyS,
    rss: { minMiB: rss.length ? mib(Math.min(...rss)) : 0, maxMiB: rss.length ? mib(Math.max(...rss)) : 0, samples: rss.length },
    anon: { minMiB: anon.length ? mib(Math.min(...anon)) : 0, maxMiB: anon.length ? mib(Math.max(...anon)) : 0 },
    stayedJoined: problems.length === 0,
    joinedProblems: problems,
    kubeHeartbeats,
    ...(retryAfter ? { retryAfter } : {}),
    ...(auth ? { auth } : {}),
    ...(def.probe ? { probes, outageWarnings: outageWarnings ?? [] } : {}),
  };
  log(
    `fault ${def.name}: ${JSON.stringify({ total: res.totalPerMin, recoveryS: res.recoveryS, readyS: res.readyS, rss: res.rss, anon: res.anon, stayedJoined: res.stayedJoined, faulted: res.faulted, retryAfter: res.retryAfter, auth: res.auth, probes: res.probes, outageWarnings: res.outageWarnings?.length })}`,
  );
  return res;
}

/** The agent's own view, as an operator would look (`status --json`, the state directory). */
async function agentView(f: FaultLab, label: string): Promise<AgentView> {
  const st = await f.vm.exec('castai-edge-initd status --json');
  let doc: { phase?: string; controlPlane?: { state?: string; reason?: string } | null } = {};
  try {
    doc = JSON.parse(st.stdout) as typeof doc;
  } catch {
    /* keep nulls */
  }
  const files = await f.vm.sh(`cd ${STATE_DIR} && for x in register.json removal-evidence.json; do [ -e "$x" ] && echo "$x"; done; true`);
  return {
    label,
    controlPlane: doc.controlPlane?.state ?? null,
    reason: doc.controlPlane?.reason ?? null,
    phase: doc.phase ?? null,
    registerJson: files.includes('register.json'),
    removalEvidence: files.includes('removal-evidence.json'),
  };
}

/** During the 401 fault: the agent's phase (`status --json`) and the register step's error line. */
async function authState(f: FaultLab, since: number): Promise<NonNullable<ScenarioResult['auth']>> {
  // Wait (bounded) until a pass has failed at register after the 401 was on.
  let err: string | null = null;
  await waitFor(
    'the register step to fail on the rejected edge token',
    async () => {
      const l = (await agentLog(f.vm)).find((x) => x.time >= since - f.clockOffsetMs && x.level >= 50 && /register: FAILED/.test(x.msg));
      err = l?.msg ?? null;
      return l ? true : undefined;
    },
    (PASS_GAP_MAX_S + 60) * 1000,
    undefined,
    3000,
  ).catch(() => undefined);
  const st = await f.vm.exec('castai-edge-initd status --json');
  let phase: string | null;
  try {
    phase = (JSON.parse(st.stdout) as { phase?: string }).phase ?? null;
  } catch {
    phase = null;
  }
  return { phase, registerError: err, getEdgeMinGapS: null };
}

/** The ONE JSON object `make chaos-faults` prints: per fault, the numbers that matter. */
export function summary(c: CampaignResult): Record<string, unknown> {
  return {
    joinS: Math.round(c.joinS),
    timings: c.timings,
    bounds: { perMinute: PER_MINUTE_BOUND, totalPerMinute: TOTAL_PER_MINUTE_BOUND, recoveryS: RECOVERY_BOUND_S },
    faults: Object.fromEntries(
      c.scenarios.map((s) => [
        s.name,
        {
          durationS: s.durationS,
          phases: s.phases,
          requestsPerMin: Object.fromEntries(Object.entries(s.requestsPerMin).map(([e, r]) => [e, { max: r.max, mean: r.mean }])),
          totalPerMin: { max: s.totalPerMin.max, mean: s.totalPerMin.mean },
          faulted: s.faulted,
          recoveryS: s.recoveryS,
          ...(s.readyS !== null ? { readyS: s.readyS } : {}),
          rssMiB: { min: s.rss.minMiB, max: s.rss.maxMiB },
          rssAnonMiB: { min: s.anon.minMiB, max: s.anon.maxMiB },
          stayedJoined: s.stayedJoined,
          ...(s.joinedProblems.length ? { joinedProblems: s.joinedProblems } : {}),
          ...(s.retryAfter ? { retryAfter: s.retryAfter } : {}),
          ...(s.auth ? { auth: s.auth } : {}),
          ...(s.probes ? { probes: s.probes, outageWarnings: s.outageWarnings?.length ?? 0 } : {}),
        },
      ]),
    ),
    rss: c.rss,
    rssAnon: c.anon,
    rssFile: { firstMinuteMaxMiB: c.file.firstMinuteMaxMiB, lastMinuteMaxMiB: c.file.lastMinuteMaxMiB, growthMiB: c.file.growthMiB },
    agentRestarts: c.agentRestarts,
    mainPidChanged: c.mainPidChanged,
    teardown: c.teardownLines.length > 0,
    edgePhase: c.edgePhase,
  };
}
