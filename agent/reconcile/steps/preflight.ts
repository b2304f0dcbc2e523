import { refusal } from '../../contract.ts';
import { EXIT } from '../../errors.ts';
import path from 'node:path';
import { KUBELET_CONF } from '../../k0s/paths.ts';
import { REGISTER_FILE } from '../../state/files.ts';
import { CHECKS, inspect, plan } from '../../preflight/preflight.ts';
import { proxyFor } from '../../preflight/proxy.ts';
import type { CheckDef, PreflightReport } from '../../preflight/types.ts';
import { stepOf } from '../contract.ts';
import type { Step } from '../step.ts';

/** In steady state, the network and clock checks run this often (docs/decisions/0101). */
export const PERIODIC_EVERY_MS = 10 * 60_000;

type Mode = 'full' | 'steady' | 'steady-periodic';

/** A preflight plan: the report, the failures demoted to warnings (joined node), the warnings; never an action. */
interface Checked {
  mode: Mode;
  report: PreflightReport;
  demoted: PreflightReport['checks'];
  warns: PreflightReport['checks'];
  actions: never[];
}

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
  const periodic = new Set(CHECKS.filter((c) => c.periodic).map((c) => c.name));

  const summaryOf = (p: Checked) => {
    const nextIn = Math.max(0, Math.round((periodicAt + PERIODIC_EVERY_MS - now()) / 60_000));
    const scope =
      p.mode === 'steady'
        ? `; joined: network and clock checks every ${PERIODIC_EVERY_MS / 60_000} min, next in ${nextIn} min`
        : p.mode === 'steady-periodic'
          ? '; joined: network checks warn only'
          : '';
    return `host ok (${p.report.counts.pass} passed, ${p.warns.length + p.demoted.length} warning(s), ${p.report.counts.skip} skipped${scope})`;
  };

  return stepOf<Mode, PreflightReport, Checked>({
    name: 'preflight',
    async desired(ctx, purpose) {
      // `plan` (and doctor) run every check. A run: this process saw k0sworker active on its last pass; on its
      // first pass (say after a reboot), our registration plus k0s's kubelet.conf say the node joined before.
      if (purpose === 'plan') return 'full';
      const joined =
        ctx.shared.k0sActive ??
        Boolean((await ctx.host.stat(KUBELET_CONF))?.isFile && (await ctx.host.stat(path.join(ctx.cfg.stateDir, REGISTER_FILE)))?.isFile);
      return !joined ? 'full' : now() - periodicAt >= PERIODIC_EVERY_MS ? 'steady-periodic' : 'steady';
    },
    inspect(ctx, mode) {
      const apiProxy = proxyFor(ctx.cfg.apiUrl, ctx.cfg.proxy);
      const checks: readonly CheckDef[] = mode === 'steady' ? CHECKS.filter((c) => !c.periodic) : CHECKS;
      const names = new Set(checks.map((c) => c.name));
      return inspect(
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
    },
    plan(mode, report) {
      const all = plan(report);
      const demoted = mode === 'steady-periodic' ? report.checks.filter((c) => c.status === 'fail' && periodic.has(c.name)) : [];
      const findings = all.filter((f) => !demoted.some((d) => d.name === f.check));
      if (findings.length) {
        return refusal(
          `preflight failed: ${findings.map((f) => f.description).join('; ')}`,
          findings.map((f) => f.reason).join('; ') || 'run castai-edge-initd doctor',
          EXIT.PREFLIGHT,
        );
      }
      // Preflight never changes the host: its plan has no actions.
      return { mode, report, demoted, warns: report.checks.filter((c) => c.status === 'warn'), actions: [] };
    },
    show: (p) => ({
      summary: summaryOf(p),
      details: p.report,
      lines: [...p.warns, ...p.demoted].map((w) => `WARN ${w.name}: ${w.message}${w.remediation ? ` (fix: ${w.remediation})` : ''}`),
    }),
    async apply(ctx, p) {
      const summary = summaryOf(p);
      if (p.mode !== 'steady') periodicAt = now();
      for (const w of p.warns) {
        ctx.log.warn({ check: w.name, remediation: w.remediation }, `preflight ${w.name}: ${w.message}`);
      }
      for (const d of p.demoted) {
        ctx.log.warn({ check: d.name, remediation: d.remediation }, `preflight ${d.name} (node already joined, so a warning): ${d.message}`);
      }
      for (const c of p.report.checks) {
        if (c.status === 'warn' || p.demoted.includes(c)) warned.add(c.name);
        else if (c.status === 'pass' && warned.delete(c.name)) ctx.log.info({ check: c.name }, `preflight ${c.name}: ok again (${c.message})`);
      }
      return { summary, changed: false };
    },
  });
}
