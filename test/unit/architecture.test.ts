/**
 * The shape docs/decisions/0200-step-contract.md promises, checked from the source (issue 17):
 *   - no upward imports: domain folders never import agent/reconcile/ (nor agent/commands/);
 *   - every step adapter lives in agent/reconcile/steps/ and is built by the one generic adapter (stepOf);
 *   - the dead agent/subsystem.ts contract stays gone.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const AGENT = path.join(ROOT, 'agent');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module a file imports or re-exports (static, type-only and dynamic `import()`), resolved to a path under the repo. */
function importsOf(file: string): string[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const add = (spec: string) => {
    if (spec.startsWith('.')) out.push(path.resolve(path.dirname(file), spec));
  };
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) add(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0]))
      add(n.arguments[0].text);
    if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) add(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

const rel = (p: string) => path.relative(ROOT, p);
const DOMAINS = ['gpu', 'storage', 'wireguard', 'k0s', 'preflight', 'host', 'state', 'config', 'api', 'inventory', 'log'];

describe('architecture (docs/decisions/0200-step-contract.md)', () => {
  it('finds the imports it checks (the parser sees static, type and dynamic imports)', () => {
    const steps = importsOf(path.join(AGENT, 'reconcile/steps.ts')).map(rel);
    expect(steps).toContain('agent/reconcile/steps/storage.ts');
    expect(importsOf(path.join(AGENT, 'reconcile/step.ts')).map(rel)).toContain('agent/api/types.ts'); // import('../api/types.ts') in a type
  });

  it('no domain folder imports agent/reconcile/ or agent/commands/ (no upward imports)', () => {
    const upward: string[] = [];
    for (const d of DOMAINS) {
      for (const f of tsFiles(path.join(AGENT, d))) {
        for (const target of importsOf(f)) {
          const t = rel(target);
          if (t.startsWith('agent/reconcile/') || t.startsWith('agent/commands/') || t === 'agent/cli.ts' || t === 'agent/main.ts')
            upward.push(`${rel(f)} -> ${t}`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it('every step adapter lives in agent/reconcile/steps/ and is made by the one adapter, stepOf', () => {
    const steps = readFileSync(path.join(AGENT, 'reconcile/steps.ts'), 'utf8');
    const imported = importsOf(path.join(AGENT, 'reconcile/steps.ts')).map(rel).filter((t) => t !== 'agent/reconcile/step.ts');
    expect(imported.sort()).toEqual(['gpu', 'k0s', 'preflight', 'register', 'storage', 'wireguard'].map((s) => `agent/reconcile/steps/${s}.ts`));
    for (const s of ['preflight', 'register', 'storage', 'gpu', 'wireguard', 'k0s']) {
      expect(steps).toMatch(new RegExp(`${s}Step\\(`));
      const text = readFileSync(path.join(AGENT, `reconcile/steps/${s}.ts`), 'utf8');
      expect(text, `${s}: built with stepOf`).toMatch(/\bstepOf</);
    }
  });

  it('the dead agent/subsystem.ts contract is gone', () => {
    expect(existsSync(path.join(AGENT, 'subsystem.ts'))).toBe(false);
  });
});
