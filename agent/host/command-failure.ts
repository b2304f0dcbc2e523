/**
 * One failure format for a command that failed: the command, how it ended, the lines of its output
 * that EXPLAIN the failure (not its usage text, not its last lines), and a fix.
 *
 *   storage: mkfs.xfs /dev/castai-edge/k0s: `mkfs.xfs -K -L castai-k0s /dev/castai-edge/k0s` failed
 *   (exit 1): Filesystem must be larger than 300MB.  — fix: <remediation>
 *
 * The one run-and-check helper (issue 17): `runChecked(host, argv, {what, fix, timeoutMs, accepted
 * exit codes / stderr})` runs a command and throws this one format unless it succeeded. Storage
 * (inspect, apply, teardown), k0s, WireGuard and the GPU step use it (GPU first translates the
 * nvidia-smi failures it knows, then falls back to this format).
 * docs/decisions/0172-command-failure-format.md, docs/decisions/0200-step-contract.md.
 */
import { AgentError, EXIT } from '../errors.ts';
import type { ExecOptions, ExecResult, Host } from './host.ts';

/** A line where a usage text starts: it and everything after it in that stream explain nothing. */
const USAGE_START = /^\s*(usage|USAGE|Usage)\s*:|^Try '.*--help'|^Try ".*--help"|^See '.*--help'/;
/** Lines that are never the reason (LVM's fd-leak notice when a parent leaks a descriptor). */
const NOISE = [/^File descriptor \d+ \(.*\) leaked on \S+ invocation/, /^\s*WARNING: This metadata update is NOT backed up\.?$/];
/** Words of a reason. When a tool prints more lines than fit, these are the ones kept. */
const REASON =
  /\b(error|fail(ed|ure)?|fatal|cannot|can't|couldn't|could not|unable|must|invalid|illegal|not found|no such|denied|not permitted|insufficient|too (small|large|big|many|few|long)|refus|exceed|busy|in use|already|exist|read-only|unknown|unsupported|unrecognized|missing|wrong|bad|mismatch|timed? ?out|no space|corrupt)/i;

/** At most this many explaining lines, each at most MAX_LINE characters. */
export const MAX_LINES = 4;
const MAX_LINE = 300;

function usefulLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (USAGE_START.test(raw)) break;
    const line = raw.trim();
    if (!line || NOISE.some((n) => n.test(line))) continue;
    out.push(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 1)}…` : line);
  }
  return out;
}

/**
 * The lines of a failed command's output that say why: stderr before stdout, usage text and noise
 * dropped, duplicates once. When there are more than `max`, the ones that read like a reason are
 * kept (in order); when none does, the last ones.
 */
export function explainingLines(r: Pick<ExecResult, 'stdout' | 'stderr'>, max = MAX_LINES): string[] {
  const lines = [...new Set([...usefulLines(r.stderr), ...usefulLines(r.stdout)])];
  if (lines.length <= max) return lines;
  const reasons = lines.filter((l) => REASON.test(l));
  return reasons.length ? reasons.slice(0, max) : lines.slice(-max);
}

/** True when the output was nothing but a usage text (a wrong option or argument). */
function onlyUsage(r: Pick<ExecResult, 'stdout' | 'stderr'>): boolean {
  return explainingLines(r).length === 0 && [r.stderr, r.stdout].some((t) => t.split(/\r?\n/).some((l) => USAGE_START.test(l)));
}

/** How the command ended, in words: "exit 1", "timed out", "not found". */
export function howItEnded(r: Pick<ExecResult, 'exitCode' | 'timedOut' | 'notFound'>): string {
  return r.notFound ? 'not found' : r.timedOut ? 'timed out' : `exit ${r.exitCode}`;
}

export interface FailureOptions {
  /** What was being done, as the message's prefix: "storage: pvcreate /dev/nvme1n1". */
  what: string;
  /** The fix when no more specific one applies. */
  fix: string;
  /** A more specific fix from the explaining lines (e.g. "busy" -> wait and retry). */
  fixFor?: (why: string[], r: ExecResult) => string | undefined;
  /** The fix when the program is not installed (default: the generic fix). */
  notFoundFix?: string;
  exitCode?: number;
  /** Facts about the host that explain the failure, appended in parentheses ("nvidia-persistenced is running"). */
  context?: string;
}

/** The AgentError for a failed command, in the one format. argv never carries a secret (host.ts), so it is shown. */
export function commandFailure(argv: readonly string[], r: ExecResult, o: FailureOptions): AgentError {
  const why = r.notFound ? [] : explainingLines(r);
  const detail = why.length
    ? `: ${why.join(' / ')}`
    : r.notFound
      ? ''
      : onlyUsage(r)
        ? ': it printed only its usage text (an option or argument it does not accept)'
        : ', no output';
  const fix = r.notFound ? (o.notFoundFix ?? o.fix) : (o.fixFor?.(why, r) ?? o.fix);
  const context = o.context ? ` (${o.context})` : '';
  return new AgentError(`${o.what}: \`${argv.join(' ')}\` failed (${howItEnded(r)}${detail})${context}`, fix, o.exitCode ?? EXIT.RUNTIME);
}

/** How to run a command and when it counted as done. */
export interface RunSpec extends FailureOptions {
  /** Kill it after this long: every caller says how long its command may take. */
  timeoutMs: number;
  env?: Record<string, string>;
  /** Bytes for its stdin (the only way a secret reaches a child). */
  stdin?: string | Buffer;
  /** Exit codes besides 0 that are not a failure (e.g. blkid's 2: "nothing found"). */
  okExitCodes?: readonly number[];
  /** A non-zero exit whose stderr matches is not a failure (an idempotent delete of what is already gone). */
  okStderr?: RegExp;
}

/** True when the command did what was asked, by the spec's own acceptance rules. */
export function accepted(r: ExecResult, o: Pick<RunSpec, 'okExitCodes' | 'okStderr'>): boolean {
  if (r.timedOut || r.notFound) return false;
  return r.exitCode === 0 || Boolean(o.okExitCodes?.includes(r.exitCode)) || Boolean(o.okStderr?.test(r.stderr));
}

/** Run a command; throw the one-format AgentError unless it was accepted (exit 0, or what the spec accepts). */
export async function runChecked(host: Host, argv: readonly [string, ...string[]], o: RunSpec): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  const opts: ExecOptions = { timeoutMs: o.timeoutMs, ...(o.env ? { env: o.env } : {}), ...(o.stdin !== undefined ? { stdin: o.stdin } : {}) };
  const r = await host.exec(cmd, args, opts);
  if (!accepted(r, o)) throw commandFailure(argv, r, o);
  return r;
}
