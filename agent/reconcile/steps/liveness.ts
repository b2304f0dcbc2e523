/**
 * Removal only on proof, and the outage notice (docs/control-plane-api.md §4; docs/decisions/0130).
 *
 * The register step polls get-edge every pass. What the answer means:
 *   - a 200 for this edge whose phase is DELETING or DELETED: removed (tear down now);
 *   - the API's own JSON EDGE_NOT_FOUND naming this edge: removed only when seen on TWO distinct
 *     polls at least 60 s apart. The first sighting is persisted (removal-evidence.json), so an
 *     agent restart in between neither loses it nor fakes a second one;
 *   - anything else (an HTML, empty or foreign 404, 5xx, garbage, TLS, DNS, timeouts): an outage.
 *     The node keeps running on its last known desired state; the agent warns once per change and
 *     `status` says so (control-plane.json, written only when the state changes).
 *
 * `decideRemoval` and `nextHealth` are pure; `observePoll` keeps the two state files.
 */
import { randomUUID } from 'node:crypto';
import type { EdgePhase } from '../../api/types.ts';
import type { StateStore } from '../../state/store.ts';
import { CONTROL_PLANE_FILE, REMOVAL_EVIDENCE_FILE } from '../../state/files.ts';

/** Two EDGE_NOT_FOUND sightings must be at least this far apart (docs/control-plane-api.md §4). */
export const NOT_FOUND_MIN_GAP_MS = 60_000;

/** This process, so that a restart (which resets the monotonic clock) is told apart. */
const PROCESS_ID = randomUUID();

/** The first EDGE_NOT_FOUND for this edge, as persisted. */
export interface NotFoundSighting {
  edgeId: string;
  /** Wall clock of the first sighting (RFC 3339). */
  firstAt: string;
  /** The poll that saw it (random per poll): a second sighting must come from another poll. */
  pollId: string;
  /** The process that saw it, and its monotonic clock then (ms), for a same-process check. */
  processId: string;
  monoMs: number;
}

export type PollOutcome =
  | { kind: 'state'; phase: EdgePhase }
  | { kind: 'edge-not-found' }
  /** `key` groups equivalent outages ("not-proof 404", "server 503"): a change of key is warned once. */
  | { kind: 'outage'; reason: string; key: string };

export interface PollNow {
  wallMs: number;
  monoMs: number;
  pollId: string;
  processId: string;
}

export function pollNow(): PollNow {
  return { wallMs: Date.now(), monoMs: performance.now(), pollId: randomUUID(), processId: PROCESS_ID };
}

export interface RemovalDecision {
  /** Set when removal is proven: why (for the log, the journal and the teardown). */
  removed?: string;
  /** What removal-evidence.json should hold after this poll (undefined: no file). */
  sighting?: NotFoundSighting;
  /** For the step summary: the state of the evidence. */
  note?: string;
}

const secs = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * Pure: the previous evidence and this poll's outcome → removal or not, and the evidence to keep.
 * Wall time measures the gap (it survives restarts); within one process the monotonic clock must
 * agree too, so a forward jump of the wall clock cannot shorten it. A wall clock that went
 * backwards restarts the count from this poll. Two sightings are always two distinct polls.
 */
export function decideRemoval(edgeId: string, prev: NotFoundSighting | undefined, outcome: PollOutcome, now: PollNow): RemovalDecision {
  if (outcome.kind === 'state') {
    if (outcome.phase === 'DELETING' || outcome.phase === 'DELETED') return { removed: `the edge is ${outcome.phase}` };
    return {}; // the edge exists: any earlier EDGE_NOT_FOUND is void
  }
  const current = prev?.edgeId === edgeId ? prev : undefined;
  if (outcome.kind === 'outage')
    return current ? { sighting: current, note: `EDGE_NOT_FOUND first seen at ${current.firstAt}; waiting for the control plane to answer again` } : {};
  const fresh: NotFoundSighting = { edgeId, firstAt: new Date(now.wallMs).toISOString(), pollId: now.pollId, processId: now.processId, monoMs: now.monoMs };
  const first = `the control plane says this edge does not exist (EDGE_NOT_FOUND); torn down only if it says so again on a poll at least ${secs(NOT_FOUND_MIN_GAP_MS)} later`;
  if (!current) return { sighting: fresh, note: first };
  if (current.pollId === now.pollId) return { sighting: current, note: first };
  const wall = now.wallMs - Date.parse(current.firstAt);
  if (!Number.isFinite(wall) || wall < 0)
    return { sighting: fresh, note: `${first} (the clock went back since the first sighting at ${current.firstAt}: counting again)` };
  const sameProcess = current.processId === now.processId;
  const gap = sameProcess ? Math.min(wall, now.monoMs - current.monoMs) : wall;
  if (gap >= NOT_FOUND_MIN_GAP_MS) {
    return { removed: `the control plane answered EDGE_NOT_FOUND for this edge on two polls ${secs(gap)} apart (first at ${current.firstAt})` };
  }
  return {
    sighting: current,
    note: `EDGE_NOT_FOUND again ${secs(gap)} after the first sighting (${current.firstAt}); removal needs ${secs(NOT_FOUND_MIN_GAP_MS)}`,
  };
}

/** What `status` shows about the control plane (control-plane.json). */
export interface ControlPlaneHealth {
  state: 'ok' | 'outage' | 'edge-not-found';
  /** Since when (RFC 3339). */
  since: string;
  /** The outage, as the agent saw it (no secrets: the client's messages never hold any). */
  reason?: string;
  key?: string;
}

export interface HealthChange {
  health: ControlPlaneHealth;
  changed: boolean;
  log?: { level: 'warn' | 'info'; msg: string };
}

/** Pure: the previous health and this poll → the new health, and the one log line when it changed. */
export function nextHealth(prev: ControlPlaneHealth | undefined, outcome: PollOutcome, nowIso: string): HealthChange {
  if (outcome.kind === 'state') {
    if (prev?.state === 'ok') return { health: prev, changed: false };
    const health: ControlPlaneHealth = { state: 'ok', since: nowIso };
    if (!prev) return { health, changed: true };
    const was = prev.state === 'outage' ? `outage since ${prev.since}: ${prev.reason ?? 'unknown'}` : `EDGE_NOT_FOUND since ${prev.since}`;
    return { health, changed: true, log: { level: 'info', msg: `the control plane answers for this edge again (${was})` } };
  }
  if (outcome.kind === 'edge-not-found') {
    if (prev?.state === 'edge-not-found') return { health: prev, changed: false };
    return {
      health: { state: 'edge-not-found', since: nowIso },
      changed: true,
      log: {
        level: 'warn',
        msg: `the control plane says this edge does not exist (EDGE_NOT_FOUND); the node is torn down only if it says so again on a poll at least ${secs(NOT_FOUND_MIN_GAP_MS)} later`,
      },
    };
  }
  if (prev?.state === 'outage' && prev.key === outcome.key) return { health: prev, changed: false };
  const since = prev?.state === 'outage' ? prev.since : nowIso;
  return {
    health: { state: 'outage', since, reason: outcome.reason, key: outcome.key },
    changed: true,
    log: {
      level: 'warn',
      msg: `control plane outage (${outcome.reason}): the node keeps running on its last known desired state; only the control plane's own evidence (phase DELETING/DELETED, or EDGE_NOT_FOUND for this edge twice ${secs(NOT_FOUND_MIN_GAP_MS)} apart) removes it`,
    },
  };
}

/** Per daemon (keyed by the step context's shared object): what the two files hold (null: absent). */
const cache = new WeakMap<object, { health: ControlPlaneHealth | null; sighting: NotFoundSighting | null }>();

export interface Observed {
  removed?: string;
  note?: string;
  health: ControlPlaneHealth;
}

/**
 * Apply one poll's outcome: update removal-evidence.json, then control-plane.json (each read once
 * per process and written only when it changes, so a steady-state pass costs no I/O), and log once
 * per change. The evidence is written first, so a crash in between never leaves "ok" beside a stale
 * sighting.
 */
export async function observePoll(
  o: { store: StateStore; shared: object; log: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void } },
  edgeId: string,
  outcome: PollOutcome,
  now: PollNow = pollNow(),
): Promise<Observed> {
  let c = cache.get(o.shared);
  if (!c) {
    c = {
      health: (await o.store.read<ControlPlaneHealth>(CONTROL_PLANE_FILE).catch(() => undefined)) ?? null,
      sighting: (await o.store.read<NotFoundSighting>(REMOVAL_EVIDENCE_FILE).catch(() => undefined)) ?? null,
    };
    cache.set(o.shared, c);
  }
  const d = decideRemoval(edgeId, c.sighting ?? undefined, outcome, now);
  const sighting = d.sighting ?? null;
  if (JSON.stringify(sighting) !== JSON.stringify(c.sighting)) {
    if (sighting) await o.store.write(REMOVAL_EVIDENCE_FILE, sighting);
    else await o.store.remove(REMOVAL_EVIDENCE_FILE);
    c.sighting = sighting;
  }
  const h = nextHealth(c.health ?? undefined, outcome, new Date(now.wallMs).toISOString());
  if (h.changed) {
    await o.store.write(CONTROL_PLANE_FILE, h.health);
    c.health = h.health;
  }
  if (h.log) o.log[h.log.level]({ controlPlane: h.health.state, since: h.health.since }, h.log.msg);
  return { ...(d.removed ? { removed: d.removed } : {}), ...(d.note ? { note: d.note } : {}), health: h.health };
}

/** Forget the poll bookkeeping (a fresh registration, or after teardown). */
export async function forgetLiveness(store: StateStore, shared?: object): Promise<void> {
  for (const f of [REMOVAL_EVIDENCE_FILE, CONTROL_PLANE_FILE]) await store.remove(f);
  if (shared) cache.delete(shared);
}
