/**
 * Runs preflight checks in parallel under ONE deadline (docs/decisions/0020).
 *
 * Every check starts at once; a single timer fires at the deadline. A check
 * that has not settled by then is reported as failed ("timed out after N ms")
 * and the run returns anyway: nothing a check waits on (DNS, a TCP SYN into a
 * black hole, a hung command) can stretch the run beyond the deadline plus the
 * time to assemble the report. Commands and probes also get the remaining time
 * as their own timeout, so they are killed/closed rather than left running.
 */
import path from 'node:path';
import type { Host, SystemFacts } from '../host/host.ts';
import { ConfigError } from '../errors.ts';
import { REGISTER_FILE } from '../state/files.ts';
import type {
  CheckContext,
  CheckDef,
  CheckOutcome,
  CheckResult,
  CheckStatus,
  Endpoint,
  PreflightInput,
  PreflightReport,
  RegisteredEndpoints,
} from './types.ts';
import { PID1_COMM_FILE } from '../host/paths.ts';
import { parseHostPort } from '../net/endpoint.ts';

export const DEFAULT_DEADLINE_MS = 5000;
export const MAX_DEADLINE_MS = 600_000;

function memo<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

/**
 * `cp.example:8132`, `[2001:db8::1]:8132` (the one host:port parser, agent/net/endpoint.ts; a bare host takes
 * `defaultPort`), `https://cp.example:8443` (a URL) -> {host, port}.
 */
export function parseEndpoint(s: string, defaultPort?: number): Endpoint | undefined {
  const text = s.trim();
  if (!text) return undefined;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const hp = parseHostPort(text) ?? (defaultPort === undefined ? undefined : parseHostPort(`${text}:${defaultPort}`));
    return hp ? { host: hp.host, port: hp.port } : undefined;
  }
  try {
    const u = new URL(text);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : defaultPort;
    if (!host || port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    return { host, port };
  } catch {
    return undefined;
  }
}

/** Endpoints from the input, else from `<stateDir>/register.json` (k0s.apiEndpoint, k0s.konnectivityEndpoint). */
export async function readEndpoints(host: Host, input: PreflightInput): Promise<RegisteredEndpoints> {
  const file = path.join(input.stateDir, REGISTER_FILE);
  const text = await host.readFile(file);
  if (text === undefined) {
    return {
      ...(input.controlPlane ? { controlPlane: input.controlPlane } : {}),
      ...(input.konnectivity ? { konnectivity: input.konnectivity } : {}),
      source: `no ${file} yet`,
    };
  }
  let doc: { k0s?: { apiEndpoint?: unknown; konnectivityEndpoint?: unknown; joinToken?: unknown } };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (e) {
    return { source: file, error: `${file} is not valid JSON (${(e as Error).message})` };
  }
  const k0s = doc?.k0s ?? {};
  const cp = typeof k0s.apiEndpoint === 'string' ? parseEndpoint(k0s.apiEndpoint, 8443) : undefined;
  const kn = typeof k0s.konnectivityEndpoint === 'string' ? parseEndpoint(k0s.konnectivityEndpoint, 8132) : undefined;
  const bad: string[] = [];
  if (k0s.apiEndpoint !== undefined && !cp) bad.push(`k0s.apiEndpoint ${JSON.stringify(k0s.apiEndpoint)}`);
  if (k0s.konnectivityEndpoint !== undefined && !kn) bad.push(`k0s.konnectivityEndpoint ${JSON.stringify(k0s.konnectivityEndpoint)}`);
  if (bad.length) return { source: file, error: `${file}: cannot parse ${bad.join(' and ')} as host:port` };
  const controlPlane = input.controlPlane ?? cp;
  const konnectivity = input.konnectivity ?? kn;
  const joinToken = typeof k0s.joinToken === 'string' && k0s.joinToken.trim() ? k0s.joinToken : undefined;
  return { ...(controlPlane ? { controlPlane } : {}), ...(konnectivity ? { konnectivity } : {}), ...(joinToken ? { joinToken } : {}), source: file };
}

/** Throws a ConfigError naming the bad --skip / --deadline value and the valid ones. */
export function validateRunInput(input: Pick<PreflightInput, 'skip' | 'deadlineMs'>, checks: readonly CheckDef[]): void {
  const names = checks.map((c) => c.name);
  const problems = input.skip
    .filter((s) => !names.includes(s))
    .map((s) => ({ variable: '--skip', item: s, message: `unknown check ${JSON.stringify(s)}; valid names: ${names.join(', ')}` }));
  if (!Number.isInteger(input.deadlineMs) || input.deadlineMs < 1 || input.deadlineMs > MAX_DEADLINE_MS) {
    problems.push({
      variable: '--deadline',
      item: String(input.deadlineMs),
      message: `deadline ${JSON.stringify(String(input.deadlineMs))} must be a whole number of milliseconds from 1 to ${MAX_DEADLINE_MS} (default ${DEFAULT_DEADLINE_MS})`,
    });
  }
  if (problems.length) throw new ConfigError(problems);
}

const TIMED_OUT = Symbol('timed out');

export async function runChecks(host: Host, input: PreflightInput, checks: readonly CheckDef[]): Promise<PreflightReport> {
  validateRunInput(input, checks);
  const started = performance.now();
  const deadlineAt = started + input.deadlineMs;
  const ctx: CheckContext = {
    host,
    input,
    remainingMs: () => Math.max(1, Math.floor(deadlineAt - performance.now())),
    facts: memo((): Promise<SystemFacts> => host.system()),
    pid1: memo(async () => (await host.readFile(PID1_COMM_FILE))?.trim()),
    endpoints: memo(() => readEndpoints(host, input)),
  };

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), input.deadlineMs);
  });

  const runOne = async (c: CheckDef): Promise<CheckResult> => {
    const base = { name: c.name, title: c.title, severity: c.severity };
    if (input.skip.includes(c.name)) {
      return { ...base, status: 'skip', message: 'skipped by --skip', durationMs: 0, timedOut: false };
    }
    const t0 = performance.now();
    let outcome: CheckOutcome | typeof TIMED_OUT;
    try {
      // Promise.resolve().then: a check that throws synchronously still becomes a result.
      outcome = await Promise.race([Promise.resolve().then(() => c.run(ctx)), deadline]);
    } catch (e) {
      outcome = { ok: false, message: `check failed unexpectedly: ${e instanceof Error ? e.message : String(e)}` };
    }
    const durationMs = Math.round(performance.now() - t0);
    const failed: CheckStatus = c.severity === 'error' ? 'fail' : 'warn';
    if (outcome === TIMED_OUT) {
      return { ...base, status: failed, message: `timed out after ${input.deadlineMs} ms`, remediation: c.remediation, durationMs, timedOut: true };
    }
    if ('skipped' in outcome) return { ...base, status: 'skip', message: outcome.message, durationMs, timedOut: false };
    if (outcome.ok) return { ...base, status: 'pass', message: outcome.message, durationMs, timedOut: false };
    return { ...base, status: failed, message: outcome.message, remediation: outcome.remediation ?? c.remediation, durationMs, timedOut: false };
  };

  let results: CheckResult[];
  try {
    results = await Promise.all(checks.map(runOne));
  } finally {
    clearTimeout(timer);
  }
  const counts: Record<CheckStatus, number> = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const r of results) counts[r.status]++;
  return {
    ok: counts.fail === 0,
    deadlineMs: input.deadlineMs,
    durationMs: Math.round(performance.now() - started),
    counts,
    checks: results,
  };
}
