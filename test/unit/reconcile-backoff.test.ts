/**
 * Issue 16, item 5: a failing step does not repeat blindly. The runner counts identical
 * consecutive failures per step (count + first time, in the journal and `status`); a step that
 * calls ctx.beforeApply(planKey) skips re-applying the very plan that just failed until the
 * backoff expires, but applies at once when its plan changes. Every pass still plans.
 */
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { BACKOFF_CAP_MS, FailureTracker, backoffDelayMs } from '../../agent/reconcile/backoff.ts';
import { JournalWriter } from '../../agent/reconcile/journal.ts';
import { runPass, summaryLine } from '../../agent/reconcile/runner.ts';
import type { Step, StepContext } from '../../agent/reconcile/step.ts';
import { StateStore } from '../../agent/state/store.ts';
import { storageStep } from '../../agent/reconcile/steps/storage.ts';
import status from '../../agent/commands/status.ts';
import { StorageSim } from '../fixtures/storage/sim.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const T0 = Date.parse('2026-01-01T00:00:00Z');

function harness(host: FakeHost, cfg: Record<string, unknown> = {}) {
  const lines: Array<{ level: number; msg: string }> = [];
  const store = new StateStore(host, STATE);
  const ctx = {
    host,
    cfg: { stateDir: STATE, ...cfg },
    store,
    log: createLogger({ level: 'debug', write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }), pretty: false }),
    signal: new AbortController().signal,
    shared: { extraLabels: {} },
  } as unknown as StepContext;
  let now = T0;
  const clock = { at: (minutes: number) => (now = T0 + minutes * 60_000) };
  const tracker = new FailureTracker(() => now);
  return { ctx, store, tracker, clock, lines };
}

describe('backoff schedule', () => {
  it('none after the first failure (the next pass retries), then 2, 4, 8 min, capped at 15 min', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map((n) => backoffDelayMs(n) / 60_000)).toEqual([0, 2, 4, 8, 15, 15, 15]);
    expect(BACKOFF_CAP_MS).toBe(15 * 60_000);
  });

  it('counts only identical consecutive failures; a success or another error starts over', () => {
    const t = new FailureTracker(() => T0);
    expect(t.failed('s', 'boom').count).toBe(1);
    expect(t.failed('s', 'boom').count).toBe(2);
    expect(t.failed('s', 'other').count).toBe(1);
    t.succeeded('s');
    expect(t.get('s')).toBeUndefined();
    expect(t.failed('s', 'boom')).toEqual({ count: 1, since: '2026-01-01T00:00:00.000Z' });
  });
});

describe('runPass with a step that opts in (any step: one call before it changes the host)', () => {
  it('re-plans every pass, skips the identical failing apply until the backoff expires, applies at once when the plan changes', async () => {
    const host = new FakeHost();
    const { ctx, store, tracker, clock, lines } = harness(host);
    let plan = 'plan-A';
    let applies = 0;
    let plans = 0;
    const flaky: Step = {
      name: 'disk',
      plan: async () => ({ step: 'disk', summary: '', actions: [] }),
      run: async (c) => {
        plans++;
        c.beforeApply?.(plan);
        applies++;
        throw new AgentError('disk: `mkfs.xfs /dev/x` failed (exit 1: it is broken)', 'fix it');
      },
    };
    const journal = new JournalWriter(store, ['disk'], 'boot');
    const pass = async (minute: number) => {
      clock.at(minute);
      const r = await runPass([flaky], ctx, journal, undefined, tracker);
      expect(r.ok).toBe(false);
      return journal.step('disk');
    };

    await pass(0);
    expect(applies).toBe(1);
    let rec = await pass(1);
    expect(applies).toBe(2);
    expect(rec.failures).toMatchObject({ count: 2, since: '2026-01-01T00:00:00.000Z', retryAt: '2026-01-01T00:03:00.000Z' });
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      'disk: failed the same way twice in a row; the same plan is not applied again before 2026-01-01T00:03:00.000Z (backoff doubles each time, at most 15 min), but at once when the plan changes or the agent restarts',
    ]);
    expect(lines.find((l) => l.level === 50 && l.msg.includes('2nd failure in a row since 2026-01-01T00:00:00.000Z'))).toBeDefined();

    rec = await pass(2); // same plan, inside the backoff: planned, not applied
    expect(plans).toBe(3);
    expect(applies).toBe(2);
    expect(rec).toMatchObject({
      state: 'failed',
      message: 'backing off: the same plan failed',
      error: 'disk: `mkfs.xfs /dev/x` failed (exit 1: it is broken)',
      failures: { count: 2 },
    });
    expect(summaryLine(journal.journal)).toBe('disk failed 2× since 2026-01-01T00:00:00.000Z: disk: `mkfs.xfs /dev/x` failed (exit 1: it is broken)');

    plan = 'plan-B'; // the host changed: a new plan is applied at once
    rec = await pass(2.5);
    expect(applies).toBe(3);
    expect(rec.failures).toMatchObject({ count: 3, retryAt: '2026-01-01T00:06:30.000Z' });

    await pass(6); // plan-B again, before its retry time
    expect(applies).toBe(3);
    await pass(7); // after it: applied again
    expect(applies).toBe(4);
    expect(journal.step('disk').failures).toMatchObject({ count: 4, retryAt: '2026-01-01T00:15:00.000Z' });
  });

  it('a step that never calls beforeApply still gets the count and first time, and is never skipped', async () => {
    const { ctx, store, tracker, clock } = harness(new FakeHost());
    let runs = 0;
    const s: Step = { name: 'x', plan: async () => ({ step: 'x', summary: '', actions: [] }), run: async () => { runs++; throw new Error('same'); } };
    const journal = new JournalWriter(store, ['x'], 'boot');
    for (const m of [0, 1, 2, 3]) {
      clock.at(m);
      await runPass([s], ctx, journal, undefined, tracker);
    }
    expect(runs).toBe(4);
    expect(journal.step('x').failures).toEqual({ count: 4, since: '2026-01-01T00:00:00.000Z' });
  });

  it('status shows the count, the first failure time and the next attempt', async () => {
    const host = new FakeHost().onExec('systemctl', { exitCode: 3, stdout: 'inactive\n' });
    const { ctx, store, tracker, clock } = harness(host);
    const s: Step = {
      name: 'storage',
      plan: async () => ({ step: 'storage', summary: '', actions: [] }),
      run: async (c) => {
        c.beforeApply?.('k');
        throw new AgentError('storage: it failed', 'fix');
      },
    };
    const journal = new JournalWriter(store, ['storage'], 'boot');
    for (const m of [0, 1, 2]) {
      clock.at(m);
      await runPass([s], ctx, journal, undefined, tracker);
    }
    await journal.flush();
    const out: string[] = [];
    await status({ host, env: { INITD_STATE_DIR: STATE }, out: (l: string) => out.push(l), err: () => {} } as never, {});
    const text = out.join('\n');
    expect(text).toMatch(/^castai-edge-initd: storage failed 2× since 2026-01-01T00:00:00\.000Z: storage: it failed/m);
    expect(text).toMatch(/failed 2 times in a row since 2026-01-01T00:00:00\.000Z; not applied again before 2026-01-01T00:03:00\.000Z unless its plan changes \(or restart the agent\)/);
  });
});

describe('the storage step: a doomed apply is not re-run every minute', () => {
  it('mkfs.xfs failing the same way: applied on two passes, then skipped while the plan is unchanged; applied at once when the host changes', async () => {
    const sim = new StorageSim([StorageSim.nvme(1)]);
    sim.failures.set('mkfs.xfs', 'mkfs.xfs: cannot open /dev/castai-edge/k0s: Input/output error');
    const { ctx, store, tracker, clock } = harness(sim.host, { nvmeDevices: ['/dev/nvme1n1'] });
    const journal = new JournalWriter(store, ['storage'], 'boot');
    const mkfsRuns = () => sim.host.execLines().filter((l) => l.startsWith('mkfs.xfs')).length;
    const pass = async (minute: number) => {
      clock.at(minute);
      return runPass([storageStep()], ctx, journal, undefined, tracker);
    };

    await pass(0); // builds PV, VG, LV; mkfs fails
    await pass(1); // VG exists now: the plan is "mkfs, unit, mount"; fails the same way
    expect(mkfsRuns()).toBe(2);
    expect(journal.step('storage').failures).toMatchObject({ count: 2, retryAt: '2026-01-01T00:03:00.000Z' });
    const execsBefore = sim.host.execLines().length;
    await pass(2);
    expect(mkfsRuns()).toBe(2); // not re-run
    expect(sim.host.execLines().length).toBeGreaterThan(execsBefore); // but inspected and planned (lsblk, LVM, blkid)
    expect(journal.step('storage')).toMatchObject({ state: 'failed', error: expect.stringMatching(/mkfs\.xfs.*Input\/output error/) });

    // The operator fixed the disk and deactivated the volume group: a new plan (activate, then mkfs) runs at once.
    sim.failures.clear();
    for (const l of sim.lvs) l.active = false;
    const r = await pass(2.5);
    expect(r.ok).toBe(true);
    expect(mkfsRuns()).toBe(3);
    expect(journal.step('storage')).toMatchObject({ state: 'done' });
    expect(journal.step('storage').failures).toBeUndefined();
  });
});
