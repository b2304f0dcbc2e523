/**
 * `make bench` harness (run as `node scripts/bench.ts` with the pinned Node; no tsx).
 *
 * Imports every module in scripts/bench/*.ts, in name order, one after another
 * (so they do not disturb each other's timings). Each module is
 *   export default async function (): Promise<Record<string, unknown>>
 * and returns the keys it measured (see ../shared/design/bench.md for the key
 * names). The results are merged into ONE JSON object, written to
 * dist/bench.json and printed as the last line of stdout.
 *
 * A module that throws (or has no default function, or returns a non-object) is
 * reported on stderr and its keys are left out: a key is never guessed. A key
 * returned by two modules is reported and the first module's value is kept.
 * The exit code is 1 when any module failed, after the JSON is written.
 *
 *   node scripts/bench.ts              all modules -> dist/bench.json
 *   node scripts/bench.ts startup rss  only these modules; prints, does not write dist/bench.json
 */
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIR = path.join(ROOT, 'scripts/bench');

type BenchModule = { default?: unknown };

export async function runBench(only: string[] = [], dir: string = DIR): Promise<{ results: Record<string, unknown>; failed: string[] }> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'))
    .sort();
  const unknown = only.filter((o) => !files.includes(`${o}.ts`));
  if (unknown.length)
    throw new Error(`bench: no module ${unknown.join(', ')} in ${path.relative(ROOT, dir)} (have: ${files.map((f) => f.slice(0, -3)).join(', ')})`);
  const results: Record<string, unknown> = {};
  const owner: Record<string, string> = {};
  const failed: string[] = [];
  for (const f of files) {
    const name = f.slice(0, -3);
    if (only.length && !only.includes(name)) continue;
    const t0 = performance.now();
    try {
      const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as BenchModule;
      if (typeof mod.default !== 'function') throw new Error('no default export function');
      const r: unknown = await (mod.default as () => Promise<unknown>)();
      if (r === null || typeof r !== 'object' || Array.isArray(r))
        throw new Error(`returned ${Array.isArray(r) ? 'an array' : String(r)}, not an object of keys`);
      for (const [k, v] of Object.entries(r)) {
        if (v === undefined) continue;
        if (k in results) {
          process.stderr.write(`bench: key ${k} from ${name} is already set by ${owner[k]}; kept ${owner[k]}'s value\n`);
          continue;
        }
        results[k] = v;
        owner[k] = name;
      }
      process.stderr.write(`bench: ${name}: ${Object.keys(r).length} key(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    } catch (e) {
      failed.push(name);
      process.stderr.write(`bench: ${name} FAILED, its keys are left out: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
  }
  return { results, failed };
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const { results, failed } = await runBench(only);
  const line = JSON.stringify(results);
  if (!only.length) {
    const out = path.join(ROOT, 'dist/bench.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(`${out}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
    renameSync(`${out}.tmp`, out);
  }
  if (failed.length) process.stderr.write(`bench: ${failed.length} module(s) failed: ${failed.join(', ')}\n`);
  process.stdout.write(`${line}\n`);
  process.exitCode = failed.length ? 1 : 0;
}

if (path.resolve(process.argv[1] ?? '') === import.meta.filename) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
