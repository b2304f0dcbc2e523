import { loadConfig } from '../config/load.ts';
import { resolveLogFormat, WarnThrottle } from '../log/journal.ts';
import { createLogger, setLogger } from '../log/logger.ts';
import { runDaemon } from '../reconcile/daemon.ts';
import { lifecycleHooks } from '../reconcile/lifecycle.ts';
import { StartupLogShipper } from '../reconcile/logship.ts';
import { allSteps } from '../reconcile/steps.ts';
import type { CommandContext } from './context.ts';

/**
 * `run`: the daemon (systemd's ExecStart). `--once` reconciles once and exits.
 * A pass every 60 s ± 20 % applies only drift; see agent/reconcile/lifecycle.ts
 * for status reports, startup-log upload and edge removal.
 */
export default async function run(ctx: CommandContext, opts: { once?: boolean; skip?: string[] }): Promise<number> {
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  const shipper = new StartupLogShipper();
  // In the journal: readable lines with a syslog priority; an unchanged warning at most hourly.
  const log = createLogger({
    level: cfg.logLevel,
    format: resolveLogFormat(cfg.logFormat),
    throttle: new WarnThrottle(),
    tap: (line) => shipper.push(line),
    write: (line) => void process.stdout.write(line),
  });
  setLogger(log);
  for (const w of cfg.warnings) log.warn(w);
  // INITD_LOG_LEVEL=debug: every command and probe with its duration (where a slow pass goes).
  const host = log.isLevelEnabled('debug') ? (await import('../host/trace.ts')).tracingHost(ctx.host, log) : ctx.host;
  const ac = new AbortController();
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, `received ${sig}: finishing the current action, then stopping`);
    ac.abort();
    // Hard bound: systemd's TimeoutStopSec is 15 s; leave within 10 s whatever happens.
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const steps = await allSteps({ ...(opts.skip ? { skip: opts.skip } : {}) });
  const hooks = lifecycleHooks({ host, cfg, log, shipper, signal: ac.signal, once: Boolean(opts.once), underSystemd: Boolean(ctx.env.INVOCATION_ID) });
  const { collectGarbage } = await import('../reconcile/gc.ts');
  const afterPass: NonNullable<typeof hooks.afterPass> = async (state, r) => {
    const next = await hooks.afterPass?.(state, r);
    if (!opts.once) collectGarbage(); // idle memory: back to the live set before the minute's sleep
    return next;
  };
  const code = await runDaemon({ host, cfg, log, steps, once: Boolean(opts.once), afterPass, teardown: hooks.teardown }, ac.signal);
  ac.abort();
  await hooks.stopped();
  return code;
}
