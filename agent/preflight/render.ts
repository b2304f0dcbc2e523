import type { CheckResult, CheckStatus, PreflightReport } from './types.ts';

export const LABEL: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', skip: 'SKIP' };

/** The readable table: one row per check, the fix on a second line under failed/warned rows. */
export function renderTable(report: PreflightReport): string {
  const rows = report.checks.map((c) => [c.name, LABEL[c.status], `${c.durationMs} ms`, c.message] as const);
  const head = ['CHECK', 'STATUS', 'TIME', 'MESSAGE / FIX'] as const;
  const w = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `${cells[0]!.padEnd(w[0]!)}  ${cells[1]!.padEnd(w[1]!)}  ${cells[2]!.padStart(w[2]!)}  ${cells[3]}`.trimEnd();
  const indent = ' '.repeat(w[0]! + w[1]! + w[2]! + 6);
  const out = [line(head)];
  report.checks.forEach((c: CheckResult, i) => {
    out.push(line(rows[i]!));
    if (c.remediation && (c.status === 'fail' || c.status === 'warn')) out.push(`${indent}fix: ${c.remediation}`);
  });
  const { pass, fail, warn, skip } = report.counts;
  out.push('');
  out.push(
    `${report.ok ? 'preflight OK' : 'preflight FAILED'}: ${pass} passed, ${fail} failed, ${warn} warning${warn === 1 ? '' : 's'}, ${skip} skipped` +
      ` in ${report.durationMs} ms (deadline ${report.deadlineMs} ms)`,
  );
  return `${out.join('\n')}\n`;
}

