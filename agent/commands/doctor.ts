/**
 * `castai-edge-initd doctor`: run the preflight checks and print a table (or
 * JSON with --json). Read-only. Exit 0 when no ERROR check failed, 3 when one
 * did, 2 on a configuration or usage error (bad --skip, bad --deadline).
 */
import { ConfigError, EXIT } from '../errors.ts';
import { loadConfig } from '../config/load.ts';
import type { AgentConfig } from '../config/types.ts';
import { scrub } from '../log/logger.ts';
import { CHECKS, DEFAULT_DEADLINE_MS, inspect, validateRunInput } from '../preflight/preflight.ts';
import { proxyFor } from '../preflight/proxy.ts';
import { renderTable } from '../preflight/render.ts';
import type { PreflightInput } from '../preflight/types.ts';
import { reportFatal } from './fatal.ts';
import type { CommandContext } from './context.ts';

export interface DoctorOptions {
  skip?: string[] | string;
  deadline?: string | number;
  json?: boolean;
  envFile?: string;
}

/** `--skip a --skip b,c` -> [a, b, c]. */
export function parseSkip(skip: DoctorOptions['skip']): string[] {
  const list = skip === undefined ? [] : Array.isArray(skip) ? skip : [skip];
  return [...new Set(list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))];
}

/** `--deadline 2500` -> 2500; anything but a whole number of ms is a usage error (exit 2). */
export function parseDeadline(d: DoctorOptions['deadline']): number {
  if (d === undefined || d === '') return DEFAULT_DEADLINE_MS;
  if (typeof d === 'number') return d;
  if (/^\s*\d+\s*$/.test(d)) return Number(d);
  throw new ConfigError([
    { variable: '--deadline', item: d, message: `deadline ${JSON.stringify(d)} is not a whole number of milliseconds; e.g. --deadline ${DEFAULT_DEADLINE_MS}` },
  ]);
}

export function preflightInput(config: Pick<AgentConfig, 'apiUrl' | 'stateDir' | 'proxy'>, skip: string[], deadlineMs: number): PreflightInput {
  const apiProxy = proxyFor(config.apiUrl, config.proxy ?? {});
  return { apiUrl: config.apiUrl, ...(apiProxy ? { apiProxy } : {}), stateDir: config.stateDir, skip, deadlineMs };
}

export default async function doctor(ctx: CommandContext, opts: DoctorOptions = {}): Promise<number> {
  const json = Boolean(opts.json ?? ctx.json);
  const fatalCtx = { ...ctx, json };
  const skip = parseSkip(opts.skip);
  let deadlineMs: number;
  let config: AgentConfig;
  try {
    // Usage errors first: they do not depend on the environment.
    deadlineMs = parseDeadline(opts.deadline);
    validateRunInput({ skip, deadlineMs }, CHECKS);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (json) ctx.out(JSON.stringify({ ok: false, exitCode: EXIT.CONFIG, errors: e.problems }, null, 2));
    else for (const p of e.problems) ctx.err(`doctor: ${p.variable}: ${p.message}`);
    return EXIT.CONFIG;
  }
  try {
    const envFile = ctx.envFile ?? opts.envFile;
    config = await loadConfig(ctx.host, { env: ctx.env, ...(envFile ? { envFile } : {}) });
  } catch (e) {
    if (e instanceof ConfigError) return reportFatal(fatalCtx, e);
    throw e;
  }

  const report = await inspect(ctx.host, preflightInput(config, skip, deadlineMs));
  const exitCode = report.ok ? EXIT.OK : EXIT.PREFLIGHT;
  if (json) {
    ctx.out(scrub(JSON.stringify({ ...report, exitCode, apiUrl: config.apiUrl, stateDir: config.stateDir, warnings: config.warnings ?? [] }, null, 2)));
  } else {
    for (const w of config.warnings ?? []) ctx.err(scrub(`warning: ${w}`));
    ctx.out(scrub(renderTable(report)));
  }
  return exitCode;
}
