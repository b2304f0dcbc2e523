import { loadConfig } from '../config/load.ts';
import { createLogger, setLogger } from '../log/logger.ts';
import { jittered, runDaemon, sleep, type DaemonState } from '../reconcile/daemon.ts';
import { JOURNAL_FILE } from '../reconcile/journal.ts';
import { StartupLogShipper } from '../reconcile/logship.ts';
import { buildReport, sendReport } from '../reconcile/report.ts';
import { allSteps } from '../reconcile/steps.ts';
import { apiClient } from '../reconcile/steps/api.ts';
import { REGISTER_FILE, REGISTER_META_FILE } from '../reconcile/steps/register.ts';
import { teardownNode } from '../reconcile/teardown.ts';
import { K0S_STATE_FILE } from '../k0s/k0s.ts';
import type { CommandContext } from './context.ts';
import { AGENT_UNIT } from './reset.ts';

export const HEARTBEAT_MS = 30_000;

/**
 * `run`: the daemon (systemd's ExecStart). `--once` reconciles once and exits.
 *  - a pass every 60 s ± 20 %; only drift is applied;
 *  - reportStatus on every phase change and as a heartbeat every 30 s ± 20 %;
 *  - startup log lines go to the control plane's log sink until READY;
 *  - when the edge is removed (404, DELETING): tear down, report DELETED, disable the unit.
 */
export default async function run(ctx: CommandContext, opts: { once?: boolean; skip?: string[] }): Promise<number> {
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  const shipper = new StartupLogShipper();
  const pretty = Boolean(process.stdout.isTTY);
  const log = createLogger({
    level: cfg.logLevel,
    pretty,
    write: (line) => {
      shipper.push(line);
      process.stdout.write(line);
    },
  });
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
  let heartbeat: Promise<void> | undefined;
  let passes = 0;
  const client = async (d: DaemonState) => (d.ctx.shared.registration ? apiClient(d.ctx).catch(() => undefined) : undefined);

  const code = await runDaemon(
    {
      host: ctx.host,
      cfg,
      log,
      steps,
      once: Boolean(opts.once),
      async afterPass(d) {
        passes++;
        const c = await client(d);
        if (d.ctx.shared.edgeRemoved) return 'teardown';
        if (c && (d.phaseChanged || passes === 1)) await sendReport(c, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared), log, ac.signal);
        // The first pass ends at READY: ship the startup logs once, then stop collecting.
        if (passes === 1) await shipper.flush(c, d.ctx.shared.registration?.logs, true);
        if (!heartbeat && !opts.once) {
          heartbeat = (async () => {
            while (!ac.signal.aborted) {
              await sleep(jittered(HEARTBEAT_MS, 0.2), ac.signal);
              if (ac.signal.aborted || d.journal.journal.phase === 'TEARING_DOWN' || d.journal.journal.phase === 'DELETED') break;
              const hc = await client(d);
              if (hc) await sendReport(hc, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared), log, ac.signal);
            }
          })();
        }
      },
      async teardown(d) {
        const why = d.ctx.shared.edgeRemoved ?? 'edge removed';
        log.warn({ reason: why }, `edge removed (${why}): tearing this node down`);
        const c = await client(d);
        await d.journal.setPhase('TEARING_DOWN');
        if (c) await sendReport(c, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared, 'TEARING_DOWN'), log);
        const parts = await teardownNode(ctx.host, log, { stateDir: cfg.stateDir, removeVolumeGroup: false });
        const failed = parts.filter((p) => !p.ok);
        if (c) await sendReport(c, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared, 'DELETED'), log);
        // The edge no longer exists: forget it, so a later install registers afresh.
        for (const f of [REGISTER_FILE, REGISTER_META_FILE, K0S_STATE_FILE]) await d.ctx.store.remove(f);
        await d.journal.setPhase('DELETED');
        await d.notifier.status(failed.length ? `edge deleted; teardown had ${failed.length} problem(s), see the journal` : 'edge deleted; node torn down');
        log.info({ journal: d.ctx.store.path(JOURNAL_FILE) }, `teardown ${failed.length ? `finished with ${failed.length} problem(s)` : 'complete'}; disabling ${AGENT_UNIT}`);
        if (ctx.env.INVOCATION_ID) {
          await ctx.host.exec('systemctl', ['disable', AGENT_UNIT], { timeoutMs: 30_000 });
          await ctx.host.exec('systemctl', ['stop', '--no-block', AGENT_UNIT], { timeoutMs: 30_000 });
        }
      },
    },
    ac.signal,
  );
  ac.abort();
  await heartbeat;
  return code;
}
