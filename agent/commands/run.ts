import { loadConfig } from '../config/load.ts';
import { createLogger, setLogger } from '../log/logger.ts';
import { runDaemon } from '../reconcile/daemon.ts';
import { allSteps } from '../reconcile/steps.ts';
import type { CommandContext } from './context.ts';

/** `run`: the daemon (systemd's ExecStart). `--once` reconciles once and exits. */
export default async function run(ctx: CommandContext, opts: { once?: boolean; skip?: string[] }): Promise<number> {
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  const log = createLogger({ level: cfg.logLevel });
  setLogger(log);
  for (const w of cfg.warnings) log.warn(w);
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
  return runDaemon({ host: ctx.host, cfg, log, steps, once: Boolean(opts.once) }, ac.signal);
}
