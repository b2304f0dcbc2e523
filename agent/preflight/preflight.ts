/**
 * Preflight: the step contract (agent/contract.ts), minus anything to apply:
 *
 *   inspect(host, input) -> PreflightReport   runs the read-only checks
 *   plan(report)         -> Finding[]         pure; the blocking findings
 *
 * There is NOTHING to apply: preflight never changes the host (no writes, no
 * mkdir, no remove; the only commands it runs are read-only queries such as
 * `timedatectl show`). Fixing a finding is the operator's job; each finding
 * carries a one-line remediation.
 */
import type { Action } from '../contract.ts';
import type { Host } from '../host/host.ts';
import { CHECKS } from './checks.ts';
import { runChecks } from './runner.ts';
import type { CheckDef, PreflightInput, PreflightReport } from './types.ts';

export { CHECKS, CHECK_NAMES } from './checks.ts';
export { DEFAULT_DEADLINE_MS, validateRunInput } from './runner.ts';
export type * from './types.ts';

/** A blocking finding: an ERROR-severity check that failed. `reason` is its remediation. */
export interface Finding extends Action {
  kind: 'preflight.blocked';
  check: string;
}

/** Commands preflight may run; all read-only (FakeHost.mutations() ignores them). */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set(['timedatectl']);

export async function inspect(host: Host, input: PreflightInput, checks: readonly CheckDef[] = CHECKS): Promise<PreflightReport> {
  return runChecks(host, input, checks);
}

/** Pure: the findings that block the agent (ERROR checks that failed). WARNs never block. */
export function plan(report: PreflightReport): Finding[] {
  return report.checks
    .filter((c) => c.status === 'fail')
    .map((c) => ({
      kind: 'preflight.blocked',
      check: c.name,
      description: `${c.name}: ${c.message}`,
      reason: c.remediation ?? '',
    }));
}
