import { skip } from '../../contract.ts';
import {
  applyStoragePlan,
  describeStorage,
  desiredFromConfig,
  inspectStorage,
  planStorage,
  renderStoragePlan,
  steadyState,
  storageRefusal,
  type StorageActual,
  type StorageDesired,
  type StoragePlan,
} from '../../storage/index.ts';
import { stepOf } from '../contract.ts';
import type { Step } from '../step.ts';

const view = (p: StoragePlan) => ({ ...describeStorage(p), ...(p.layout ? { layout: p.layout } : {}), text: renderStoragePlan(p) });

/**
 * Step 3: NVMe disks -> LVM (striped) -> xfs -> /var/lib/k0s (agent/storage/). A refused plan stops the
 * pass having changed nothing; a steady state proven from /proc and /sys runs no process (quick.ts).
 * Opts in to the daemon's backoff (docs/decisions/0173).
 */
export function storageStep(): Step {
  return stepOf<StorageDesired, StorageActual, StoragePlan>({
    name: 'storage',
    backoff: true,
    desired: async (ctx) => desiredFromConfig({ nvmeDevices: ctx.cfg.nvmeDevices, stateDir: ctx.store.dir }),
    async steady(ctx, desired) {
      const q = await steadyState(ctx.host, desired);
      return q === undefined ? undefined : q.skipped ? skip(q.summary) : q.summary;
    },
    inspect: (ctx, desired) => inspectStorage(ctx.host, desired),
    plan(desired, actual) {
      const p = planStorage(desired, actual);
      return p.refused ? { ...storageRefusal(p), details: view(p), notes: p.notes } : p;
    },
    show: (p) => ({ summary: p.summary, details: view(p) }),
    async apply(ctx, p, desired, actual) {
      const r = await applyStoragePlan(ctx.host, desired, actual, p, (l) => ctx.log.info({ step: 'storage' }, l));
      return { summary: r.summary, changed: r.changed, skipped: p.skipped };
    },
  });
}
