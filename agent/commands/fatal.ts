import { AgentError, ConfigError, EXIT } from '../errors.ts';
import { scrub } from '../log/logger.ts';
import type { CommandContext } from './context.ts';

/** Prints an error as an operator reads it and returns the exit code. */
export function reportFatal(ctx: CommandContext, e: unknown): number {
  if (e instanceof ConfigError) {
    if (ctx.json) ctx.out(JSON.stringify({ ok: false, errors: e.problems }, null, 2));
    else {
      ctx.err(`configuration error${e.problems.length > 1 ? `s (${e.problems.length})` : ''}; nothing was changed on this host:`);
      for (const p of e.problems) ctx.err(scrub(`  ${p.variable}: ${p.message}`));
    }
    return EXIT.CONFIG;
  }
  if (e instanceof AgentError) {
    ctx.err(scrub(`error: ${e.message}\n  fix: ${e.remediation}`));
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.stack ?? e.message : String(e);
  ctx.err(scrub(`error: ${msg}`));
  return EXIT.RUNTIME;
}
