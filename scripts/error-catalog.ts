/**
 * Generates docs/errors.md: every error the agent can print, with its cause and fix, from the
 * source itself, so the catalog cannot drift from the code (test/unit/error-catalog.test.ts fails
 * when docs/errors.md is stale):
 *
 *  - every `new AgentError(message, remediation[, exit code])` under agent/ (the runtime errors;
 *    the log line reads `<message> — fix: <remediation>`), with ‹…› for the parts filled in at
 *    run time;
 *  - every preflight check (`doctor`, and the first step of each pass): name, severity, what it
 *    verifies, its fix;
 *  - every configuration variable (exit 2, `configuration error … ✗ VARIABLE: …`): its format;
 *  - every command the agent runs and checks (`runChecked(host, argv, {what, fix})`,
 *    `commandFailure(argv, result, {what, fix})`, agent/host/command-failure.ts): the one
 *    failure format, with what was being done and the fix.
 *
 *   node scripts/error-catalog.ts           rewrite docs/errors.md
 *   node scripts/error-catalog.ts --check   exit 1 when docs/errors.md is not up to date
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { KNOWN_VARIABLES } from '../agent/config/known.ts';
import { CONFIG_DIR } from '../agent/config/load.ts';
import { CHECKS, severityLabel } from '../agent/preflight/checks.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
export const CATALOG = path.join(ROOT, 'docs/errors.md');

export interface AgentErrorSite {
  file: string;
  line: number;
  message: string;
  remediation: string;
  exitCode: string;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

/** A string-ish expression as the operator reads it: literal text, ‹expr› for what is filled in. */
function text(node: ts.Expression | undefined, src: ts.SourceFile): string {
  if (!node) return '';
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    return node.head.text + node.templateSpans.map((s) => `‹${squash(s.expression.getText(src)).slice(0, 60)}›${s.literal.text}`).join('');
  }
  if (ts.isParenthesizedExpression(node)) return text(node.expression, src);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) return text(node.left, src) + text(node.right, src);
  if (ts.isConditionalExpression(node)) return `${text(node.whenTrue, src)} | ${text(node.whenFalse, src)}`;
  return `‹${squash(node.getText(src)).slice(0, 80)}›`;
}

/** The per-disk refusal reasons of the storage plan (`refuse(dev, size, reason)` in plan.ts, `reasons.push(reason)` in judge.ts). */
export function storageRefusals(): Array<{ file: string; line: number; reason: string }> {
  const out: Array<{ file: string; line: number; reason: string }> = [];
  for (const f of ['agent/storage/judge.ts', 'agent/storage/plan.ts']) {
    const file = path.join(ROOT, f);
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n)) {
        const callee = n.expression.getText(src);
        const arg =
          callee === 'refuse' && n.arguments.length === 3
            ? n.arguments[2]
            : callee === 'reasons.push' && n.arguments.length === 1 && !ts.isSpreadElement(n.arguments[0]!)
              ? n.arguments[0]
              : undefined;
        if (arg) out.push({ file: f, line: src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1, reason: text(arg, src) });
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out;
}

export function agentErrorSites(): AgentErrorSite[] {
  const out: AgentErrorSite[] = [];
  for (const file of files(path.join(ROOT, 'agent')).sort()) {
    // The contract's generic constructors pass a refusal's own words through; the words are at the refusal sites.
    if (path.relative(ROOT, file) === 'agent/contract.ts') continue;
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      // `new AgentError(message, fix[, exit])`, and the typed refusals `refusal(message, fix[, exit])` (agent/contract.ts) a step's plan returns.
      const isError = ts.isNewExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'AgentError';
      const isRefusal = ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'refusal' && (n.arguments?.length ?? 0) >= 2;
      if ((isError || isRefusal) && n.arguments?.length) {
        const [m, r, code] = n.arguments;
        out.push({
          file: path.relative(ROOT, file),
          line: src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1,
          message: text(m, src),
          remediation: text(r, src),
          exitCode: code ? squash(code.getText(src)).replace(/^EXIT\./, '') : 'RUNTIME',
        });
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out;
}

export interface CommandSite {
  file: string;
  line: number;
  argv: string;
  what: string;
  fix: string;
}

/** The initializer of `const name = …` in a block around `at` (a shorthand `{ fix }` names one). */
function localConst(at: ts.Node, name: string): ts.Expression | undefined {
  for (let n: ts.Node | undefined = at.parent; n; n = n.parent) {
    if (!ts.isBlock(n) && !ts.isSourceFile(n)) continue;
    for (const st of n.statements) {
      if (!ts.isVariableStatement(st)) continue;
      const d = st.declarationList.declarations.find((x) => ts.isIdentifier(x.name) && x.name.text === name);
      if (d?.initializer) return d.initializer;
    }
  }
  return undefined;
}

/** The property `name` of an object literal, as the operator reads it. */
function prop(o: ts.ObjectLiteralExpression, name: string, src: ts.SourceFile): string | undefined {
  for (const p of o.properties) {
    if (!p.name || !ts.isIdentifier(p.name) || p.name.text !== name) continue;
    const value = ts.isPropertyAssignment(p) ? p.initializer : ts.isShorthandPropertyAssignment(p) ? p.name : undefined;
    if (!value) continue;
    const init = ts.isIdentifier(value) ? localConst(o, value.text) : undefined;
    return text(init ?? value, src);
  }
  return undefined;
}

/** An argv array literal as it reads: `modprobe ‹a.module›`; anything else as ‹…›. */
function argvText(node: ts.Expression, src: ts.SourceFile): string {
  if (!ts.isArrayLiteralExpression(node)) return text(node, src);
  return node.elements.map((e) => (ts.isSpreadElement(e) ? `‹...${squash(e.expression.getText(src))}›` : text(e, src))).join(' ');
}

/** Every checked command: `runChecked(host, argv, {what, fix})` and `commandFailure(argv, r, {what, fix})` with literal options. */
export function commandSites(): CommandSite[] {
  const out: CommandSite[] = [];
  for (const file of files(path.join(ROOT, 'agent')).sort()) {
    if (path.relative(ROOT, file) === 'agent/host/command-failure.ts') continue; // the helper itself
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && ['runChecked', 'commandFailure'].includes(n.expression.text)) {
        const [argv, opts] = n.expression.text === 'runChecked' ? [n.arguments[1], n.arguments[2]] : [n.arguments[0], n.arguments[2]];
        if (argv && opts && ts.isObjectLiteralExpression(opts)) {
          out.push({
            file: path.relative(ROOT, file),
            line: src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1,
            argv: argvText(argv, src),
            what: prop(opts, 'what', src) ?? '',
            fix: prop(opts, 'fix', src) ?? '',
          });
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const EXIT_CODES: Record<string, string> = { RUNTIME: '1', CONFIG: '2', PREFLIGHT: '3', OK: '0' };

export function renderCatalog(): string {
  const sites = agentErrorSites();
  const commands = commandSites();
  const lines = [
    '# Error catalog',
    '',
    '<!-- Generated by `node scripts/error-catalog.ts` from the source; test/unit/error-catalog.test.ts keeps it true. Do not edit by hand. -->',
    '',
    'Every error `castai-edge-initd` can print, where it comes from, and the fix it prints with it. In the',
    'journal a failed step reads `[i/6] step: FAILED: <message> — fix: <fix> (…s)`; `status` shows the last',
    'one with its fix; one-shot commands print `error: <message>` and `fix: <fix>`. ‹…› marks what is filled',
    'in at run time (a device, a host, an exit code). The README troubleshooting table groups the common',
    'ones by symptom.',
    '',
    '## Configuration (exit 2, nothing is changed)',
    '',
    '`configuration error` lists every bad variable at once: `✗ VARIABLE: <what is wrong with the value> (expected <format>, e.g. <example>)`.',
    '',
    '| variable | expected format | example |',
    '|---|---|---|',
    ...KNOWN_VARIABLES.map((v) => `| \`${v.name}\` | ${cell(v.format)} | ${v.secret ? '(secret, not shown)' : `\`${cell(v.example)}\``} |`),
    '',
    'Run as root, a file or directory the agent reads for configuration, CAs or state that someone other',
    'than root could change is refused the same way (agent/config/trust.ts, [0160](decisions/0160-config-trust.md)):',
    `\`✗ VARIABLE: <what> "<path>" could be changed by someone other than root, so the root agent does not trust it: <path> is owned by uid N, not root | is writable by group (mode 0664) …. Fix: chown root:root <path> | chmod go-w <path> | move it where only root can write (install -o root -g root -m 0600 <path> ${CONFIG_DIR}/…)\``,
    '— for `INITD_EXTRA_ENV_FILE`/`--env-file`, `INITD_CA_FILE`, `INITD_STATE_DIR` (and what is in it) and',
    `\`${CONFIG_DIR}\`.`,
    '',
    '## Preflight checks (`doctor`; the first step of every pass)',
    '',
    'An ERROR check that fails stops the pass (`preflight failed: <check>: <finding>`, exit 3); a WARN is',
    'logged and does not block. On a joined node the network and clock checks (marked ⟳) run every 10',
    'minutes and only warn ([0101](decisions/0101-steady-state-passes.md)).',
    '',
    '| check | severity | verifies | fix |',
    '|---|---|---|---|',
    ...CHECKS.map((c) => `| \`${c.name}\`${c.periodic ? ' ⟳' : ''} | ${severityLabel(c)} | ${cell(c.title)} | ${cell(c.remediation)} |`),
    '',
    '## Storage refusals (data safety; exit 2, nothing is changed)',
    '',
    '`storage: refusing to touch any disk (nothing was changed):` followed by one line per device and',
    'reason. Fix: take the device out of `NVME_DEVICES`, or clear it yourself if its data is not needed',
    '(`wipefs -a /dev/X`); the agent never formats a disk that holds data or is not proven ours (our LVM',
    'tag). With auto-discovery (no `NVME_DEVICES`) such disks are skipped with a note instead.',
    '',
    '| reason | where |',
    '|---|---|',
    ...storageRefusals().map((r) => `| ${cell(r.reason)} | \`${r.file}:${r.line}\` |`),
    '',
    `## Failed commands (${commands.length})`,
    '',
    'A command the agent runs and checks fails in one format ([0172](decisions/0172-command-failure-format.md)):',
    '`<what>: `<command>` failed (exit N: <the lines of its output that explain it>) — fix: <fix>`; "not found"',
    'when the program is not installed, "timed out" when it ran too long. Exit 1; the daemon retries on its next pass.',
    '',
    '| what | command | fix | where |',
    '|---|---|---|---|',
    ...commands.map((c) => `| ${cell(c.what)} | \`${cell(c.argv)}\` | ${cell(c.fix)} | \`${c.file}:${c.line}\` |`),
    '',
    `## Runtime errors (${sites.length})`,
    '',
    'Exit code for one-shot commands in brackets (1 runtime, 2 configuration, 3 preflight); the daemon',
    'logs the error, retries the step on its next pass, and keeps running.',
    '',
  ];
  const byArea = new Map<string, AgentErrorSite[]>();
  for (const s of sites) {
    const area = s.file.split('/')[1]!.replace(/\.ts$/, '');
    byArea.set(area, [...(byArea.get(area) ?? []), s]);
  }
  for (const [area, list] of byArea) {
    lines.push(`### ${area}`, '', '| message | fix | where |', '|---|---|---|');
    for (const s of list) lines.push(`| ${cell(s.message)} [${EXIT_CODES[s.exitCode] ?? s.exitCode}] | ${cell(s.remediation)} | \`${s.file}:${s.line}\` |`);
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const doc = renderCatalog();
  if (process.argv.includes('--check')) {
    const cur = readFileSync(CATALOG, 'utf8');
    if (cur !== doc) {
      process.stderr.write('docs/errors.md is out of date: run node scripts/error-catalog.ts\n');
      process.exit(1);
    }
  } else {
    writeFileSync(CATALOG, doc);
    process.stdout.write(`wrote ${path.relative(ROOT, CATALOG)}\n`);
  }
}
