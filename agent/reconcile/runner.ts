import { AgentError } from '../errors.ts';
import { describeReadiness } from '../k0s/node-readiness.ts';
import { BACKOFF_CAP_MS, BackingOff, type FailureTracker, type StepFailures } from './backoff.ts';
import type { JournalWriter } from './journal.ts';
import type { Notifier } from './notify.ts';
import type { Step, StepContext } from './step.ts';

export interface PassResult {
  ok: boolean;
  changed: boolean;
  failedStep?: string;
  interrupted: boolean;
  durations: Record<string, number>;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;

/**
 * One reconcile pass: the ordered steps, each inspect → plan → apply. The
 * journal is written before and after each step. A failed step stops the pass
 * (later steps depend on it); the next pass starts from the top again, and
 * every step re-checks the host, so only drift is applied.
 *
 * The log reads as numbered steps with durations:
 *   [4/6] wireguard: up, handshake 0.4s (0.41s)
 */
/** A step running longer than this shows in `systemctl status` (STATUS=[i/n] step…). */
export const STATUS_AFTER_MS = 1000;

/** " (3rd failure in a row since …; the same plan is applied again after …, or at once when it changes)" */
export function failuresNote(f: StepFailures | undefined): string {
  if (!f || f.count < 2) return '';
  const nth = `${f.count}${f.count % 100 >= 11 && f.count % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][f.count % 10] ?? 'th')}`;
  return ` (${nth} failure in a row since ${f.since}${f.retryAt ? `; the same plan is applied again after ${f.retryAt}, or at once when it changes` : ''})`;
}

export async function runPass(steps: Step[], ctx: StepContext, journal: JournalWriter, notifier?: Notifier, tracker?: FailureTracker): Promise<PassResult> {
  const n = steps.length;
  const durations: Record<string, number> = {};
  let changed = false;
  journal.journal.pass += 1;
  // On a joined node (READY) the per-step records stay in memory and are written once, at the end
  // of the pass (the daemon's setPhase), or at once when a step fails: a steady-state pass costs one
  // atomic write instead of twelve. Before that, every start and end is on disk, so a crash
  // mid-join is reported as "resuming inside step X" (every step is idempotent either way).
  const flush = journal.journal.phase !== 'READY';
  for (const [i, step] of steps.entries()) {
    const tag = `[${i + 1}/${n}] ${step.name}`;
    if (ctx.signal.aborted) {
      ctx.log.info({ step: step.name }, `${tag}: not started, stopping (SIGTERM)`);
      return { ok: false, changed, interrupted: true, durations };
    }
    const started = performance.now();
    await journal.update(step.name, { state: 'running', startedAt: new Date().toISOString(), message: 'running' }, { flush });
    // `systemctl status` shows a step only when it takes a while: each notification is a
    // systemd-notify process, and a steady-state step is over in well under a second.
    const slow = notifier ? setTimeout(() => void notifier.status(`${tag}…`).catch(() => {}), STATUS_AFTER_MS) : undefined;
    ctx.beforeApply = tracker ? (key) => tracker.beforeApply(step.name, key) : undefined;
    try {
      const r = await step.run(ctx).finally(() => clearTimeout(slow));
      const ms = Math.round(performance.now() - started);
      durations[step.name] = ms;
      changed ||= r.changed;
      tracker?.succeeded(step.name);
      await journal.update(
        step.name,
        { state: r.state, message: r.summary, durationMs: ms, error: undefined, remediation: undefined, failures: undefined },
        { flush },
      );
      ctx.log.info({ step: step.name, durationMs: ms, changed: r.changed }, `${tag}: ${r.summary} (${secs(ms)})`);
      if (ctx.shared.edgeRemoved) {
        // The edge was deleted: the rest of the pass must not (re)build anything; the daemon tears down.
        for (const rest of steps.slice(i + 1)) await journal.update(rest.name, { state: 'skipped', message: 'edge removed' }, { flush });
        await journal.flush();
        return { ok: true, changed, interrupted: false, durations };
      }
    } catch (e) {
      const ms = Math.round(performance.now() - started);
      durations[step.name] = ms;
      if (e instanceof BackingOff) {
        // The same plan failed recently: nothing was applied; the step stays failed with its last error.
        await journal.update(step.name, {
          state: 'failed',
          message: 'backing off: the same plan failed',
          error: e.lastError,
          durationMs: ms,
          failures: e.failures,
        });
        ctx.log.debug({ step: step.name, failures: e.failures }, `${tag}: not applied: ${e.message}`);
        return { ok: false, changed, failedStep: step.name, interrupted: false, durations };
      }
      const message = e instanceof Error ? e.message : String(e);
      const remediation = e instanceof AgentError ? e.remediation : undefined;
      const failures = tracker?.failed(step.name, message);
      await journal.update(step.name, {
        state: 'failed',
        message: 'failed',
        error: message,
        durationMs: ms,
        ...(remediation ? { remediation } : {}),
        failures,
      });
      ctx.log.error(
        { step: step.name, durationMs: ms, err: e instanceof AgentError ? undefined : e, remediation, ...(failures && failures.count > 1 ? { failures } : {}) },
        `${tag}: FAILED: ${message}${remediation ? ` — fix: ${remediation}` : ''} (${secs(ms)})${failuresNote(failures)}`,
      );
      // Said once, when a backoff starts: the passes in between re-plan quietly.
      if (failures?.count === 2 && failures.retryAt)
        ctx.log.warn(
          { step: step.name, failures },
          `${step.name}: failed the same way twice in a row; the same plan is not applied again before ${failures.retryAt} (backoff doubles each time, at most ${BACKOFF_CAP_MS / 60_000} min), but at once when the plan changes or the agent restarts`,
        );
      return { ok: false, changed, failedStep: step.name, interrupted: false, durations };
    }
  }
  return { ok: true, changed, interrupted: false, durations };
}

/** The one-line summary for `systemctl status` (STATUS=) and `status`. */
export function summaryLine(journal: JournalWriter['journal'], edgeName?: string): string {
  const failed = journal.steps.find((s) => s.state === 'failed');
  const edge = edgeName ? ` · edge ${edgeName}` : '';
  if (failed)
    return `${failed.name} failed${failed.failures && failed.failures.count > 1 ? ` ${failed.failures.count}× since ${failed.failures.since}` : ''}: ${failed.error ?? 'see journalctl -u castai-edge-initd'}${edge}`;
  const running = journal.steps.find((s) => s.state === 'running');
  if (running) return `${running.name}…${edge}`;
  const last = [...journal.steps].reverse().find((s) => s.state === 'done');
  // Joined means Ready: the Node's Ready condition, as the last pass read it, is part of the line.
  const node = journal.node ? `node ${describeReadiness(journal.node)}` : undefined;
  if (journal.phase === 'READY') return `joined${node ? ` · ${node}` : ''}${edge}`;
  if (node) return `${node}${edge}`;
  return `${last ? `${last.name} done` : 'starting'}${edge}`;
}
