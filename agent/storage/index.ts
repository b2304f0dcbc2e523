/**
 * The storage step: NVMe disks -> LVM (striped) -> xfs -> /var/lib/k0s.
 *
 *   planStorageStep(host, cfg, stateDir)  inspect + plan, changes nothing (for `plan`)
 *   runStorageStep(host, cfg, stateDir)   inspect -> plan -> apply (for `run`); with {quick}, a proven
 *                                         steady state (./quick.ts) skips the full inspect
 *   storageStep                           the same as a reconcile `Step`
 *   teardownStorage(...)                  for `reset` / edge removal (./teardown.ts)
 */
import { DEFAULT_STATE_DIR } from '../state/files.ts';
import type { Host } from '../host/host.ts';
import { planKey } from '../reconcile/backoff.ts';
import type { Step, StepContext, StepPlan, StepResult } from '../reconcile/step.ts';
import type { Subsystem } from '../subsystem.ts';
import { applyStorage, refusalError, type ApplyResult } from './apply.ts';
import { inspectStorage } from './inspect.ts';
import { censusOf, renderCensus, type DiskCensus } from './census.ts';
import { censusPath, steadyStorage } from './quick.ts';
import { describeStorage, desiredFromConfig, planStorage, renderStoragePlan } from './plan.ts';
import type { StorageAction, StorageActual, StorageDesired, StoragePlan } from './types.ts';

export { desiredFromConfig, describeStorage, planStorage, renderStoragePlan, inspectStorage, applyStorage, refusalError };
export { planTeardown, teardownStorage } from './teardown.ts';
import { planTeardown, type TeardownOptions, type TeardownPlan } from './teardown.ts';

/** What `reset` would do to storage, changing nothing (for its confirmation prompt / dry run). */
export async function planStorageTeardown(host: Host, stateDir: string, o: TeardownOptions): Promise<TeardownPlan> {
  const desired = desiredFromConfig({ stateDir });
  return planTeardown(desired, await inspectStorage(host, desired), o);
}
export type { StorageAction, StorageActual, StorageDesired, StoragePlan };

/** What the storage step needs from AgentConfig (structurally compatible with it). */
export interface StorageConfig {
  nvmeDevices?: string[] | undefined;
}

export interface StorageStepResult {
  plan: StoragePlan;
  apply?: ApplyResult;
  /** One line for the journal: "mounted castai-edge/k0s (2 stripes) at /var/lib/k0s", "nothing to do"... */
  summary: string;
  changed: boolean;
  /** Milliseconds spent in inspect+plan and in apply. */
  timings: { inspectPlanMs: number; applyMs: number };
}

export async function planStorageStep(host: Host, cfg: StorageConfig, stateDir: string): Promise<{ desired: StorageDesired; actual: StorageActual; plan: StoragePlan }> {
  const desired = desiredFromConfig({ nvmeDevices: cfg.nvmeDevices, stateDir });
  const actual = await inspectStorage(host, desired);
  return { desired, actual, plan: planStorage(desired, actual) };
}

/**
 * inspect -> plan -> apply. Throws AgentError (exit code 2) on a refusal, having
 * changed nothing; throws AgentError (exit 1) when a command fails mid-way (a
 * re-run resumes).
 */
export async function runStorageStep(
  host: Host,
  cfg: StorageConfig,
  stateDir: string,
  onProgress?: (line: string) => void,
  opts: { quick?: boolean; beforeApply?: (planKey: string) => void } = {},
): Promise<StorageStepResult> {
  const t0 = performance.now();
  if (opts.quick) {
    // The daemon's steady state: proven unchanged from /proc and /sys, no process (./quick.ts).
    const q = await steadyStorage(host, desiredFromConfig({ nvmeDevices: cfg.nvmeDevices, stateDir }));
    if (q.ok) {
      const plan: StoragePlan = { actions: [], notes: [], disks: [], refused: false, summary: q.skipped ?? 'nothing to do (mounted, on the recorded disks)' };
      return { plan, summary: plan.summary, changed: false, timings: { inspectPlanMs: Math.round(performance.now() - t0), applyMs: 0 } };
    }
  }
  const { desired, actual, plan } = await planStorageStep(host, cfg, stateDir);
  const t1 = performance.now();
  for (const n of plan.notes) onProgress?.(`storage: ${n}`);
  if (plan.refused) throw refusalError(plan);
  if (plan.actions.length === 0) {
    await recordCensus(host, desired, censusOf(desired, actual, plan, false));
    return { plan, summary: plan.summary, changed: false, timings: { inspectPlanMs: Math.round(t1 - t0), applyMs: 0 } };
  }
  // The daemon's backoff (agent/reconcile/backoff.ts): throws instead of re-running a plan that just failed.
  opts.beforeApply?.(planKey(plan.actions));
  const deviceInfo = plan.disks.map((x) => ({ path: x.path, serial: x.serial, model: x.model, sizeBytes: x.size }));
  const res = await applyStorage(host, desired, plan, { deviceInfo, ...(onProgress ? { onProgress } : {}) });
  await recordCensus(host, desired, censusOf(desired, actual, plan, true));
  const t2 = performance.now();
  return { plan, apply: res, summary: `${plan.summary} — done`, changed: res.changed, timings: { inspectPlanMs: Math.round(t1 - t0), applyMs: Math.round(t2 - t1) } };
}

/**
 * Keep the disk census (./census.ts) for the next steady-state pass: written only when it changed,
 * removed when this pass proved nothing a later one could rely on.
 */
async function recordCensus(host: Host, desired: StorageDesired, census: DiskCensus | undefined): Promise<void> {
  const file = censusPath(desired);
  const text = census ? renderCensus(census) : undefined;
  const old = await host.readFile(file);
  if (old === text) return;
  if (text === undefined) await host.remove(file);
  else await host.writeFileAtomic(file, text, { mode: 0o600, dirMode: 0o700 });
}

/** The reconcile step (agent/reconcile/step.ts). */
export const storageStep: Step = {
  name: 'storage',
  async plan(ctx: StepContext): Promise<StepPlan> {
    const { plan } = await planStorageStep(ctx.host, ctx.cfg, ctx.store.dir);
    const refused = plan.refused ? refusalError(plan) : undefined;
    return {
      step: 'storage',
      summary: plan.summary,
      actions: plan.actions,
      details: { ...describeStorage(plan), ...(plan.layout ? { layout: plan.layout } : {}), text: renderStoragePlan(plan) },
      ...(refused ? { error: { message: refused.message, remediation: refused.remediation } } : {}),
    };
  },
  async run(ctx: StepContext): Promise<StepResult> {
    const r = await runStorageStep(ctx.host, ctx.cfg, ctx.store.dir, (l) => ctx.log.info({ step: 'storage' }, l), { quick: true, ...(ctx.beforeApply ? { beforeApply: ctx.beforeApply } : {}) });
    const skipped = !r.changed && r.plan.actions.length === 0 && r.plan.summary.startsWith('skipped');
    return { state: skipped ? 'skipped' : 'done', summary: r.summary, changed: r.changed };
  },
};

/** The subsystem shape (agent/subsystem.ts); `desired` carries NVME_DEVICES and the state file path. */
export const storageSubsystem: Subsystem<StorageDesired, StorageActual, StorageAction> = {
  name: 'storage',
  inspect: (host) => inspectStorage(host, desiredFromConfig({ stateDir: DEFAULT_STATE_DIR })),
  plan: (desired, actual) => planStorage(desired, actual).actions,
  apply: async (host, actions) => {
    const desired = desiredFromConfig({ stateDir: DEFAULT_STATE_DIR });
    const plan: StoragePlan = { actions, notes: [], disks: [], refused: actions.some((a) => a.kind === 'storage.refuse'), summary: '' };
    await applyStorage(host, desired, plan);
  },
};
