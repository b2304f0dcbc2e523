import { loadConfig } from '../config/load.ts';
import { EXIT } from '../errors.ts';
import { JournalWriter } from '../reconcile/journal.ts';
import { summaryLine } from '../reconcile/runner.ts';
import { StateStore } from '../state/store.ts';
import type { CommandContext } from './context.ts';
import { statusNode, statusNodeLine } from './status-node.ts';
import { controlPlaneStatus, printControlPlaneStatus } from './status-control-plane.ts';

interface WireguardStatus {
  latestHandshakeSeconds: number | null;
  rxBytes: number;
  txBytes: number;
}

/** `status`: each step's state, the last error with its remediation, handshake age, k0sworker. Reads only. */
export default async function status(ctx: CommandContext, opts: { json?: boolean }): Promise<number> {
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  const store = new StateStore(ctx.host, cfg.stateDir);
  const journal = await JournalWriter.load(store);
  const reg = await store.read<{ edge?: { id?: string; name?: string; phase?: string } }>('register.json');
  const wg = await store.read<WireguardStatus>('wireguard-status.json');
  const k0s = await ctx.host.exec('systemctl', ['is-active', 'k0sworker.service'], { timeoutMs: 5000 });
  const k0sActive = !k0s.notFound && k0s.stdout.trim() === 'active';
  const node = await statusNode(ctx.host, cfg, store, journal);
  const doc = {
    summary: journal ? summaryLine(journal, reg?.edge?.name) : 'not started yet (no journal)',
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
  if (opts.json) {
    ctx.out(JSON.stringify(doc, null, 2));
    return EXIT.OK;
  }
  ctx.out(`castai-edge-initd: ${doc.summary}`);
  if (doc.edge) ctx.out(`edge:       ${doc.edge.name ?? '?'} (${doc.edge.id ?? '?'})`);
  ctx.out(`phase:      ${doc.phase ?? '-'}${doc.updatedAt ? `   (updated ${doc.updatedAt})` : ''}`);
  ctx.out(`k0sworker:  ${doc.k0sworker.state}`);
  ctx.out(`node:       ${statusNodeLine(node)}`);
  printControlPlaneStatus(doc, ctx.out);
  ctx.out(`wireguard:  ${wg ? (wg.latestHandshakeSeconds === null ? 'no handshake yet' : `last handshake ${wg.latestHandshakeSeconds}s ago, rx ${wg.rxBytes} B, tx ${wg.txBytes} B`) : '-'}`);
  if (doc.steps.length) {
    ctx.out('\nSTEP        STATE     TIME     MESSAGE');
    for (const s of doc.steps) {
      const t = s.durationMs === undefined ? '-' : `${(s.durationMs / 1000).toFixed(2)}s`;
      ctx.out(`${s.name.padEnd(11)} ${s.state.padEnd(9)} ${t.padEnd(8)} ${s.state === 'failed' ? s.error ?? '' : s.message}`);
      if (s.state === 'failed' && s.failures && s.failures.count > 1)
        ctx.out(`${''.padEnd(30)}failed ${s.failures.count} times in a row since ${s.failures.since}${s.failures.retryAt ? `; not applied again before ${s.failures.retryAt} unless its plan changes (or restart the agent)` : ''}`);
    }
  }
  if (doc.lastError) ctx.out(`\nlast error (${doc.lastError.step}, ${doc.lastError.at}): ${doc.lastError.message}${doc.lastError.remediation ? `\n  fix: ${doc.lastError.remediation}` : ''}`);
  return EXIT.OK;
}
