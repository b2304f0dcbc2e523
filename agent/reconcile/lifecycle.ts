import type { Logger } from 'pino';
import type { AgentConfig } from '../config/types.ts';
import type { Host } from '../host/host.ts';
import { jittered, sleep, type DaemonOptions, type DaemonState } from './daemon.ts';
import type { StartupLogShipper } from './logship.ts';
import { buildReport, sendReport } from './report.ts';
import { apiClient } from './steps/api.ts';
import { forgetLiveness } from './steps/liveness.ts';
import { JOURNAL_FILE, K0S_STATE_FILE, REGISTER_FILE, REGISTER_META_FILE } from '../state/files.ts';
import { teardownNode } from './teardown.ts';

export const AGENT_UNIT = 'castai-edge-initd.service';
export const HEARTBEAT_MS = 30_000;

export interface LifecycleOptions {
  host: Host;
  cfg: AgentConfig;
  log: Logger;
  shipper: StartupLogShipper;
  signal: AbortSignal;
  once: boolean;
  /** Under systemd (INVOCATION_ID set): disable and stop our own unit after an edge removal. */
  underSystemd: boolean;
  heartbeatMs?: number;
}

/**
 * What the daemon does around each pass:
 *  - reportStatus on every phase change (and after the first pass), and as a
 *    heartbeat every 30 s ± 20 % in between;
 *  - the startup logs go to the log sink once, when the first pass ends (READY);
 *  - when the register step saw the edge removed: tear down, report DELETED,
 *    forget the edge, disable our unit.
 */
export function lifecycleHooks(o: LifecycleOptions): Pick<DaemonOptions, 'afterPass' | 'teardown'> & { stopped: () => Promise<void> } {
  let heartbeat: Promise<void> | undefined;
  let passes = 0;
  const client = async (d: DaemonState) => (d.ctx.shared.registration ? apiClient(d.ctx).catch(() => undefined) : undefined);
  return {
    async afterPass(d) {
      passes++;
      if (d.ctx.shared.edgeRemoved) return 'teardown';
      const c = await client(d);
      if (c && (d.phaseChanged || passes === 1)) await sendReport(c, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared), o.log, o.signal);
      if (passes === 1) await o.shipper.flush(c, d.ctx.shared.registration?.logs, true);
      if (!heartbeat && !o.once) {
        heartbeat = (async () => {
          while (!o.signal.aborted) {
            await sleep(jittered(o.heartbeatMs ?? HEARTBEAT_MS, 0.2), o.signal);
            const phase = d.journal.journal.phase;
            if (o.signal.aborted || phase === 'TEARING_DOWN' || phase === 'DELETED') break;
            const hc = await client(d);
            if (hc) await sendReport(hc, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared), o.log, o.signal);
          }
        })();
      }
      return undefined;
    },
    async teardown(d) {
      const why = d.ctx.shared.edgeRemoved ?? 'edge removed';
      o.log.warn({ reason: why }, `edge removed (${why}): tearing this node down`);
      const c = await client(d);
      await d.journal.setPhase('TEARING_DOWN');
      if (c) await sendReport(c, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared, 'TEARING_DOWN'), o.log);
      const parts = await teardownNode(o.host, o.log, { stateDir: o.cfg.stateDir, removeVolumeGroup: false, wireguardInterface: o.cfg.wireguardInterface });
      const failed = parts.filter((p) => !p.ok);
      if (c) await sendReport(c, d.ctx.shared, buildReport(d.journal.journal, d.ctx.shared, 'DELETED'), o.log);
      // The edge no longer exists: forget it, so a later install registers afresh.
      for (const f of [REGISTER_FILE, REGISTER_META_FILE, K0S_STATE_FILE]) await d.ctx.store.remove(f);
      await forgetLiveness(d.ctx.store, d.ctx.shared);
      await d.journal.setPhase('DELETED');
      await d.notifier.status(failed.length ? `edge deleted; teardown had ${failed.length} problem(s), see the journal` : 'edge deleted; node torn down');
      o.log.info(
        { journal: d.ctx.store.path(JOURNAL_FILE) },
        `teardown ${failed.length ? `finished with ${failed.length} problem(s)` : 'complete'}; disabling ${AGENT_UNIT}`,
      );
      if (o.underSystemd) {
        await o.host.exec('systemctl', ['disable', AGENT_UNIT], { timeoutMs: 30_000 });
        await o.host.exec('systemctl', ['stop', '--no-block', AGENT_UNIT], { timeoutMs: 30_000 });
      }
    },
    async stopped() {
      await heartbeat;
    },
  };
}
