import type { Step, StepContext, StepPlan, StepResult } from '../reconcile/step.ts';
import { describePlan, gpuSubsystem, type GpuSubsystemOptions } from './gpu.ts';
import { migStrategyLine } from './strategy.ts';

/** Node label set once MIG is applied and verified (what NVIDIA's mig-manager reports). */
export const MIG_STATE_LABEL = 'nvidia.com/mig.config.state';

/**
 * Step 4 (after storage, before WireGuard and k0s): NVIDIA MIG from
 * INITD_GPU_CONFIG. Runs on every pass, so MIG is re-applied on every boot
 * before k0sworker starts (GPU instances do not survive a reboot).
 * Without INITD_GPU_CONFIG the step is skipped and nvidia-smi is not run.
 */
export function gpuStep(opts: Omit<GpuSubsystemOptions, 'stateDir'> = {}): Step {
  const sub = (ctx: StepContext) => gpuSubsystem({ ...opts, stateDir: ctx.cfg.stateDir });
  const sizes = (ctx: StepContext) => ctx.cfg.gpu?.mig?.partitionSizes ?? [];
  const skipped = 'skipped: INITD_GPU_CONFIG not set';
  return {
    name: 'gpu',
    async plan(ctx): Promise<StepPlan> {
      if (sizes(ctx).length === 0) return { step: 'gpu', summary: skipped, actions: [] };
      const s = sub(ctx);
      const actual = await s.inspect(ctx.host);
      const actions = s.plan(ctx.cfg.gpu, actual);
      const view = describePlan(ctx.cfg.gpu, actual, actions);
      const strategy = view.gpus.length ? [migStrategyLine(sizes(ctx), view.gpus.filter((g) => g.skipped).length)] : [];
      return { step: 'gpu', summary: view.summary, actions, details: view, lines: [...view.lines, ...strategy] };
    },
    async run(ctx): Promise<StepResult> {
      if (sizes(ctx).length === 0) return { state: 'skipped', summary: skipped, changed: false };
      const s = sub(ctx);
      const actual = await s.inspect(ctx.host);
      const actions = s.plan(ctx.cfg.gpu, actual);
      const view = describePlan(ctx.cfg.gpu, actual, actions);
      for (const w of view.warnings) ctx.log.warn({ step: 'gpu' }, w);
      if (actions.length) {
        ctx.log.info({ step: 'gpu', actions: actions.map((a) => a.kind) }, `gpu: applying ${actions.length} action(s)`);
        await s.apply(ctx.host, actions);
      }
      const mig = view.gpus.filter((g) => !g.skipped);
      if (mig.length) ctx.shared.extraLabels[MIG_STATE_LABEL] = 'success';
      const layouts = mig.map((g) => `GPU ${g.index}: ${g.desired}`).join('; ');
      return {
        state: 'done',
        summary: mig.length ? `${actions.length ? 'applied' : 'already applied'}: ${layouts}` : 'no MIG-capable GPU',
        changed: actions.length > 0,
      };
    },
  };
}
