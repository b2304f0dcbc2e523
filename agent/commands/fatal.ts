import { AgentError, ConfigError, EXIT } from '../errors.ts';
import { scrub } from '../log/secrets.ts';
import type { CommandContext } from './context.ts';

/**
 * A ConfigError as the operator reads it: a header, one line per problem
 * (`  ✗ VARIABLE: message`, continuation lines indented under the message),
 * and the way to re-check. Problems of the same variable stay together.
 */
export function formatConfigError(e: ConfigError): string {
  const n = e.problems.length;
  const lines = [`configuration error${n > 1 ? `s (${n})` : ''}; nothing was changed on this host:`];
  const order = [...new Set(e.problems.map((p) => p.variable))];
  const sorted = [...e.problems].sort((a, b) => order.indexOf(a.variable) - order.indexOf(b.variable));
  for (const p of sorted) {
    const head = `  ✗ ${p.variable}: `;
    const [first = '', ...rest] = p.message.split('\n');
    lines.push(head + first, ...rest.map((l) => ' '.repeat(head.length) + l));
  }
  const warnings = (e as { warnings?: unknown }).warnings;
  if (Array.isArray(warnings) && warnings.length) {
    lines.push(`warnings (${warnings.length}):`);
    for (const w of warnings) lines.push(`  - ${String(w)}`);
  }
  lines.push('fix the variable(s) above, then check with: castai-edge-initd config [--env-file FILE]');
  return lines.join('\n');
}

/** Prints an error as an operator reads it and returns the exit code. */
export function reportFatal(ctx: CommandContext, e: unknown): number {
  if (e instanceof ConfigError) {
    if (ctx.json) ctx.out(scrub(JSON.stringify({ ok: false, errors: e.problems, ...('warnings' in e ? { warnings: e.warnings } : {}) }, null, 2)));
    else ctx.err(scrub(formatConfigError(e)));
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
