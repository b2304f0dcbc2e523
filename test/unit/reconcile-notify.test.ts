import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { JournalWriter } from '../../agent/reconcile/journal.ts';
import { Notifier } from '../../agent/reconcile/notify.ts';
import { runPass, STATUS_AFTER_MS } from '../../agent/reconcile/runner.ts';
import type { Step, StepContext } from '../../agent/reconcile/step.ts';
import { StateStore } from '../../agent/state/store.ts';
import { DEFAULT_STATE_DIR, JOURNAL_FILE } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const step = (name: string, ms: number): Step => ({
  name,
  plan: async () => ({ step: name, summary: 'nothing to do', actions: [] }),
  run: async () => {
    await new Promise((r) => setTimeout(r, ms));
    return { state: 'done', summary: 'ok', changed: false };
  },
});

/** A step context for runPass over `host` (state store in STATE, a silent log), and its store. */
function passContext(host: FakeHost): { store: StateStore; ctx: StepContext } {
  const store = new StateStore(host, STATE);
  const ctx = {
    host,
    cfg: { stateDir: STATE },
    store,
    log: createLogger({ write: () => {}, pretty: false }),
    signal: new AbortController().signal,
    shared: { extraLabels: {} },
  } as unknown as StepContext;
  return { store, ctx };
}

describe('systemd STATUS= during a pass', () => {
  it('a step shows in systemctl status only when it runs longer than STATUS_AFTER_MS (each notification is a process)', async () => {
    const host = new FakeHost().onExec('systemd-notify', {});
    const { store, ctx } = passContext(host);
    const steps = [step('fast', 5), step('slow', STATUS_AFTER_MS + 300), step('fast2', 5)];
    const journal = new JournalWriter(store, steps.map((s) => s.name), 'boot-1');
    const notifier = new Notifier(host, { NOTIFY_SOCKET: '/run/systemd/notify' });
    const r = await runPass(steps, ctx, journal, notifier);
    expect(r.ok).toBe(true);
    const notes = host.execLines().filter((l) => l.startsWith('systemd-notify'));
    expect(notes).toEqual([`systemd-notify --pid=${process.pid} STATUS=[2/3] slow…`]);
  });

  it('outside systemd (no NOTIFY_SOCKET) nothing is spawned, however slow the step', async () => {
    const host = new FakeHost();
    const { store, ctx } = passContext(host);
    const steps = [step('slow', STATUS_AFTER_MS + 100)];
    await runPass(steps, ctx, new JournalWriter(store, ['slow'], 'b'), new Notifier(host, {}));
    expect(host.execLines()).toEqual([]);
  });
});

describe('journal writes during a pass', () => {
  const setup = (phase?: 'READY') => {
    const host = new FakeHost();
    const { store, ctx } = passContext(host);
    const journal = new JournalWriter(
      store,
      ['a', 'b', 'c'],
      'boot-1',
      phase ? { version: 1, bootId: 'boot-0', updatedAt: 't', phase, pass: 9, steps: [] } : undefined,
    );
    const writes = () => host.calls.filter((c) => c.kind === 'write' && c.path === `${STATE}/${JOURNAL_FILE}`).length;
    return { host, ctx, journal, writes };
  };
  const boom: Step = { name: 'b', plan: async () => ({ step: 'b', summary: '', actions: [] }), run: async () => Promise.reject(new Error('disk on fire')) };

  it('while joining: every step start and end is on disk (a crash mid-join reports the step it was in)', async () => {
    const { ctx, journal, writes } = setup();
    await runPass([step('a', 1), step('b', 1), step('c', 1)], ctx, journal);
    expect(writes()).toBe(6);
  });

  it('on a joined node (READY): nothing is written during the pass, once at its end (setPhase)', async () => {
    const { ctx, journal, writes } = setup('READY');
    await runPass([step('a', 1), step('b', 1), step('c', 1)], ctx, journal);
    expect(writes()).toBe(0);
    await journal.setPhase('READY');
    expect(writes()).toBe(1);
    expect(journal.journal.steps.map((s) => s.state)).toEqual(['done', 'done', 'done']);
  });

  it('on a joined node, a failing step is written at once, with its error', async () => {
    const { host, ctx, journal, writes } = setup('READY');
    const r = await runPass([step('a', 1), boom, step('c', 1)], ctx, journal);
    expect(r.failedStep).toBe('b');
    expect(writes()).toBe(1);
    const onDisk = JSON.parse(host.files.get(`${STATE}/${JOURNAL_FILE}`)!.data) as { lastError: { step: string; message: string } };
    expect(onDisk.lastError).toMatchObject({ step: 'b', message: 'disk on fire' });
  });
});
