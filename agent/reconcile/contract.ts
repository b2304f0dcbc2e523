/**
 * The one step contract and the one adapter that turns it into the runner's `Step`
 * (docs/decisions/0200-step-contract.md):
 *
 *   desired(ctx, purpose)    what the step wants (config + what earlier steps shared), or a typed Skip/Refusal
 *   inspect(ctx, desired)    read the host, change nothing
 *   plan(desired, actual)    pure: the plan (its actions), a typed Refusal, or a typed Skip
 *   show(plan)               the operator's view of that plan (summary, rows)
 *   apply(ctx, plan)         executes exactly plan.actions through the step's executor table
 *
 * `plan` (the command) and `run` (the daemon) both come from `stepOf`, so they share every phase up to
 * the plan: what `plan` shows is the plan `run` hands to apply. A refusal is raised by `run` as the
 * very error `plan` shows; a skip is a typed outcome, never a matched summary string.
 */
import { isRefusal, isSkip, refusalError, type Action, type Refusal, type Skip } from '../contract.ts';
import { planKey } from './backoff.ts';
import type { Step, StepContext, StepPlan, StepResult } from './step.ts';

/** `plan` (the command: must not write anything) or `run` (the daemon's pass). */
export type Purpose = 'plan' | 'run';

/** What a step's plan carries at least: the actions apply executes, in order. */
export interface PlannedActions<A extends Action = Action> {
  readonly actions: readonly A[];
  /** Info lines `run` logs once planned (e.g. disks storage skipped, and why). */
  readonly notes?: readonly string[];
}

/** The operator's view of a plan (`plan`, `plan --json`). */
export interface PlanView {
  summary: string;
  details?: unknown;
  lines?: string[];
}

/** How a run went, once apply returned. */
export interface Applied {
  summary: string;
  changed: boolean;
  /** The plan said the step has nothing to do on this host (a typed skip that still shows its rows in `plan`). */
  skipped?: boolean;
}

export interface StepSpec<D, Act, P extends PlannedActions> {
  readonly name: string;
  /**
   * Opts in to the daemon's backoff (./backoff.ts, docs/decisions/0173): the same failed plan is not applied
   * again at once. Storage opts in; the others keep their own retries.
   */
  readonly backoff?: boolean;
  desired(ctx: StepContext, purpose: Purpose): Promise<D | Skip | Refusal>;
  /**
   * `run` only: a cheap proof that the host is still as the last pass left it (storage's steady state from
   * /proc and /sys); a summary (or a Skip) ends the step there with nothing to apply.
   */
  steady?(ctx: StepContext, desired: D): Promise<string | Skip | undefined>;
  inspect(ctx: StepContext, desired: D, purpose: Purpose): Promise<Act>;
  /** Pure. */
  plan(desired: D, actual: Act): P | Refusal | Skip;
  show(plan: P, desired: D, actual: Act): PlanView;
  /** Executes exactly `plan.actions` (through the step's executor table), then says how it went. */
  apply(ctx: StepContext, plan: P, desired: D, actual: Act): Promise<Applied>;
}

function refusedPlan(step: string, r: Refusal): StepPlan {
  const details = r.details !== undefined ? { details: r.details } : {};
  return { step, summary: r.summary ?? 'REFUSED', actions: [], ...details, error: { message: r.message, remediation: r.remediation } };
}

/** The one adapter: the runner's `plan` and `run` from a step's contract. */
export function stepOf<D, Act, P extends PlannedActions>(spec: StepSpec<D, Act, P>): Step {
  return {
    name: spec.name,
    async plan(ctx: StepContext): Promise<StepPlan> {
      const desired = await spec.desired(ctx, 'plan');
      if (isSkip(desired)) return { step: spec.name, summary: desired.summary, actions: [] };
      if (isRefusal(desired)) return refusedPlan(spec.name, desired);
      const actual = await spec.inspect(ctx, desired, 'plan');
      const planned = spec.plan(desired, actual);
      if (isSkip(planned)) return { step: spec.name, summary: planned.summary, actions: [] };
      if (isRefusal(planned)) return refusedPlan(spec.name, planned);
      return { step: spec.name, actions: [...planned.actions], ...spec.show(planned, desired, actual) };
    },
    async run(ctx: StepContext): Promise<StepResult> {
      const desired = await spec.desired(ctx, 'run');
      if (isSkip(desired)) return { state: 'skipped', summary: desired.summary, changed: false };
      if (isRefusal(desired)) throw refusalError(desired);
      const steady = await spec.steady?.(ctx, desired);
      if (isSkip(steady)) return { state: 'skipped', summary: steady.summary, changed: false };
      if (steady !== undefined) return { state: 'done', summary: steady, changed: false };
      const actual = await spec.inspect(ctx, desired, 'run');
      const planned = spec.plan(desired, actual);
      for (const n of isSkip(planned) ? [] : (planned.notes ?? [])) ctx.log.info({ step: spec.name }, `${spec.name}: ${n}`);
      if (isSkip(planned)) return { state: 'skipped', summary: planned.summary, changed: false };
      if (isRefusal(planned)) throw refusalError(planned);
      // The daemon's backoff (./backoff.ts): throws instead of re-applying a plan that just failed.
      if (spec.backoff && planned.actions.length) ctx.beforeApply?.(planKey(planned.actions));
      const r = await spec.apply(ctx, planned, desired, actual);
      return { state: r.skipped ? 'skipped' : 'done', summary: r.summary, changed: r.changed };
    },
  };
}
