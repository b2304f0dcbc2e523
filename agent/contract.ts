/**
 * The vocabulary every step's domain code speaks (docs/decisions/0200-step-contract.md):
 *
 *   inspect(host)          -> Actual       read the host, change nothing
 *   plan(desired, actual)  -> Outcome      pure: a plan (its actions), a typed Refusal, or a typed Skip
 *   apply(host, plan)      -> ...          executes exactly the plan's actions, each through the
 *                                          step's executor table (one executor per action kind)
 *
 * Domain folders (agent/storage, gpu, wireguard, k0s, preflight) import this file; the generic
 * adapter that turns a step into the runner's `plan` and `run` lives in agent/reconcile/contract.ts.
 */
import { AgentError, EXIT } from './errors.ts';

export interface Action {
  /** Stable machine-readable kind, e.g. "storage.vgcreate"; its executor is found by it. */
  kind: string;
  /** What an operator reads in `plan`: "create VG castai-edge on /dev/nvme1n1, /dev/nvme2n1". */
  description: string;
  /** Why this action is needed. */
  reason: string;
}

/**
 * Running the step would stop here, changing nothing: `plan` shows it (REFUSED, with the fix) and
 * `run` raises it as an AgentError with the same words.
 */
export interface Refusal {
  readonly outcome: 'refused';
  message: string;
  remediation: string;
  exitCode: number;
  /** The plan's one-line summary while refused (default: REFUSED). */
  summary?: string;
  /** The refused plan's rows for `plan --json` (e.g. storage's per-disk table). */
  details?: unknown;
  /** Info lines the run logs before it stops (e.g. disks storage skipped). */
  notes?: readonly string[];
}

/** The step has nothing to do on this host by configuration or circumstance ("INITD_GPU_CONFIG not set"). */
export interface Skip {
  readonly outcome: 'skipped';
  /** One line: "skipped: INITD_GPU_CONFIG not set". */
  summary: string;
}

export function refusal(message: string, remediation: string, exitCode: number = EXIT.CONFIG, summary?: string): Refusal {
  return { outcome: 'refused', message, remediation, exitCode, ...(summary !== undefined ? { summary } : {}) };
}

export function skip(summary: string): Skip {
  return { outcome: 'skipped', summary };
}

/** The error `run` raises for a refusal: the very words `plan` showed. */
export function refusalError(r: Refusal): AgentError {
  return new AgentError(r.message, r.remediation, r.exitCode);
}

export const isRefusal = (x: unknown): x is Refusal => typeof x === 'object' && x !== null && (x as Refusal).outcome === 'refused';
export const isSkip = (x: unknown): x is Skip => typeof x === 'object' && x !== null && (x as Skip).outcome === 'skipped';

/** The action of kind K: the union member when A is a discriminated union, else A itself with that kind. */
export type ActionOf<A extends Action, K extends A['kind']> = [Extract<A, { kind: K }>] extends [never] ? A & { kind: K } : Extract<A, { kind: K }>;

/**
 * One executor per action kind. The mapped type makes the compiler refuse a table that misses a
 * kind, so a new kind cannot be planned without saying how it is applied.
 */
export type Executors<A extends Action, C> = { readonly [K in A['kind']]: (action: ActionOf<A, K>, c: C) => Promise<void> };

/** Execute the plan's actions in order, each through its kind's executor, and nothing else. */
export async function execute<A extends Action, C>(executors: Executors<A, C>, actions: readonly A[], c: C): Promise<void> {
  for (const a of actions) {
    const run = executors[a.kind as A['kind']] as (action: A, c: C) => Promise<void>;
    await run(a, c);
  }
}
