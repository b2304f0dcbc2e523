import type { Logger } from 'pino';
import type { AgentConfig } from '../config/types.ts';
import type { Host } from '../host/host.ts';
import type { StateStore } from '../state/store.ts';
import type { Action } from '../contract.ts';

/** Everything a step needs. Steps share results through `shared` (e.g. the register response). */
export interface StepContext {
  host: Host;
  cfg: AgentConfig;
  store: StateStore;
  log: Logger;
  /** Aborted on SIGTERM: a step finishes the action it is in, then returns. */
  signal: AbortSignal;
  shared: SharedState;
  /**
   * Set by the runner for the step it runs: a step calls it with its plan's fingerprint right
   * before it changes the host; it throws (BackingOff) when that very plan failed recently
   * (./backoff.ts). Absent outside the daemon (plan, tests): apply as usual.
   */
  beforeApply?: (planKey: string) => void;
}

export interface SharedState {
  /** The register response, once registered (persisted as register.json). */
  registration?: import('../api/types.ts').RegisterResponse;
  /** Extra node labels a step wants k0s to carry (e.g. nvidia.com/mig.config.state=success). */
  extraLabels: Record<string, string>;
  /** Set by the register step when the control plane removed this edge (404, DELETING, DELETED). */
  edgeRemoved?: string;
  /** Whether k0sworker was active at the end of the last k0s step. */
  k0sActive?: boolean;
  /** The Node's Ready condition as the k0s step last read it (joined means Ready). */
  node?: import('../k0s/node-readiness.ts').NodeReadiness;
  /** WireGuard state for status/reportStatus. */
  wireguard?: { latestHandshakeSeconds: number | null; rxBytes: number; txBytes: number };
}

export interface StepPlan {
  step: string;
  /** "nothing to do", "skipped: no INITD_GPU_CONFIG", "3 actions" ... */
  summary: string;
  actions: Action[];
  /** Step-specific operator view (e.g. per-disk or per-GPU rows) for `plan --json`. */
  details?: unknown;
  /** The same view as pre-formatted text lines for `plan` (a small table). */
  lines?: string[];
  /**
   * Set when running this step would stop with this error, changing nothing (storage refusing a
   * disk): the very error `run` raises, so `plan` and `run` print the same words.
   */
  error?: { message: string; remediation?: string };
}

export interface StepResult {
  state: 'done' | 'skipped';
  /** One line for the journal and the log: "up, handshake 0.4s". */
  summary: string;
  /** True when apply changed something on the host. */
  changed: boolean;
}

/** A reconcile step: `plan` is inspect + plan (no change); `run` is inspect → plan → apply. */
export interface Step {
  readonly name: string;
  plan(ctx: StepContext): Promise<StepPlan>;
  run(ctx: StepContext): Promise<StepResult>;
}
