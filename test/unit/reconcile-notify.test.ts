import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { JournalWriter } from '../../agent/reconcile/journal.ts';
import { Notifier } from '../../agent/reconcile/notify.ts';
import { runPass, STATUS_AFTER_MS } from '../../agent/reconcile/runner.ts';
import type { Step, StepContext } from '../../agent/reconcile/step.ts';
import { StateStore } from '../../agent/state/store.ts';

const STATE = '/var/lib/castai-edge-initd';
const step = (name: string, ms: number): Step => ({
  name,
  plan: async () => ({ step: name, summary: 'nothing to do', actions: [] }),
  run: async () => {
    await new Promise((r) => setTimeout(r, ms));
    return { state: 'done', summary: 'ok', changed: false };
  },
});

describe('systemd STATUS= during a pass', () => {
  it('a step shows in systemctl status only when it runs longer than STATUS_AFTER_MS (each notification is a process)', async () => {
    const host = new FakeHost().onExec('systemd-notify', {});
    const store = new StateStore(host, STATE);
    const ctx = {
      host,
      cfg: { stateDir: STATE },
      store,
      log: createLogger({ write: () => {}, pretty: false }),
      signal: new AbortController().signal,
      shared: { extraLabels: {} },
    } as unknown as StepContext;
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
    const store = new StateStore(host, STATE);
    const ctx = { host, cfg: { stateDir: STATE }, store, log: createLogger({ write: () => {}, pretty: false }), signal: new AbortController().signal, shared: { extraLabels: {} } } as unknown as StepContext;
    const steps = [step('slow', STATUS_AFTER_MS + 100)];
    await runPass(steps, ctx, new JournalWriter(store, ['slow'], 'b'), new Notifier(host, {}));
    expect(host.execLines()).toEqual([]);
  });
});
