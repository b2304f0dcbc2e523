/**
 * A failing step does not repeat blindly (docs/decisions/0173-step-failure-backoff.md).
 *
 * The runner counts, per step, consecutive failures with the same error (`count`, `since`) and
 * shows them in the journal and `status`. A step that is about to change the host calls
 * `ctx.beforeApply(planKey)` after planning: when its last attempt failed with exactly this plan,
 * the apply is skipped until the backoff has expired, and the step stays failed with the same
 * error. Every pass still inspects and plans, so a host whose state changes gets a new plan and is
 * applied at once; restarting the agent also retries at once.
 *
 * Backoff after n identical consecutive failures: none after the first (the next pass retries),
 * then 2, 4, 8 minutes ..., capped at BACKOFF_CAP_MS (15 minutes).
 */
import { createHash } from 'node:crypto';
import { AgentError } from '../errors.ts';

export const BACKOFF_FIRST_MS = 60_000;
export const BACKOFF_CAP_MS = 15 * 60_000;

/** How long to wait after the n-th identical consecutive failure before applying the same plan again. */
export function backoffDelayMs(n: number): number {
  if (n < 2) return 0;
  return Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (n - 1));
}

/** Persisted in the step's journal record (and shown by `status`). */
export interface StepFailures {
  /** Consecutive failures with this same error. */
  count: number;
  /** When the first of them happened (ISO). */
  since: string;
  /** The plan the last failed apply ran (a fingerprint); absent when it failed before applying. */
  planKey?: string;
  /** The same plan is not applied again before this time (ISO); absent = at once. */
  retryAt?: string;
}

/** Thrown by beforeApply: the same plan failed recently; the runner keeps the step failed with its last error. */
export class BackingOff extends AgentError {
  readonly failures: StepFailures;
  /** The step's last error, unchanged (the journal keeps it). */
  readonly lastError: string;
  constructor(step: string, f: StepFailures, lastError: string) {
    super(
      `${lastError} (the same plan failed ${f.count} times since ${f.since}; next attempt at ${f.retryAt} unless the plan changes)`,
      `fix the cause; the step is retried at ${f.retryAt}, at once when its plan changes, or when the agent restarts (systemctl restart castai-edge-initd)`,
    );
    this.name = 'BackingOff';
    this.failures = f;
    this.lastError = lastError;
    void step;
  }
}

/** Per-process bookkeeping of failing steps (seeded from the journal, so counts survive a restart). */
export class FailureTracker {
  private readonly now: () => number;
  private readonly state = new Map<string, { f: StepFailures; message: string }>();
  private readonly pendingKey = new Map<string, string>();

  constructor(now: () => number = Date.now, seed: Array<{ name: string; error?: string; failures?: StepFailures }> = []) {
    this.now = now;
    // A restart retries at once (no retryAt), but keeps counting the same failure.
    for (const s of seed) {
      if (!s.failures || !s.error) continue;
      const f = { count: s.failures.count, since: s.failures.since, ...(s.failures.planKey ? { planKey: s.failures.planKey } : {}) };
      this.state.set(s.name, { f, message: s.error });
    }
  }

  /** Called by a step right before it changes the host. Throws BackingOff to skip an apply that is known to fail. */
  beforeApply(step: string, planKey: string): void {
    const rec = this.state.get(step);
    if (rec?.f.planKey === planKey && rec.f.retryAt && this.now() < Date.parse(rec.f.retryAt)) throw new BackingOff(step, rec.f, rec.message);
    this.pendingKey.set(step, planKey);
  }

  /** The step failed with this error. Returns its record (for the journal). */
  failed(step: string, message: string): StepFailures {
    const at = this.now();
    const prev = this.state.get(step);
    const count = prev && prev.message === message ? prev.f.count + 1 : 1;
    const planKey = this.pendingKey.get(step);
    this.pendingKey.delete(step);
    const delay = backoffDelayMs(count);
    const f: StepFailures = {
      count,
      since: count > 1 && prev ? prev.f.since : new Date(at).toISOString(),
      ...(planKey ? { planKey } : {}),
      ...(planKey && delay > 0 ? { retryAt: new Date(at + delay).toISOString() } : {}),
    };
    this.state.set(step, { f, message });
    return f;
  }

  /** The step succeeded: its streak is over. */
  succeeded(step: string): void {
    this.state.delete(step);
    this.pendingKey.delete(step);
  }

  get(step: string): StepFailures | undefined {
    return this.state.get(step)?.f;
  }
}

/** A stable fingerprint of a plan's actions (what would run, on what), short enough for the journal. */
export function planKey(actions: ReadonlyArray<{ kind: string; description: string; device?: string; commands?: string[][] }>): string {
  const text = JSON.stringify(actions.map((a) => [a.kind, a.device ?? '', a.description, a.commands ?? []]));
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
