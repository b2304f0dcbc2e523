/**
 * Removal only on proof (issue 14 item 1; docs/control-plane-api.md §4; docs/decisions/0130): the pure
 * rule (decideRemoval, nextHealth) and its persistence across agent restarts (observePoll).
 */
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import {
  decideRemoval,
  nextHealth,
  NOT_FOUND_MIN_GAP_MS,
  observePoll,
  type PollNow,
  type PollOutcome,
} from '../../agent/reconcile/steps/liveness.ts';
import { CONTROL_PLANE_FILE, REMOVAL_EVIDENCE_FILE } from '../../agent/state/files.ts';
import { bindingDiff, bindingOf } from '../../agent/reconcile/steps/binding.ts';
import { StateStore } from '../../agent/state/store.ts';

const E = 'edge-1';
const T0 = Date.parse('2026-03-01T10:00:00Z');
const NF: PollOutcome = { kind: 'edge-not-found' };
const OUTAGE: PollOutcome = {
  kind: 'outage',
  reason: "HTTP 404 that is not the control plane's EDGE_NOT_FOUND for this edge: a body that is not JSON (text/html, …)",
  key: 'not-proof:404',
};
let n = 0;
/** A poll at wall T0 + ms, monotonic mono (default = same offset), in process `proc`. */
const at = (ms: number, o: { mono?: number; proc?: string } = {}): PollNow => ({
  wallMs: T0 + ms,
  monoMs: o.mono ?? ms,
  pollId: `poll-${++n}`,
  processId: o.proc ?? 'p1',
});

describe('decideRemoval: EDGE_NOT_FOUND for this edge on two distinct polls ≥ 60 s apart', () => {
  it('a 200 with DELETING or DELETED removes at once; READY/CREATING never', () => {
    expect(decideRemoval(E, undefined, { kind: 'state', phase: 'DELETING' }, at(0)).removed).toBe('the edge is DELETING');
    expect(decideRemoval(E, undefined, { kind: 'state', phase: 'DELETED' }, at(0)).removed).toBe('the edge is DELETED');
    expect(decideRemoval(E, undefined, { kind: 'state', phase: 'READY' }, at(0))).toEqual({});
  });

  it('one sighting never removes; a second one 60 s later does', () => {
    const first = decideRemoval(E, undefined, NF, at(0));
    expect(first.removed).toBeUndefined();
    expect(first.sighting).toMatchObject({ edgeId: E, firstAt: new Date(T0).toISOString() });
    const early = decideRemoval(E, first.sighting, NF, at(NOT_FOUND_MIN_GAP_MS - 1000));
    expect(early.removed).toBeUndefined();
    expect(early.sighting).toEqual(first.sighting);
    expect(early.note).toMatch(/again 59 s after/);
    const later = decideRemoval(E, early.sighting, NF, at(NOT_FOUND_MIN_GAP_MS));
    expect(later.removed).toMatch(/EDGE_NOT_FOUND for this edge on two polls 60 s apart/);
  });

  it('the same poll never counts twice', () => {
    const p = at(0);
    const first = decideRemoval(E, undefined, NF, p);
    expect(decideRemoval(E, first.sighting, NF, { ...p, wallMs: p.wallMs + 120_000, monoMs: 120_000 }).removed).toBeUndefined();
  });

  it('outages in between keep the first sighting; a 200 for the edge voids it', () => {
    const first = decideRemoval(E, undefined, NF, at(0)).sighting;
    expect(decideRemoval(E, first, OUTAGE, at(30_000)).sighting).toEqual(first);
    expect(decideRemoval(E, first, { kind: 'state', phase: 'READY' }, at(30_000)).sighting).toBeUndefined();
    expect(decideRemoval(E, undefined, NF, at(90_000)).removed).toBeUndefined(); // counting starts again
  });

  it('an outage alone never removes, however long', () => {
    expect(decideRemoval(E, undefined, OUTAGE, at(0))).toEqual({});
    expect(decideRemoval(E, undefined, OUTAGE, at(3_600_000))).toEqual({});
  });

  it('a sighting for another edge id (an old registration) does not count for this one', () => {
    const other = decideRemoval('edge-0', undefined, NF, at(0)).sighting;
    const r = decideRemoval(E, other, NF, at(120_000));
    expect(r.removed).toBeUndefined();
    expect(r.sighting?.edgeId).toBe(E);
  });

  it('clock jumps: forward within one process is caught by the monotonic clock; backwards restarts the count', () => {
    const first = decideRemoval(E, undefined, NF, at(0, { mono: 0 })).sighting;
    // The wall clock jumped 2 h ahead, but only 5 s really passed in this process: no removal.
    expect(decideRemoval(E, first, NF, at(7_200_000, { mono: 5000 })).removed).toBeUndefined();
    // The wall clock went back 10 min: the first sighting cannot be measured from; start again.
    const back = decideRemoval(E, first, NF, at(-600_000, { mono: 70_000 }));
    expect(back.removed).toBeUndefined();
    expect(back.sighting?.firstAt).toBe(new Date(T0 - 600_000).toISOString());
    expect(back.note).toMatch(/clock went back/);
  });

  it('across a restart (another process) the wall clock measures the gap', () => {
    const first = decideRemoval(E, undefined, NF, at(0, { proc: 'p1', mono: 500_000 })).sighting;
    expect(decideRemoval(E, first, NF, at(30_000, { proc: 'p2', mono: 1000 })).removed).toBeUndefined();
    expect(decideRemoval(E, first, NF, at(61_000, { proc: 'p2', mono: 2000 })).removed).toBeDefined();
  });
});

describe('nextHealth: the outage is warned once per change', () => {
  const t = (s: number) => new Date(T0 + s * 1000).toISOString();
  it('ok → outage (warn) → same outage (quiet) → another kind (warn, same since) → ok (info)', () => {
    const a = nextHealth(undefined, { kind: 'state', phase: 'READY' }, t(0));
    expect(a).toMatchObject({ changed: true, health: { state: 'ok' } });
    expect(a.log).toBeUndefined();
    const b = nextHealth(a.health, OUTAGE, t(60));
    expect(b.log?.level).toBe('warn');
    expect(b.log?.msg).toMatch(/keeps running on its last known desired state/);
    expect(b.health).toMatchObject({ state: 'outage', since: t(60) });
    const c = nextHealth(b.health, OUTAGE, t(120));
    expect(c.changed).toBe(false);
    expect(c.log).toBeUndefined();
    const d = nextHealth(c.health, { kind: 'outage', reason: 'HTTP 503', key: 'server:503' }, t(180));
    expect(d.log?.level).toBe('warn');
    expect(d.health.since).toBe(t(60));
    const e = nextHealth(d.health, { kind: 'state', phase: 'READY' }, t(240));
    expect(e.log).toMatchObject({ level: 'info' });
    expect(e.log?.msg).toMatch(/answers for this edge again \(outage since/);
  });
});

describe('observePoll: the first sighting survives an agent restart, and nothing is written in steady state', () => {
  const SD = '/var/lib/castai-edge-initd';
  const log = {
    warns: [] as string[],
    infos: [] as string[],
    warn(_o: object, m: string) {
      this.warns.push(m);
    },
    info(_o: object, m: string) {
      this.infos.push(m);
    },
  };

  it('restart between the sightings: neither lost nor faked', async () => {
    const h = new FakeHost();
    const store = new StateStore(h, SD);
    const r1 = await observePoll({ store, shared: {}, log }, E, NF, at(0, { proc: 'p1' }));
    expect(r1.removed).toBeUndefined();
    expect(JSON.parse(h.files.get(`${SD}/${REMOVAL_EVIDENCE_FILE}`)!.data)).toMatchObject({ edgeId: E });
    expect(h.files.get(`${SD}/${REMOVAL_EVIDENCE_FILE}`)!.mode).toBe(0o600);
    // The agent restarts (a new shared object, a new process): 20 s later is not enough …
    const r2 = await observePoll({ store, shared: {}, log }, E, NF, at(20_000, { proc: 'p2', mono: 100 }));
    expect(r2.removed).toBeUndefined();
    // … 65 s after the FIRST sighting is.
    const r3 = await observePoll({ store, shared: {}, log }, E, NF, at(65_000, { proc: 'p3', mono: 100 }));
    expect(r3.removed).toMatch(/two polls 65 s apart/);
  });

  it('a steady 200 neither reads nor writes once the state is known', async () => {
    const h = new FakeHost();
    const store = new StateStore(h, SD);
    const shared = {};
    await observePoll({ store, shared, log }, E, { kind: 'state', phase: 'READY' }, at(0));
    expect(h.files.has(`${SD}/${CONTROL_PLANE_FILE}`)).toBe(true);
    h.calls.length = 0;
    for (let i = 1; i <= 3; i++) await observePoll({ store, shared, log }, E, { kind: 'state', phase: 'READY' }, at(i * 60_000));
    expect(h.calls).toEqual([]);
  });

  it('an outage is warned once, not every pass', async () => {
    const h = new FakeHost();
    const store = new StateStore(h, SD);
    const shared = {};
    log.warns.length = 0;
    for (let i = 0; i < 5; i++) await observePoll({ store, shared, log }, E, OUTAGE, at(i * 60_000));
    expect(log.warns).toHaveLength(1);
    expect(JSON.parse(h.files.get(`${SD}/${CONTROL_PLANE_FILE}`)!.data)).toMatchObject({ state: 'outage', since: new Date(T0).toISOString() });
  });
});

describe('register.json binding (API URL, org, cluster, edge location)', () => {
  const cfg = { apiUrl: 'https://api.cast.ai', orgId: 'o', clusterId: 'c', edgeLocationId: 'l' };
  it('the same control plane, however the URL is spelled', () => {
    expect(bindingDiff(bindingOf(cfg), bindingOf({ ...cfg, apiUrl: 'https://API.cast.ai:443/' }))).toEqual([]);
  });
  it('names each field that differs', () => {
    expect(bindingDiff(bindingOf(cfg), bindingOf({ ...cfg, apiUrl: 'https://api.other.example', clusterId: 'c2' }))).toEqual([
      'API_URL https://api.cast.ai → https://api.other.example',
      'CLUSTER_ID c → c2',
    ]);
  });
});
