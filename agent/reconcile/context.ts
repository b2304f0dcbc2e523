import type { Logger } from 'pino';
import type { AgentConfig } from '../config/types.ts';
import type { Host } from '../host/host.ts';
import { StateStore } from '../state/store.ts';
import type { SharedState, StepContext } from './step.ts';
import { readBoundRegistration } from './steps/register.ts';

/** Builds the context every step receives; loads the saved register response if there is one for this control plane. */
export async function stepContext(host: Host, cfg: AgentConfig, log: Logger, signal: AbortSignal): Promise<StepContext> {
  const store = new StateStore(host, cfg.stateDir);
  const shared: SharedState = { extraLabels: {} };
  const reg = await readBoundRegistration(store, cfg);
  if (reg) shared.registration = reg;
  return { host, cfg, store, log, signal, shared };
}
