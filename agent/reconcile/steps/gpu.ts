import { skip } from '../../contract.ts';
import { apply, describePlan, GPU_SKIPPED, inspect, planGpu, type GpuActual, type GpuApplyOptions, type GpuPlan } from '../../gpu/gpu.ts';
import type { GpuConfig } from '../../config/types.ts';
import { migStrategyLine } from '../../gpu/strategy.ts';
import { stepOf } from '../contract.ts';
import type { Step } from '../step.ts';

/** Node label set once MIG is applied and verified (what NVIDIA's mig-manager reports). */
export const MIG_STATE_LABEL = 'nvidia.com/mig.config.state';

/**
 * Step 4 (after storage, before WireGuard and k0s): NVIDIA MIG from
 * INITD_GPU_CONFIG. Runs on every pass, so MIG is re-applied on every boot
 * before k0sworker starts (GPU instances do not survive a reboot).
 * Without INITD_GPU_CONFIG the step is skipped and nvidia-smi is not run.
 */
export function gpuStep(opts: Omit<GpuApplyOptions, 'stateDir'> = {}): Step {
  return stepOf<GpuConfig, GpuActual, GpuPlan>({
    name: 'gpu',
    async desired(ctx) {
      return ctx.cfg.gpu?.mig?.partitionSizes.length ? ctx.cfg.gpu : skip(GPU_SKIPPED);
    },
    inspect: (ctx) => inspect(ctx.host, { stateDir: ctx.cfg.stateDir }),
    plan: planGpu,
    show(p) {
      const view = describePlan(p);
      const strategy = view.gpus.length ? [migStrategyLine(p.sizes, view.gpus.filter((g) => g.skipped).length)] : [];
      return { summary: view.summary, details: view, lines: [...view.lines, ...strategy] };
    },
    async apply(ctx, p) {
      for (const w of p.analysis.warnings) ctx.log.warn({ step: 'gpu' }, w);
      if (p.actions.length) {
        ctx.log.info({ step: 'gpu', actions: p.actions.map((a) => a.kind) }, `gpu: applying ${p.actions.length} action(s)`);
        await apply(ctx.host, p, { ...opts, stateDir: ctx.cfg.stateDir });
      }
      const mig = p.analysis.gpus.filter((g) => !g.skipped);
      if (mig.length) ctx.shared.extraLabels[MIG_STATE_LABEL] = 'success';
      const layouts = mig.map((g) => `GPU ${g.index}: ${g.desired}`).join('; ');
      return {
        summary: mig.length ? `${p.actions.length ? 'applied' : 'already applied'}: ${layouts}` : 'no MIG-capable GPU',
        changed: p.actions.length > 0,
      };
    },
  });
}
