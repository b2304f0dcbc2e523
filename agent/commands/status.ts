import { loadConfig } from '../config/load.ts';
import { DEFAULT_STATE_DIR, REGISTER_FILE, WG_STATUS_FILE } from '../state/files.ts';
import type { AgentConfig } from '../config/types.ts';
import { parseStateDir } from '../config/validate.ts';
import { ConfigError, EXIT } from '../errors.ts';
import { daemonLine, inspectDaemon } from '../reconcile/daemon-state.ts';
import { JournalWriter } from '../reconcile/journal.ts';
import { summaryLine } from '../reconcile/runner.ts';
import { StateStore } from '../state/store.ts';
import { K0S_UNIT } from '../k0s/paths.ts';
import type { CommandContext } from './context.ts';
import { statusNode, statusNodeLine } from './status-node.ts';
import { controlPlaneStatus, printControlPlaneStatus } from './status-control-plane.ts';
import { formatConfigError } from './fatal.ts';

interface WireguardStatus {
  latestHandshakeSeconds: number | null;
  rxBytes: number;
  txBytes: number;
}

/**
 * `status`: whether the daemon runs (systemd), each step's state, the last error with its
 * remediation, handshake age, k0sworker. Reads only.
 * Exit: 0 = the daemon runs and its last pass did not fail (or its first pass is still going);
 * 1 = it runs but its last pass failed; 3 = it is not running (stopped, failed, or restarting
 * after an exit); 2 = it runs, but the configuration this command sees is invalid. A configuration
 * error does not hide the daemon's state: it is printed with it (the daemon may be restarting
 * for that very reason). Without systemd the journal alone decides between 0 and 1.
 */
export default async function status(ctx: CommandContext, opts: { json?: boolean }): Promise<number> {
  let stateDir: string;
  let cfg: AgentConfig | undefined;
  let configError: ConfigError | undefined;
  try {
    cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
    stateDir = cfg.stateDir;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    configError = e;
    const dir = parseStateDir(ctx.env.INITD_STATE_DIR ?? '');
    stateDir = dir.ok ? dir.value : DEFAULT_STATE_DIR;
  }
  const store = new StateStore(ctx.host, stateDir);
  const journal = await JournalWriter.load(store);
  const reg = await store.read<{ edge?: { id?: string; name?: string; phase?: string } }>(REGISTER_FILE);
  const wg = await store.read<WireguardStatus>(WG_STATUS_FILE);
  const k0s = await ctx.host.exec('systemctl', ['is-active', K0S_UNIT], { timeoutMs: 5000 });
  const k0sActive = !k0s.notFound && k0s.stdout.trim() === 'active';
  // The live Node read needs a valid configuration (CA, proxy): without one it is not attempted.
  const node = cfg ? await statusNode(ctx.host, cfg, store, journal) : null;
  const daemon = await inspectDaemon(ctx.host);
  const notRunning = ['restarting', 'stopped', 'failed', 'not-installed', 'stopping'].includes(daemon.condition);
  const written = journal ? summaryLine(journal, reg?.edge?.name) : 'not started yet (no journal)';
  const lastPassFailed = Boolean(journal?.steps.some((s) => s.state === 'failed'));
  const doc = {
    // When the daemon is not running, what it last wrote is stale: the summary says so first.
    summary: notRunning ? `${daemonLine(daemon)}${daemon.lastError ? `; its last error: ${daemon.lastError.split('\n')[0]}` : ''}` : written,
    running: !notRunning,
    daemon,
    configErrors: configError?.problems ?? null,
    lastWritten: written,
    phase: journal?.phase ?? null,
    edge: reg?.edge ?? null,
    updatedAt: journal?.updatedAt ?? null,
    steps: journal?.steps ?? [],
    lastError: journal?.lastError ?? null,
    wireguard: wg ?? null,
    k0sworker: { active: k0sActive, state: k0s.notFound ? 'systemctl not found' : k0s.stdout.trim() || `unknown (${k0s.stderr.trim().split('\n')[0] ?? ''})` },
    node,
    ...(await controlPlaneStatus(store)),
  };
  // While starting, the failed steps in the journal are the previous process's: its first pass is still going.
  const code = notRunning ? EXIT.NOT_RUNNING : configError ? EXIT.CONFIG : lastPassFailed && daemon.condition !== 'starting' ? EXIT.RUNTIME : EXIT.OK;
  if (opts.json) {
    ctx.out(JSON.stringify(doc, null, 2));
    return code;
  }
  ctx.out(`castai-edge-initd: ${doc.summary}`);
  if (daemon.condition !== 'unknown') ctx.out(`daemon:     ${daemonLine(daemon)}`);
  if (configError) ctx.out(formatConfigError(configError));
  if (notRunning) {
    if (daemon.lastError) ctx.out(`last error (from its journal):\n${daemon.lastError.replace(/^/gm, '  ')}`);
    ctx.out(`last state it wrote (stale while it is not running): ${written}`);
  }
  if (doc.edge) ctx.out(`edge:       ${doc.edge.name ?? '?'} (${doc.edge.id ?? '?'})`);
  ctx.out(`phase:      ${doc.phase ?? '-'}${doc.updatedAt ? `   (updated ${doc.updatedAt})` : ''}`);
  ctx.out(`k0sworker:  ${doc.k0sworker.state}`);
  ctx.out(`node:       ${statusNodeLine(node)}`);
  printControlPlaneStatus(doc, ctx.out);
  ctx.out(
    `wireguard:  ${wg ? (wg.latestHandshakeSeconds === null ? 'no handshake yet' : `last handshake ${wg.latestHandshakeSeconds}s ago, rx ${wg.rxBytes} B, tx ${wg.txBytes} B`) : '-'}`,
  );
  if (doc.steps.length) {
    ctx.out('\nSTEP        STATE     TIME     MESSAGE');
    for (const s of doc.steps) {
      const t = s.durationMs === undefined ? '-' : `${(s.durationMs / 1000).toFixed(2)}s`;
      ctx.out(`${s.name.padEnd(11)} ${s.state.padEnd(9)} ${t.padEnd(8)} ${s.state === 'failed' ? s.error ?? '' : s.message}`);
      if (s.state === 'failed' && s.failures && s.failures.count > 1)
        ctx.out(
          `${''.padEnd(30)}failed ${s.failures.count} times in a row since ${s.failures.since}${s.failures.retryAt ? `; not applied again before ${s.failures.retryAt} unless its plan changes (or restart the agent)` : ''}`,
        );
    }
  }
  if (doc.lastError)
    ctx.out(
      `\nlast error (${doc.lastError.step}, ${doc.lastError.at}): ${doc.lastError.message}${doc.lastError.remediation ? `\n  fix: ${doc.lastError.remediation}` : ''}`,
    );
  return code;
}
