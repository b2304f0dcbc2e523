/**
 * Runs fuzz targets outside vitest (what `make chaos` does, one process per
 * core): `node test/fuzz/worker.ts --runs N [--seed S] [--scaled] name...` (no names = all).
 * --scaled gives each target N × its chaosScale inputs (the plan command is not a parser).
 * Prints one JSON line per target (a TargetResult) on stdout.
 */
import { fuzzSeed, runTarget } from './harness.ts';
import { allTargets } from './targets/index.ts';

const args = process.argv.slice(2);
let runs = 100_000;
let seed: number | undefined;
let scaled = false;
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--seed') seed = Number(args[++i]);
  else if (args[i] === '--scaled') scaled = true;
  else if (args[i] === '--list') {
    for (const t of await allTargets()) process.stdout.write(`${t.name}\t${t.chaosScale ?? 1}\t${t.parser}\n`);
    process.exit(0);
  } else names.push(args[i]!);
}
const targets = (await allTargets()).filter((t) => names.length === 0 || names.includes(t.name));
const unknown = names.filter((n) => !targets.some((t) => t.name === n));
if (unknown.length) {
  process.stderr.write(`unknown target(s): ${unknown.join(', ')}\n`);
  process.exit(2);
}
for (const t of targets) {
  const r = await runTarget(t, scaled ? Math.ceil(runs * (t.chaosScale ?? 1)) : runs, seed ?? fuzzSeed());
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
