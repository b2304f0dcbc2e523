import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECK_NAMES } from '../../agent/preflight/checks.ts';

/**
 * The README's preflight table and docs/errors.md (generated from agent/preflight/checks.ts) say
 * the same thing: the same checks, each with the same severity ("always SKIP" for a check that
 * can never run). Issue 18 item 6.
 */
const ROOT = path.resolve(import.meta.dirname, '../..');

/** check name → severity cell, from the first markdown table after `heading`. */
function severities(file: string, heading: RegExp): Map<string, string> {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  expect(start, `${file}: no heading ${heading}`).toBeGreaterThanOrEqual(0);
  const out = new Map<string, string>();
  let inTable = false;
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith('|')) {
      inTable = true;
      const cells = l.split('|').slice(1, -1).map((c) => c.trim());
      const names = [...cells[0]!.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
      for (const n of names) out.set(n, cells[1]!);
    } else if (inTable) break;
  }
  return out;
}

describe('README preflight table vs docs/errors.md', () => {
  const readme = severities('README.md', /^## Preflight/);
  const catalog = severities('docs/errors.md', /^## Preflight checks/);

  it('both list exactly the checks the agent runs', () => {
    expect([...readme.keys()].sort()).toEqual([...CHECK_NAMES].sort());
    expect([...catalog.keys()].sort()).toEqual([...CHECK_NAMES].sort());
  });

  it('each check has the same severity in both', () => {
    const diff = CHECK_NAMES.filter((n) => readme.get(n) !== catalog.get(n)).map((n) => `${n}: README ${readme.get(n)}, docs/errors.md ${catalog.get(n)}`);
    expect(diff).toEqual([]);
  });
});
