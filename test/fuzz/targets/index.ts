/** Every fuzz target, in report order. */
import type { FuzzTarget } from '../harness.ts';
import { apiTargets } from './api.ts';
import { configTargets } from './config.ts';
import { gpuTargets } from './gpu.ts';
import { k0sTargets } from './k0s.ts';
import { planCommandTargets, planTargets } from './plan.ts';
import { preflightTargets } from './preflight.ts';
import { storageTargets } from './storage.ts';
import { wireguardTargets } from './wireguard.ts';

export async function allTargets(): Promise<FuzzTarget[]> {
  return [
    ...configTargets,
    ...gpuTargets,
    ...(await storageTargets()),
    ...wireguardTargets,
    ...apiTargets,
    ...k0sTargets,
    ...preflightTargets,
    ...(await planTargets()),
    ...(await planCommandTargets()),
  ];
}
