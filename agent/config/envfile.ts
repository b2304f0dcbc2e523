/**
 * The extra env file (INITD_EXTRA_ENV_FILE or --env-file), dotenv format,
 * parsed with dotenv's `parse` (no variable expansion). dotenv silently skips
 * lines it does not understand; an operator's typo there would be lost, so we
 * first check the lines ourselves and report the ones that are not KEY=value.
 */
import { parse } from 'dotenv';
import type { ConfigProblem } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { SECRET_VARIABLES } from './known.ts';

export const ENV_FILE_VARIABLE = 'INITD_EXTRA_ENV_FILE';

const ASSIGN_RE = /^\s*(?:export\s+)?([\w.-]+)\s*[=:]\s*(.*)$/;

export interface EnvFileContent {
  vars: Record<string, string>;
  /** Line number (1-based) of the last assignment of each key. */
  lines: Record<string, number>;
  problems: ConfigProblem[];
  warnings: string[];
}

/**
 * Shows a bad line without leaking a secret that may sit on it: a line naming
 * a secret variable, or holding a secret's value (dotenv reads `KEY` and
 * `=value` on two lines as one assignment), or proxy credentials.
 */
function showLine(line: string, secretValues: ReadonlyMap<string, string>): string {
  const t = line.trim();
  for (const s of SECRET_VARIABLES) if (t.includes(s)) return `${s} …(value hidden)`;
  for (const [name, v] of secretValues) if (t.includes(v)) return `(a line holding the value of ${name}, hidden)`;
  const u = t.replace(/(:\/\/[^/@\s:]*:)[^/@\s]*@/g, '$1****@');
  return JSON.stringify(u.length > 60 ? `${u.slice(0, 59)}…` : u);
}

/** Parses the text of an env file; `where` names it in messages. Pure. */
export function parseEnvFileText(text: string, where: string, variable = ENV_FILE_VARIABLE): EnvFileContent {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const lines: Record<string, number> = {};
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const all = src.split('\n');
  const vars = parse(src);
  const secretValues = new Map([...SECRET_VARIABLES].map((n) => [n, (vars[n] ?? '').trim()] as const).filter(([, v]) => v.length >= 4));
  let openQuote: string | undefined;
  all.forEach((line, idx) => {
    const n = idx + 1;
    if (openQuote) {
      if (line.includes(openQuote)) openQuote = undefined;
      return;
    }
    if (/^\s*(#.*)?$/.test(line)) return;
    const m = ASSIGN_RE.exec(line);
    if (!m) {
      problems.push({
        variable,
        item: `${where}:${n}`,
        message: `${where} line ${n}: ${showLine(line, secretValues)} is not KEY=value; write e.g. INITD_KUBERNETES_LABELS=env=prod, or start the line with # to comment it out`,
      });
      return;
    }
    const key = m[1]!;
    const rest = m[2]!;
    const qch = rest[0];
    if ((qch === '"' || qch === "'" || qch === '`') && !rest.slice(1).includes(qch)) openQuote = qch;
    if (lines[key] !== undefined) warnings.push(`${key} is set twice in ${where} (lines ${lines[key]} and ${n}); the last one is used`);
    lines[key] = n;
  });
  if (openQuote) {
    problems.push({ variable, item: where, message: `${where}: a value opened with ${openQuote} is never closed; close the quote` });
  }
  return { vars: { ...vars }, lines, problems, warnings };
}

/**
 * Reads and parses the env file through the Host port. A missing or
 * unreadable file is a problem naming the path (never silently ignored).
 */
export async function readEnvFile(host: Host, file: string, variable = ENV_FILE_VARIABLE): Promise<EnvFileContent> {
  let text: string | undefined;
  try {
    text = await host.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' ? 'permission denied (run as root, or chmod the file so this user can read it)'
      : code === 'EISDIR' ? 'it is a directory, not a file'
      : `cannot be read (${code ?? (e instanceof Error ? e.message : String(e))})`;
    return { vars: {}, lines: {}, warnings: [], problems: [{ variable, item: file, message: `env file ${JSON.stringify(file)}: ${why}` }] };
  }
  if (text === undefined) {
    return {
      vars: {},
      lines: {},
      warnings: [],
      problems: [{ variable, item: file, message: `env file ${JSON.stringify(file)} does not exist; fix the path, or unset ${variable} / drop --env-file` }],
    };
  }
  return parseEnvFileText(text, file, variable);
}
