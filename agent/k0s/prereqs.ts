/**
 * What the k0s step prepares on the host before k0sworker runs, in the step's own
 * inspect → plan → apply shape: the kubelet prerequisites (hostprep.ts) and the containerd
 * registry configuration (registries.ts), every file recorded as ours (owned-files.ts).
 * `plan` shows each file with its content (credentials never) and each module and sysctl.
 */
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/types.ts';
import { execute, isRefusal, refusal, type Action, type Executors, type Refusal } from '../contract.ts';
import { runChecked } from '../host/command-failure.ts';
import type { Host } from '../host/host.ts';
import { StateStore } from '../state/store.ts';
import { inspectHostPrep, kernelExecutors, planHostPrep, type HostPrepAction, type HostPrepActual } from './hostprep.ts';
import {
  finishOwned,
  inspectOwned,
  ownedFileExecutors,
  planOwned,
  showFile,
  type DesiredFile,
  type OwnedActual,
  type OwnedApplyContext,
  type OwnedFileAction,
} from './owned-files.ts';
import { K0S_UNIT } from './paths.ts';
import { conflictingDropIns, HOSTS_DIR, REGISTRIES_DROPIN, registryFiles } from './registries.ts';

type RestartAction = Action & { kind: 'k0s.restart-for-registries' };

/** Every action the prerequisites plan; each kind has its executor in `prereqExecutors`. */
export type PrereqAction = HostPrepAction | RestartAction;

export interface PrereqPlan {
  hostPrep: HostPrepAction[];
  registries: OwnedFileAction[];
  restartK0sworker: boolean;
  /** Exactly what apply executes, in this order. */
  actions: PrereqAction[];
  lines: string[];
  warnings: string[];
}

/** What the prerequisites need from the step's context (a StepContext fits; domain code does not import agent/reconcile/). */
export interface PrereqContext {
  host: Host;
  cfg: Pick<AgentConfig, 'stateDir' | 'registries' | 'caFile' | 'registriesFile'>;
  log: Pick<Logger, 'info' | 'warn'>;
}

const REGISTRY_PREFIXES = [REGISTRIES_DROPIN, `${HOSTS_DIR}/`];

export interface PrereqActual {
  hostPrep: HostPrepActual;
  /** The registry files INITD_REGISTRIES_FILE / INITD_CA_FILE ask for. */
  files: DesiredFile[];
  /** Other drop-ins that already configure containerd's registries. */
  others: string[];
  owned: OwnedActual;
  /** k0sworker runs (read only when the CRI drop-in would change: a change then restarts it). */
  k0sworkerActive: boolean;
}

/** Read what the prerequisites depend on; changes nothing. */
export async function inspectPrereqs(ctx: PrereqContext): Promise<PrereqActual> {
  const store = new StateStore(ctx.host, ctx.cfg.stateDir);
  const hostPrep = await inspectHostPrep(ctx.host, store);
  const files = registryFiles(ctx.cfg.registries, ctx.cfg.caFile, ctx.cfg.registriesFile);
  const others = files.length ? await conflictingDropIns(ctx.host) : [];
  const kept = others.length ? [] : files;
  const owned = await inspectOwned(ctx.host, store, kept, REGISTRY_PREFIXES);
  let k0sworkerActive = false;
  const planned = planOwned(kept, owned, REGISTRY_PREFIXES); // a refusal: planPrereqsFrom refuses the same way
  if (!isRefusal(planned) && planned.some((a) => a.path === REGISTRIES_DROPIN)) {
    const r = await ctx.host.exec('systemctl', ['is-active', '--quiet', K0S_UNIT], { timeoutMs: 10_000 });
    k0sworkerActive = r.exitCode === 0;
  }
  return { hostPrep, files, others, owned, k0sworkerActive };
}

/** Pure: the prerequisites' actions, or a refusal for a file or drop-in that is not ours (nothing is changed then). */
export function planPrereqsFrom(cfg: PrereqContext['cfg'], a: PrereqActual): PrereqPlan | Refusal {
  const hostPrep = planHostPrep(a.hostPrep);
  if (isRefusal(hostPrep)) return hostPrep;
  const warnings: string[] = [];
  let desired = a.files;
  if (desired.length && a.others.length) {
    if (cfg.registries) {
      return refusal(
        `INITD_REGISTRIES_FILE: ${a.others.join(', ')} already configure${a.others.length === 1 ? 's' : ''} containerd's registries (config_path); k0s merges every drop-in, so one would silently override the other`,
        `move those settings into INITD_REGISTRIES_FILE and remove ${a.others.join(', ')}, or unset INITD_REGISTRIES_FILE`,
      );
    }
    warnings.push(
      `INITD_CA_FILE is not passed to containerd: ${a.others.join(', ')} already set containerd's registry configuration; add ${cfg.caFile} to the \`ca\` of its hosts.toml files`,
    );
    desired = [];
  }
  const registries = planOwned(desired, a.owned, REGISTRY_PREFIXES);
  if (isRefusal(registries)) return registries;
  const restartK0sworker = a.k0sworkerActive && registries.some((x) => x.path === REGISTRIES_DROPIN);
  const actions: PrereqAction[] = [...registries, ...hostPrep];
  if (restartK0sworker)
    actions.push({
      kind: 'k0s.restart-for-registries',
      description: 'restart k0sworker so that its containerd reads the new registry configuration',
      reason: 'the CRI drop-in changed (hosts.toml changes need no restart)',
    });
  const lines = actions.flatMap((x) => (x.kind === 'host-file.write' ? showFile(x.file) : []));
  return { hostPrep, registries, restartK0sworker, actions, lines, warnings };
}

/** inspect + plan (the tests' and the bench's entry; the step runs the two phases itself). */
export async function planPrereqs(ctx: PrereqContext): Promise<PrereqPlan | Refusal> {
  return planPrereqsFrom(ctx.cfg, await inspectPrereqs(ctx));
}


/** One executor per action kind the prerequisites plan; the compiler checks the table is complete. */
const prereqExecutors: Executors<PrereqAction, OwnedApplyContext> = {
  ...ownedFileExecutors,
  ...kernelExecutors,
  'k0s.restart-for-registries': async (_a, c) => {
    const what = 'k0s: restart k0sworker for the new registry configuration';
    await runChecked(c.host, ['systemctl', 'restart', K0S_UNIT], { what, fix: 'see journalctl -u k0sworker', timeoutMs: 120_000 });
  },
};

/** Executes exactly the plan's actions, in order, each logged once done; true when it changed the host. */
export async function applyPrereqs(ctx: PrereqContext, p: PrereqPlan): Promise<boolean> {
  for (const w of p.warnings) ctx.log.warn({ step: 'k0s' }, w);
  const c: OwnedApplyContext = { host: ctx.host, store: new StateStore(ctx.host, ctx.cfg.stateDir) };
  for (const a of p.actions) {
    await execute(prereqExecutors, [a], c);
    ctx.log.info({ step: 'k0s', action: a.kind }, `k0s: ${a.description}`);
  }
  await finishOwned(c);
  return p.actions.length > 0;
}
