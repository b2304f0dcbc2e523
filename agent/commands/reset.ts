import { loadConfig } from '../config/load.ts';
import { EXIT } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import type { Journal } from '../reconcile/journal.ts';
import { JOURNAL_FILE } from '../state/files.ts';
import { AGENT_UNIT } from '../reconcile/lifecycle.ts';
import { teardownNode } from '../reconcile/teardown.ts';
import { StateStore } from '../state/store.ts';
import type { CommandContext } from './context.ts';

/**
 * `reset --yes-really-reset`: tear this node down by hand, in the same order
 * as an edge removal: stop and disable the agent (so it does not re-join),
 * stop k0sworker, k0s reset, WireGuard down, storage teardown. The
 * registration is kept, so re-running the installer re-joins as the same edge.
 */
export default async function reset(ctx: CommandContext, opts: { yesReallyReset?: boolean; removeVolumeGroup?: boolean }): Promise<number> {
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  if (!opts.yesReallyReset) {
    ctx.err(
      [
        'reset would, in this order:',
        `  1. stop and disable ${AGENT_UNIT} (so it does not re-join)`,
        '  2. stop k0sworker, unmount everything below /var/lib/k0s, k0s reset',
        `  3. delete the WireGuard interface ${cfg.wireguardInterface} if castai-edge-initd created it (another of that name is left alone)`,
        `  4. unmount /var/lib/k0s, remove its mount unit, ${opts.removeVolumeGroup ? 'REMOVE our LVM volume group (data lost)' : 'deactivate our LVM volume group (kept)'}`,
        'nothing was changed; add --yes-really-reset to do it.',
      ].join('\n'),
    );
    return EXIT.CONFIG;
  }
  const log = createLogger({ level: cfg.logLevel });
  // The daemon itself tears down through teardownNode(); this command is the operator's, so stop the agent first.
  await ctx.host.exec('systemctl', ['disable', '--now', AGENT_UNIT], { timeoutMs: 60_000 });
  const steps = await teardownNode(ctx.host, log, {
    stateDir: cfg.stateDir,
    removeVolumeGroup: Boolean(opts.removeVolumeGroup),
    wireguardInterface: cfg.wireguardInterface,
  });
  const store = new StateStore(ctx.host, cfg.stateDir);
  const j = await store.read<Journal>(JOURNAL_FILE);
  if (j)
    await store.write(JOURNAL_FILE, {
      ...j,
      phase: 'DELETED',
      updatedAt: new Date().toISOString(),
      steps: j.steps.map((s) => ({ ...s, state: 'pending', message: 'reset' })),
    });
  const failed = steps.filter((s) => !s.ok);
  ctx.out(
    failed.length
      ? `reset finished with ${failed.length} problem(s): ${failed.map((f) => `${f.what}: ${f.detail}`).join('; ')}`
      : 'reset done: k0sworker, WireGuard and our storage are gone; re-run the installer to re-join.',
  );
  return failed.length ? EXIT.RUNTIME : EXIT.OK;
}
