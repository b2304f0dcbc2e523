import { AgentError, EXIT } from '../../errors.ts';
import { inspect, plan } from '../../preflight/preflight.ts';
import { proxyFor } from '../../preflight/proxy.ts';
import type { PreflightReport } from '../../preflight/types.ts';
import type { Step, StepContext, StepPlan, StepResult } from '../step.ts';

/**
 * Step 1: the read-only host checks. Preflight never changes the host, so its
 * plan has no actions; ERROR findings make it refuse (the pass stops there),
 * WARNs are shown and logged.
 */
export function preflightStep(opts: { skip?: string[]; deadlineMs?: number } = {}): Step {
  const check = async (ctx: StepContext): Promise<{ report: PreflightReport; p: StepPlan }> => {
    const apiProxy = proxyFor(ctx.cfg.apiUrl, ctx.cfg.proxy);
    const report = await inspect(ctx.host, {
      apiUrl: ctx.cfg.apiUrl,
      ...(apiProxy ? { apiProxy } : {}),
      stateDir: ctx.cfg.stateDir,
      skip: opts.skip ?? [],
      deadlineMs: opts.deadlineMs ?? 5000,
    });
    const findings = plan(report);
    if (findings.length) {
      throw new AgentError(
        `preflight failed: ${findings.map((f) => f.description).join('; ')}`,
        findings.map((f) => f.reason).join('; ') || 'run castai-edge-initd doctor',
        EXIT.PREFLIGHT,
      );
    }
    const warns = report.checks.filter((c) => c.status === 'warn');
    return {
      report,
      p: {
        step: 'preflight',
        summary: `host ok (${report.counts.pass} passed, ${warns.length} warning(s), ${report.counts.skip} skipped)`,
        actions: [],
        details: report,
        lines: warns.map((w) => `WARN ${w.name}: ${w.message}${w.remediation ? ` (fix: ${w.remediation})` : ''}`),
      },
    };
  };
  return {
    name: 'preflight',
    async plan(ctx) {
      return (await check(ctx)).p;
    },
    async run(ctx): Promise<StepResult> {
      const { report, p } = await check(ctx);
      for (const w of report.checks.filter((c) => c.status === 'warn')) {
        ctx.log.warn({ check: w.name, remediation: w.remediation }, `preflight ${w.name}: ${w.message}`);
      }
      return { state: 'done', summary: p.summary, changed: false };
    },
  };
}
