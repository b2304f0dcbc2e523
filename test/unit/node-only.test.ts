/**
 * `make test-unit` needs only Node and npm (issue 17 item 7; docs/decisions/0220-test-unit-node-only.md):
 * (1) in the Makefile and every mk/*.mk fragment, nothing test-unit depends on (transitively) installs
 * Debian packages; (2) no unit test spawns a program outside Debian's essential set (bash, coreutils)
 * and systemd's own tools. Anything that needs an apt tool (shellcheck, openssl, xz, ...) or root
 * belongs to the integration lane.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(path.join(ROOT, p), 'utf8');
const FRAGMENTS = ['Makefile', ...readdirSync(path.join(ROOT, 'mk')).filter((f) => f.endsWith('.mk')).map((f) => `mk/${f}`)];

/** target -> prerequisites, over the Makefile and all fragments (make merges rules of one target). */
function prerequisites(): Map<string, string[]> {
  const rules = new Map<string, string[]>();
  for (const f of FRAGMENTS) {
    const text = read(f).replace(/\\\n/g, ' ');
    for (const line of text.split('\n')) {
      // "targets: prereqs" at column 0; not a variable assignment (:=, ::=, ?=, +=), not a recipe (tab).
      const m = line.match(/^([^\t#=:][^=:]*?):(?![:=])\s*([^=;#]*)(?:[;#].*)?$/);
      if (!m || m[1]!.startsWith('.')) continue;
      for (const t of m[1]!.trim().split(/\s+/)) rules.set(t, [...(rules.get(t) ?? []), ...m[2]!.trim().split(/\s+/).filter(Boolean)]);
    }
  }
  return rules;
}

function closure(rules: Map<string, string[]>, start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length) {
    const t = todo.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    todo.push(...(rules.get(t) ?? []));
  }
  return seen;
}

describe('make test-unit needs only Node and npm', () => {
  const rules = prerequisites();

  it('the parser sees the rules it must (apt-deps under deps, the e2e lane under vm-image)', () => {
    expect(closure(rules, 'deps')).toContain('apt-deps');
    expect([...closure(rules, 'test-e2e')]).toEqual(expect.arrayContaining(['apt-deps', 'vm-image', 'build']));
    expect([...closure(rules, 'test-integration')]).toContain('lint-nvidia-smi-double');
  });

  it('nothing test-unit depends on installs Debian packages (Makefile + every mk/*.mk)', () => {
    const needed = [...closure(rules, 'test-unit')].sort();
    expect(needed).not.toContain('apt-deps');
    expect(needed).not.toContain('deps');
    // Only the pinned Node (npm registry) and node_modules, and the files those rules read.
    expect(needed).toEqual([
      '$(NODE)',
      'node-deps',
      'node_modules',
      'node_modules/.stamp',
      'package-lock.json',
      'package.json',
      'scripts/node-pin.env',
      'scripts/toolchain.sh',
      'test-unit',
      'toolchain',
    ]);
  });

  it('no unit test spawns a program outside Debian essential + systemd (apt tools and root belong to integration)', () => {
    const ALLOWED = new Set(['bash', '/bin/bash', 'sh', 'mkdir', 'systemd-analyze', 'nvidia-smi' /* the test double, first on PATH */]);
    const found: string[] = [];
    const dir = path.join(ROOT, 'test/unit');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      if (!text.includes('node:child_process')) continue;
      for (const m of text.matchAll(/\b(?:spawnSync|execFileSync|execSync|spawn|execFile)\(\s*(['"`])([^'"`]+)\1/g)) {
        if (!ALLOWED.has(m[2]!)) found.push(`${f}: ${m[2]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('no test skips itself for want of root: such a test fails instead (test/helpers/needs.ts, docs/decisions/0222)', () => {
    const offenders: string[] = [];
    for (const lane of ['test/unit', 'test/integration']) {
      for (const f of readdirSync(path.join(ROOT, lane)).filter((x) => x.endsWith('.ts'))) {
        const text = read(`${lane}/${f}`);
        const skips = /\.(?:skipIf|runIf)\(|\b(?:describe|it|test)\.skip\(/.test(text);
        if (skips && /getuid|fakeRootAvailable|canUnshare|canLoop/.test(text)) offenders.push(`${lane}/${f}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
