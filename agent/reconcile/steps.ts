import { gpuStep } from './steps/gpu.ts';
import { k0sStep } from './steps/k0s.ts';
import { preflightStep } from './steps/preflight.ts';
import { registerStep } from './steps/register.ts';
import { storageStep } from './steps/storage.ts';
import { wireguardStep } from './steps/wireguard.ts';
import type { Step } from './step.ts';

export interface StepOptions {
  skip?: string[];
  preflightDeadlineMs?: number;
}

/**
 * The ordered steps of a reconcile pass:
 *   preflight → register → storage → gpu → wireguard → k0s
 * Storage is mounted and MIG applied before k0s starts its worker.
 */
export async function allSteps(opts: StepOptions = {}): Promise<Step[]> {
  return [
    preflightStep({ ...(opts.skip ? { skip: opts.skip } : {}), ...(opts.preflightDeadlineMs ? { deadlineMs: opts.preflightDeadlineMs } : {}) }),
    registerStep(),
    storageStep(),
    gpuStep(),
    wireguardStep(),
    k0sStep(),
  ];
}
