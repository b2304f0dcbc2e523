/** Reads the real fixtures the fuzzers mutate (test/fixtures/, captured outputs). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');

export const read = (rel: string): string => readFileSync(path.join(FIXTURES, rel), 'utf8');

/** Every file in `dir` (relative to test/fixtures) whose name matches `re`, as text. */
export function readAll(dir: string, re: RegExp): string[] {
  const files = readdirSync(path.join(FIXTURES, dir)).filter((f) => re.test(f)).sort();
  if (!files.length) throw new Error(`no fixture matches ${re} in test/fixtures/${dir}`);
  return files.map((f) => read(path.join(dir, f)));
}

/** Every matching file in those of `dirs` that exist (fixture sets get reorganised; at least one file must match). */
export function readAny(dirs: readonly string[], re: RegExp): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    if (!existsSync(path.join(FIXTURES, d))) continue;
    for (const f of readdirSync(path.join(FIXTURES, d)).filter((x) => re.test(x)).sort()) out.push(read(path.join(d, f)));
  }
  if (!out.length) throw new Error(`no fixture matches ${re} in test/fixtures/{${dirs.join(',')}}`);
  return out;
}
