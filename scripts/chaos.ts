/**
 * `make chaos`: every fuzz target of test/fuzz/ with CHAOS_RUNS generated
 * inputs each (default 100 000; the whole-`plan`-command target, which is
 * not a parser, gets CHAOS_RUNS × 0.2), CHAOS_JOBS targets at a time (default: 2, or
 * fewer cores), each in its own process of the pinned Node. Writes
 * dist/chaos.json (with the first failing inputs) and prints one JSON summary
 * as its LAST line:
 *   {"runs_per_parser":100000,"seed":…,"parsers":{"gpu.lgip":{"runs":…,"rejections":…,"failures":0,"duration_ms":…},…},"failures":0,…}
 * Exit 1 when any target failed (a crash, a rejection that names nothing, a
 * host change, a hang). Only some targets: node scripts/chaos.ts <name>... (same seeds).
 * Seeds ROTATE: without CHAOS_SEED each run picks a fresh one (so runs explore new inputs; the short
 * run in `make test` keeps a fixed seed), printed at the start and the end with the command that
 * replays the whole run (CHAOS_SEED=S); each failure prints its target's own replay command.
 * Replay one target: node test/fuzz/worker.ts --runs N --seed S --scaled <name>.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TargetResult } from '../test/fuzz/harness.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORKER = path.join(ROOT, 'test/fuzz/worker.ts');
const RUNS = Number(process.env.CHAOS_RUNS ?? 100_000);
const JOBS = Math.max(1, Number(process.env.CHAOS_JOBS ?? Math.min(2, os.availableParallelism())));
const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : randomInt(2 ** 31 - 1);
if (!Number.isInteger(SEED) || SEED < 0)
  throw new Error(`CHAOS_SEED=${process.env.CHAOS_SEED}: expected a non-negative integer (the seed a previous run printed)`);
const TIMEOUT_MS = Number(process.env.CHAOS_TIMEOUT_S ?? 1800) * 1000;
const only = process.argv.slice(2);

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

const listed = await run(['--list'], 120_000);
if (listed.code !== 0) {
  process.stderr.write(`chaos: cannot list the fuzz targets:\n${listed.stderr}\n`);
  process.exit(1);
}
const listing = listed.stdout.trim().split('\n').map((l) => l.split('\t'));
const expected = new Map(listing.map(([n, scale]) => [n!, Math.ceil(RUNS * Number(scale))]));
const names = listing.map(([n]) => n!).filter((n) => only.length === 0 || only.includes(n));
const replay = `make chaos CHAOS_SEED=${SEED}${process.env.CHAOS_RUNS ? ` CHAOS_RUNS=${RUNS}` : ''}`;
process.stderr.write(
  `chaos: ${names.length} targets × ${RUNS} inputs, ${JOBS} at a time, seed ${SEED} (${process.env.CHAOS_SEED ? 'given' : 'fresh'}; replay: ${replay})\n`,
);

const t0 = Date.now();
const results = new Map<string, TargetResult>();
// A target's seed depends on its place in the full list, so `make chaos` with a subset reproduces it.
const allNames = listing.map(([n]) => n!);
const queue = names.map((n) => ({ name: n, seed: (SEED + allNames.indexOf(n) * 7919) % 2 ** 31 }));
async function worker(): Promise<void> {
  for (let job = queue.shift(); job; job = queue.shift()) {
    const start = Date.now();
    const r = await run(['--runs', String(RUNS), '--scaled', '--seed', String(job.seed), job.name], TIMEOUT_MS);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    let res: TargetResult;
    try {
      res = JSON.parse(line) as TargetResult;
    } catch {
      const why = r.timedOut ? `timed out after ${TIMEOUT_MS / 1000} s` : `worker exit ${r.code}: ${r.stderr.trim().split('\n').slice(-8).join('\n')}`;
      res = {
        name: job.name,
        parser: '',
        runs: 0,
        accepted: 0,
        rejections: 0,
        failures: 1,
        slow: 0,
        maxInputMs: 0,
        durationMs: Date.now() - start,
        seed: job.seed,
        examples: [{ input: '(worker)', error: why }],
      };
    }
    results.set(job.name, res);
    process.stderr.write(
      `chaos: ${res.name.padEnd(20)} ${String(res.runs).padStart(7)} runs  ${String(res.rejections).padStart(7)} rejected  ${res.failures} failures  ${(res.durationMs / 1000).toFixed(1)} s  (max ${res.maxInputMs} ms/input)\n`,
    );
    for (const e of res.examples) {
      const replay = `node test/fuzz/worker.ts --runs ${RUNS} --seed ${res.seed} --scaled ${res.name}`;
      process.stderr.write(`  FAILURE (seed ${res.seed}; replay: ${replay}): ${e.error}\n    input: ${e.input.slice(0, 500)}\n`);
    }
  }
}
await Promise.all(Array.from({ length: JOBS }, worker));

const ordered = names.map((n) => results.get(n)!);
const failures = ordered.reduce((a, r) => a + r.failures, 0);
const short = ordered.filter((r) => r.runs < expected.get(r.name)!).map((r) => r.name);
const summary = {
  runs_per_parser: RUNS,
  seed: SEED,
  jobs: JOBS,
  parsers: Object.fromEntries(
    ordered.map((r) => [
      r.name,
      { runs: r.runs, accepted: r.accepted, rejections: r.rejections, failures: r.failures, duration_ms: r.durationMs, max_input_ms: r.maxInputMs },
    ]),
  ),
  total_runs: ordered.reduce((a, r) => a + r.runs, 0),
  failures,
  incomplete: short,
  duration_s: Math.round((Date.now() - t0) / 100) / 10,
  node: process.version,
  cpus: os.availableParallelism(),
};
mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
writeFileSync(path.join(ROOT, 'dist/chaos.json'), `${JSON.stringify({ ...summary, results: ordered }, null, 2)}\n`);
process.stderr.write(`chaos: seed ${SEED}, ${failures} failure(s); replay this run: ${replay}\n`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(failures || short.length ? 1 : 0);
