/**
 * The storage step's phases: NVMe disks -> LVM (striped) -> xfs -> /var/lib/k0s.
 *
 *   desiredFromConfig(cfg)             what the step wants (NVME_DEVICES, the state dir)
 *   steadyState(host, desired)         the daemon's steady state, proven from /proc and /sys (./quick.ts)
 *   inspectStorage(host, desired)      read the host (./inspect.ts)
 *   planStorage(desired, actual)       pure: actions, typed refusals, or a typed skip (./plan.ts)
 *   applyStoragePlan(...)              executes exactly the plan's actions (./apply.ts), keeps the disk census
 *
 * The reconcile step is agent/reconcile/steps/storage.ts (the generic adapter); runStorageStep below
 * strings the same phases together for the bench, the fuzzer and the tests that drive storage alone.
 * teardownStorage(...) is for `reset` / edge removal (./teardown.ts).
 */
import type { Host } from '../host/host.ts';
import { applyStorage, refusalError, storageRefusal, type ApplyResult } from './apply.ts';
import { inspectStorage } from './inspect.ts';
import { censusOf, renderCensus, type DiskCensus } from './census.ts';
import { censusPath, steadyStorage } from './quick.ts';
import { describeStorage, desiredFromConfig, planStorage, renderStoragePlan } from './plan.ts';
import type { StorageActual, StorageDesired, StoragePlan } from './types.ts';

export { desiredFromConfig, describeStorage, planStorage, renderStoragePlan, inspectStorage, applyStorage, refusalError, storageRefusal };
export { planTeardown, teardownStorage } from './teardown.ts';
export type { StorageActual, StorageDesired, StoragePlan };

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

/** The steady state proven without a process (./quick.ts): the summary, and whether it is a skip; undefined = inspect. */
export async function steadyState(host: Host, desired: StorageDesired): Promise<{ summary: string; skipped: boolean } | undefined> {
  const q = await steadyStorage(host, desired);
  if (!q.ok) return undefined;
  return q.skipped ? { summary: q.skipped, skipped: true } : { summary: 'nothing to do (mounted, on the recorded disks)', skipped: false };
}

export async function planStorageStep(
  host: Host,
  cfg: StorageConfig,
  stateDir: string,
): Promise<{ desired: StorageDesired; actual: StorageActual; plan: StoragePlan }> {
  const desired = desiredFromConfig({ nvmeDevices: cfg.nvmeDevices, stateDir });
  const actual = await inspectStorage(host, desired);
  return { desired, actual, plan: planStorage(desired, actual) };
}

/**
 * Apply a plan that is not refused: exactly its actions (none: nothing runs), then keep the disk census
 * for the next steady-state pass. Throws AgentError (exit 1) when a command fails mid-way (a re-run resumes).
 */
export async function applyStoragePlan(
  host: Host,
  desired: StorageDesired,
  actual: StorageActual,
  plan: StoragePlan,
  onProgress?: (line: string) => void,
): Promise<{ apply?: ApplyResult; summary: string; changed: boolean }> {
  if (plan.actions.length === 0) {
    await recordCensus(host, desired, censusOf(desired, actual, plan, false));
    return { summary: plan.summary, changed: false };
  }
  const deviceInfo = plan.disks.map((x) => ({ path: x.path, serial: x.serial, model: x.model, sizeBytes: x.size }));
  const res = await applyStorage(host, desired, plan, { deviceInfo, ...(onProgress ? { onProgress } : {}) });
  await recordCensus(host, desired, censusOf(desired, actual, plan, true));
  return { apply: res, summary: `${plan.summary} — done`, changed: res.changed };
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
  opts: { quick?: boolean } = {},
): Promise<StorageStepResult> {
  const t0 = performance.now();
  if (opts.quick) {
    const q = await steadyState(host, desiredFromConfig({ nvmeDevices: cfg.nvmeDevices, stateDir }));
    if (q) {
      const plan: StoragePlan = { actions: [], refusals: [], notes: [], disks: [], refused: false, skipped: q.skipped, summary: q.summary };
      return { plan, summary: plan.summary, changed: false, timings: { inspectPlanMs: Math.round(performance.now() - t0), applyMs: 0 } };
    }
  }
  const { desired, actual, plan } = await planStorageStep(host, cfg, stateDir);
  const t1 = performance.now();
  for (const n of plan.notes) onProgress?.(`storage: ${n}`);
  if (plan.refused) throw refusalError(plan);
  const r = await applyStoragePlan(host, desired, actual, plan, onProgress);
  const t2 = performance.now();
  return { plan, ...r, timings: { inspectPlanMs: Math.round(t1 - t0), applyMs: r.apply ? Math.round(t2 - t1) : 0 } };
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
