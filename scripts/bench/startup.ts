/**
 * `make bench` module: startup against its floor (shared/design/bench.md).
 *
 *   startup_version_ms           median wall time of `dist/castai-edge-initd-linux-amd64 version`
 *   startup_sea_floor_ms         median wall time of the FLOOR: a trivial single executable of the
 *                                same pinned Node that prints a version and exits
 *                                (scripts/floor/sea-floor.ts), built here by the very pipeline of
 *                                the agent (scripts/build.ts: same stripped Node, same SEA code-cache
 *                                setting, postject), as its main script
 *   startup_version_floor_ratio  startup_version_ms ÷ startup_sea_floor_ms (target ≤ 1.1)
 *   startup_node_baseline_ms     median wall time of the pinned `node -e 0`
 *   startup_*_cpu_ms             user+system CPU per run of the same commands, from the same
 *                                alternating runs (this process's cutime+cstime before and after
 *                                each child, summed over the runs): the figure that survives a
 *                                loaded machine
 *   startup_version_floor_cpu_ratio  the CPU ratio
 *
 * Each of the RUNS rounds (after WARMUP) runs the three commands once, one after the other, each a
 * fresh process ("cold" = new process; the page cache is warm after the warm-up, as on a node after
 * the first start): they alternate, so all three see the same machine load and the ratio holds on a
 * shared machine where absolute times drift.
 *
 * While it measures, the module raises its own priority to nice -10 when it may (root) and restores
 * it afterwards; the children inherit it. The load average is printed on stderr with the result.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binaryPath, median, pinnedNode, ROOT, round, wallMs } from '../bench-lib.ts';

const RUNS = 20;
const WARMUP = 2;
export const FLOOR_DIR = path.join(ROOT, 'dist/floor');
export const FLOOR_BINARY = path.join(FLOOR_DIR, 'sea-floor-linux-amd64');

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU ms (user + system) of this process's waited-for children so far: /proc/self/stat cutime + cstime. */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
}

/** One run: wall ms (spawn to exit) and the child's CPU ms. */
function measure(cmd: string, args: string[]): { wall: number; cpu: number } {
  const c0 = childrenCpuMs();
  const wall = wallMs(cmd, args);
  return { wall, cpu: childrenCpuMs() - c0 };
}

/** Build the floor executable (incremental: scripts/build.ts skips it when nothing changed). */
export function buildFloor(): string {
  const r = spawnSync(
    path.join(ROOT, 'scripts/build.sh'),
    ['--entry', 'scripts/floor/sea-floor.ts', '--name', 'sea-floor', '--arch', 'amd64', '--no-compress', '--no-loader', '--out', FLOOR_DIR],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`building the SEA floor failed: ${r.stderr.trim().slice(-1000)}`);
  return FLOOR_BINARY;
}

export default async function startupBench(): Promise<Record<string, unknown>> {
  const bin = binaryPath('amd64');
  if (!existsSync(bin)) throw new Error(`${bin} is missing; run make build`);
  const floor = buildFloor();
  const node = pinnedNode();
  const before = os.getPriority(0);
  let niced = false;
  try {
    os.setPriority(0, -10);
    niced = true;
  } catch {
    // not root: measure at the normal priority
  }
  const cpu = { agent: 0, floor: 0, node: 0 };
  const agent: number[] = [];
  const floorMs: number[] = [];
  const baseline: number[] = [];
  try {
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const a = measure(bin, ['version']);
      const f = measure(floor, []);
      const b = measure(node, ['-e', '0']);
      if (i >= WARMUP) {
        agent.push(a.wall);
        floorMs.push(f.wall);
        baseline.push(b.wall);
        cpu.agent += a.cpu / RUNS;
        cpu.floor += f.cpu / RUNS;
        cpu.node += b.cpu / RUNS;
      }
    }
  } finally {
    if (niced) os.setPriority(0, before);
  }
  process.stderr.write(
    `bench startup: ${RUNS} alternating runs at nice ${niced ? -10 : before}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores\n`,
  );
  const v = median(agent);
  const f = median(floorMs);
  return {
    startup_version_ms: round(v),
    startup_sea_floor_ms: round(f),
    startup_version_floor_ratio: round(v / f, 3),
    startup_node_baseline_ms: round(median(baseline)),
    startup_version_cpu_ms: round(cpu.agent),
    startup_sea_floor_cpu_ms: round(cpu.floor),
    startup_node_baseline_cpu_ms: round(cpu.node),
    ...(cpu.floor > 0 ? { startup_version_floor_cpu_ratio: round(cpu.agent / cpu.floor, 3) } : {}),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await startupBench())}\n`);
}
