import { loadConfig } from '../config/load.ts';
import { AgentError, EXIT } from '../errors.ts';
import { createLogger } from '../log/logger.ts';
import { stepContext } from '../reconcile/context.ts';
import type { StepPlan } from '../reconcile/step.ts';
import { allSteps } from '../reconcile/steps.ts';
import type { CommandContext } from './context.ts';

/** A step's plan; `error` is set by the step (a refusal it would raise) or by `plan` (the step threw). */
export type PlanEntry = StepPlan;

/**
 * Pure: marks each step that would stop (its `error`) as REFUSED and counts the changes that
 * would really be applied: a refused step changes nothing, so its actions (refusals included)
 * are not changes.
 */
export function tally(entries: PlanEntry[]): { changes: number; refused: number } {
  for (const e of entries) if (e.error && !e.summary.startsWith('REFUSED')) e.summary = `REFUSED: ${e.summary}`;
  return {
    changes: entries.filter((e) => !e.error).reduce((n, e) => n + e.actions.length, 0),
    refused: entries.filter((e) => e.error).length,
  };
}

/**
 * `plan`: every step's inspect + plan, nothing applied. Exit 0 when every step
 * could be planned (with or without changes), 1 when a step refuses (e.g. a
 * disk that is not ours), 2 on a configuration error.
 */
export default async function planCommand(ctx: CommandContext, opts: { json?: boolean }): Promise<number> {
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  const log = createLogger({ level: 'warn', write: (l) => ctx.err(l.trimEnd()) });
  const sctx = await stepContext(ctx.host, cfg, log, new AbortController().signal);
  const steps = await allSteps();
  const entries: PlanEntry[] = [];
  for (const step of steps) {
    try {
      entries.push(await step.plan(sctx));
    } catch (e) {
      entries.push({
        step: step.name,
        summary: 'REFUSED',
        actions: [],
        error: { message: e instanceof Error ? e.message : String(e), ...(e instanceof AgentError ? { remediation: e.remediation } : {}) },
      });
    }
  }
  const { changes, refused } = tally(entries);
  if (opts.json) {
    ctx.out(JSON.stringify({ changes, refused, steps: entries.map(({ lines: _l, ...e }) => e) }, null, 2));
  } else {
    entries.forEach((e, i) => {
      ctx.out(`[${i + 1}/${entries.length}] ${e.step}: ${e.summary}`);
      for (const l of e.lines ?? []) ctx.out(`      ${l}`);
      for (const a of e.actions) ctx.out(`      - ${a.description}${a.reason ? `  (${a.reason})` : ''}`);
      if (e.error) ctx.out(`      ${e.error.message}${e.error.remediation ? `\n      fix: ${e.error.remediation}` : ''}`);
    });
    ctx.out(
      refused
        ? `\n${refused} step(s) refused; nothing was changed.`
        : changes
          ? `\n${changes} change(s) to apply; nothing was changed (plan only).`
          : '\nnothing to do: the host matches the desired state.',
    );
  }
  return refused ? EXIT.RUNTIME : EXIT.OK;
}
