import { AgentError, EXIT } from '../../errors.ts';
import path from 'node:path';
import { KUBELET_CONF } from '../../k0s/paths.ts';
import { REGISTER_FILE } from '../../state/files.ts';
import { CHECKS, inspect, plan } from '../../preflight/preflight.ts';
import { proxyFor } from '../../preflight/proxy.ts';
import type { CheckDef, PreflightReport } from '../../preflight/types.ts';
import type { Step, StepContext, StepPlan, StepResult } from '../step.ts';

/** In steady state, the network and clock checks run this often (docs/decisions/0101). */
export const PERIODIC_EVERY_MS = 10 * 60_000;

type Mode = 'full' | 'steady' | 'steady-periodic';

/**
 * Step 1: the read-only host checks. Preflight never changes the host, so its
 * plan has no actions; ERROR findings make it refuse (the pass stops there),
 * WARNs are shown and logged.
 *
 * Until the node has joined (and in `plan`/`doctor`), every check runs and blocks. Once
 * it has (the previous pass left k0sworker active; on a process's first pass: our
 * register.json and k0s's kubelet.conf exist), a pass runs
 * only the local checks (files under /proc, /sys, /etc: no process, no socket); the
 * `periodic` ones (DNS, TCP, TLS, timedatectl) run every 10 minutes, and their failures
 * then warn instead of blocking: a joined node keeps repairing its storage, tunnel and
 * k0s through a control-plane blip, and a slow probe cannot fail a steady-state pass.
 */
export function preflightStep(opts: { skip?: string[]; deadlineMs?: number; now?: () => number } = {}): Step {
  const now = opts.now ?? Date.now;
  let periodicAt = -Infinity;
  /** Checks that warned on an earlier pass: their recovery is logged (and ends the log's repeat throttle). */
  const warned = new Set<string>();

  const check = async (ctx: StepContext, mode: Mode): Promise<{ report: PreflightReport; p: StepPlan; demoted: PreflightReport['checks'] }> => {
    const apiProxy = proxyFor(ctx.cfg.apiUrl, ctx.cfg.proxy);
    const checks: readonly CheckDef[] = mode === 'steady' ? CHECKS.filter((c) => !c.periodic) : CHECKS;
    const names = new Set(checks.map((c) => c.name));
    const report = await inspect(
      ctx.host,
      {
        apiUrl: ctx.cfg.apiUrl,
        ...(apiProxy ? { apiProxy } : {}),
        stateDir: ctx.cfg.stateDir,
        skip: (opts.skip ?? []).filter((s) => mode !== 'steady' || names.has(s)),
        deadlineMs: opts.deadlineMs ?? 5000,
      },
      checks,
    );
    const periodic = new Set(CHECKS.filter((c) => c.periodic).map((c) => c.name));
    const all = plan(report);
    const demoted = mode === 'steady-periodic' ? report.checks.filter((c) => c.status === 'fail' && periodic.has(c.name)) : [];
    const findings = all.filter((f) => !demoted.some((d) => d.name === f.check));
    if (findings.length) {
      throw new AgentError(
        `preflight failed: ${findings.map((f) => f.description).join('; ')}`,
        findings.map((f) => f.reason).join('; ') || 'run castai-edge-initd doctor',
        EXIT.PREFLIGHT,
      );
    }
    const warns = report.checks.filter((c) => c.status === 'warn');
    const nextIn = Math.max(0, Math.round((periodicAt + PERIODIC_EVERY_MS - now()) / 60_000));
    const scope =
      mode === 'steady' ? `; joined: network and clock checks every ${PERIODIC_EVERY_MS / 60_000} min, next in ${nextIn} min` : mode === 'steady-periodic' ? '; joined: network checks warn only' : '';
    return {
      report,
      demoted,
      p: {
        step: 'preflight',
        summary: `host ok (${report.counts.pass} passed, ${warns.length + demoted.length} warning(s), ${report.counts.skip} skipped${scope})`,
        actions: [],
        details: report,
        lines: [...warns, ...demoted].map((w) => `WARN ${w.name}: ${w.message}${w.remediation ? ` (fix: ${w.remediation})` : ''}`),
      },
    };
  };

  return {
    name: 'preflight',
    async plan(ctx) {
      return (await check(ctx, 'full')).p;
    },
    async run(ctx): Promise<StepResult> {
      // This process saw k0sworker active on its last pass; on its first pass (say after a
      // reboot), our registration plus k0s's kubelet.conf say the node joined before.
      const joined =
        ctx.shared.k0sActive ??
        Boolean((await ctx.host.stat(KUBELET_CONF))?.isFile && (await ctx.host.stat(path.join(ctx.cfg.stateDir, REGISTER_FILE)))?.isFile);
      const mode: Mode = !joined ? 'full' : now() - periodicAt >= PERIODIC_EVERY_MS ? 'steady-periodic' : 'steady';
      const { report, p, demoted } = await check(ctx, mode);
      if (mode !== 'steady') periodicAt = now();
      for (const w of report.checks.filter((c) => c.status === 'warn')) {
        ctx.log.warn({ check: w.name, remediation: w.remediation }, `preflight ${w.name}: ${w.message}`);
      }
      for (const d of demoted) {
        ctx.log.warn({ check: d.name, remediation: d.remediation }, `preflight ${d.name} (node already joined, so a warning): ${d.message}`);
      }
      for (const c of report.checks) {
        if (c.status === 'warn' || demoted.includes(c)) warned.add(c.name);
        else if (c.status === 'pass' && warned.delete(c.name)) ctx.log.info({ check: c.name }, `preflight ${c.name}: ok again (${c.message})`);
      }
      return { state: 'done', summary: p.summary, changed: false };
    },
  };
}
