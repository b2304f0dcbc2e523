/** Exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  RUNTIME: 1,
  CONFIG: 2, // usage or configuration error
  PREFLIGHT: 3,
  /** `status`: the daemon is not running (LSB's "program is not running"). */
  NOT_RUNNING: 3,
} as const;

/** One problem in the operator's input: which variable/field, the bad item, and the fix. */
export interface ConfigProblem {
  variable: string; // e.g. INITD_KUBERNETES_LABELS
  item: string; // the offending piece, e.g. "Env=prod!"
  message: string; // what is wrong and what would be valid
}

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A failure with a one-line remediation for the operator. */
export class AgentError extends Error {
  readonly remediation: string;
  readonly exitCode: number;
  constructor(message: string, remediation: string, exitCode: number = EXIT.RUNTIME) {
    super(message);
    this.name = 'AgentError';
    this.remediation = remediation;
    this.exitCode = exitCode;
  }
}
