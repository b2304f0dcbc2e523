import type { Host, SystemFacts } from '../host/host.ts';
import type { HostPort } from '../net/endpoint.ts';

/** ERROR blocks the agent (doctor exits 3); WARN is reported and does not block. */
export type Severity = 'error' | 'warn';

/**
 * PASS: the check succeeded. FAIL: an ERROR-severity check failed (blocks).
 * WARN: a WARN-severity check failed (does not block). SKIP: not run (by
 * `--skip`, or because what it needs is not known yet); `message` says why.
 */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip';

/** host and port (agent/net/endpoint.ts). */
export type Endpoint = Pick<HostPort, 'host' | 'port'>;

export interface PreflightInput {
  /** AgentConfig.apiUrl, e.g. https://api.cast.ai. */
  apiUrl?: string;
  /** HTTPS proxy used to reach the API (already NO_PROXY-filtered), e.g. http://proxy:3128. */
  apiProxy?: string;
  /** AgentConfig.stateDir: where register.json and our other state live. */
  stateDir: string;
  /** Known control-plane endpoint; when absent it is read from `<stateDir>/register.json`. */
  controlPlane?: Endpoint;
  /** Known konnectivity endpoint; when absent it is read from `<stateDir>/register.json`. */
  konnectivity?: Endpoint;
  /** Names of checks not to run (validated against the check list). */
  skip: string[];
  /** One deadline for all checks together, in ms. */
  deadlineMs: number;
}

/** What a check's body returns; the runner adds name, severity, status and timing. */
export type CheckOutcome =
  | { ok: true; message: string }
  | { ok: false; message: string; remediation?: string }
  | { skipped: true; message: string };

/** Facts several checks need, each fetched once per run (memoized promises). */
export interface CheckContext {
  readonly host: Host;
  readonly input: PreflightInput;
  /** Milliseconds left until the shared deadline (never below 1). */
  remainingMs(): number;
  facts(): Promise<SystemFacts>;
  /** `/proc/1/comm`, trimmed; undefined when unreadable. */
  pid1(): Promise<string | undefined>;
  /** Control-plane and konnectivity endpoints (input, else register.json). */
  endpoints(): Promise<RegisteredEndpoints>;
}

export interface RegisteredEndpoints {
  controlPlane?: Endpoint;
  konnectivity?: Endpoint;
  /** Where they came from ("config", "/var/lib/castai-edge-initd/register.json"), or why they are unknown. */
  source: string;
  /** Set when register.json exists but cannot be used. */
  error?: string;
  /** k0s.joinToken from register.json (a secret: decoded, never shown). */
  joinToken?: string;
}

export interface CheckDef {
  /** Stable kebab-case name, used by `--skip` and in JSON. */
  name: string;
  severity: Severity;
  /** Short human description ("Linux kernel >= 6.0"). */
  title: string;
  /** One line telling the operator how to fix a failure. */
  remediation: string;
  /**
   * Reaches the network or runs a command. Once the node has joined, the daemon re-runs these
   * only every 10 minutes, and a failure then warns instead of blocking (docs/decisions/0101).
   */
  periodic?: boolean;
  /**
   * Set when the check can never be run from here and always reports SKIP with this reason (the
   * UDP port: WireGuard answers only a valid handshake). Its severity applies to nothing; `doctor`,
   * docs/errors.md and the README show it as "always SKIP".
   */
  alwaysSkipped?: string;
  run(ctx: CheckContext): Promise<CheckOutcome>;
}

export interface CheckResult {
  name: string;
  title: string;
  severity: Severity;
  status: CheckStatus;
  message: string;
  /** Present when status is fail or warn. */
  remediation?: string;
  durationMs: number;
  /** True when the check had not finished by the deadline. */
  timedOut: boolean;
}

export interface PreflightReport {
  /** False when any ERROR-severity check failed. */
  ok: boolean;
  deadlineMs: number;
  durationMs: number;
  counts: Record<CheckStatus, number>;
  checks: CheckResult[];
}
