/**
 * What the k0s step prepares on the host before k0sworker runs, in the step's own
 * inspect → plan → apply shape: the kubelet prerequisites (hostprep.ts) and the containerd
 * registry configuration (registries.ts), every file recorded as ours (owned-files.ts).
 * `plan` shows each file with its content (credentials never) and each module and sysctl.
 */
import { AgentError } from '../errors.ts';
import type { StepContext } from '../reconcile/step.ts';
import { StateStore } from '../state/store.ts';
import type { Action } from '../subsystem.ts';
import { applyHostPrepKernel, inspectHostPrep, planHostPrep, type HostPrepAction } from './hostprep.ts';
import { K0S_UNIT } from './paths.ts';
import { applyOwned, inspectOwned, planOwned, showFile, type OwnedFileAction } from './owned-files.ts';
import { conflictingDropIns, HOSTS_DIR, REGISTRIES_DROPIN, registryFiles } from './registries.ts';

export interface PrereqPlan {
  hostPrep: HostPrepAction[];
  registries: OwnedFileAction[];
  restartK0sworker: boolean;
  actions: Action[];
  lines: string[];
  warnings: string[];
}

const REGISTRY_PREFIXES = [REGISTRIES_DROPIN, `${HOSTS_DIR}/`];

export async function planPrereqs(ctx: StepContext): Promise<PrereqPlan> {
  const store = new StateStore(ctx.host, ctx.cfg.stateDir);
  const hostPrep = planHostPrep(await inspectHostPrep(ctx.host, store));
  const warnings: string[] = [];
  let desired = registryFiles(ctx.cfg.registries, ctx.cfg.caFile, ctx.cfg.registriesFile);
  if (desired.length) {
    const others = await conflictingDropIns(ctx.host);
    if (others.length && ctx.cfg.registries) {
      throw new AgentError(
        `INITD_REGISTRIES_FILE: ${others.join(', ')} already configure${others.length === 1 ? 's' : ''} containerd's registries (config_path); k0s merges every drop-in, so one would silently override the other`,
        `move those settings into INITD_REGISTRIES_FILE and remove ${others.join(', ')}, or unset INITD_REGISTRIES_FILE`,
      );
    }
    if (others.length) {
      warnings.push(
        `INITD_CA_FILE is not passed to containerd: ${others.join(', ')} already set containerd's registry configuration; add ${ctx.cfg.caFile} to the \`ca\` of its hosts.toml files`,
      );
      desired = [];
    }
  }
  const registries = planOwned(desired, await inspectOwned(ctx.host, store, desired, REGISTRY_PREFIXES), REGISTRY_PREFIXES);
  let restartK0sworker = false;
  if (registries.some((a) => a.path === REGISTRIES_DROPIN)) {
    const r = await ctx.host.exec('systemctl', ['is-active', '--quiet', K0S_UNIT], { timeoutMs: 10_000 });
    restartK0sworker = r.exitCode === 0;
  }
  const actions: Action[] = [...registries, ...hostPrep];
  if (restartK0sworker) {
    actions.push({
      kind: 'k0s.restart-for-registries',
      description: 'restart k0sworker so that its containerd reads the new registry configuration',
      reason: 'the CRI drop-in changed (hosts.toml changes need no restart)',
    });
  }
  const written = hostPrep.filter((a): a is OwnedFileAction => a.kind === 'host-file.write');
  const lines = [...registries, ...written].flatMap((a) => (a.file ? showFile(a.file) : []));
  return { hostPrep, registries, restartK0sworker, actions, lines, warnings };
}

/** Executes the plan; true when it changed the host. */
export async function applyPrereqs(ctx: StepContext, p: PrereqPlan): Promise<boolean> {
  for (const w of p.warnings) ctx.log.warn({ step: 'k0s' }, w);
  const store = new StateStore(ctx.host, ctx.cfg.stateDir);
  const files = [...p.registries, ...p.hostPrep.filter((a): a is OwnedFileAction => a.kind.startsWith('host-file.'))];
  await applyOwned(ctx.host, store, files);
  await applyHostPrepKernel(ctx.host, p.hostPrep);
  for (const a of [...files, ...p.hostPrep.filter((x) => !x.kind.startsWith('host-file.'))]) {
    ctx.log.info({ step: 'k0s', action: a.kind }, `k0s: ${a.description}`);
  }
  if (p.restartK0sworker) {
    const r = await ctx.host.exec('systemctl', ['restart', K0S_UNIT], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new AgentError(`systemctl restart k0sworker failed (exit ${r.exitCode}): ${r.stderr.trim()}`, 'see journalctl -u k0sworker');
    ctx.log.info({ step: 'k0s' }, 'k0s: restarted k0sworker for the new registry configuration');
  }
  return p.actions.length > 0;
}
