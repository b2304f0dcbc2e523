/**
 * `make bench` module: startup_version_ms and startup_node_baseline_ms.
 *
 * Median wall time (spawn to exit, measured from this process) of
 * `dist/castai-edge-initd-linux-amd64 version` over RUNS runs, each a fresh
 * process ("cold" = new process; the page cache is warm after WARMUP runs, as it
 * is on a node after the first start). The pinned Node's `node -e 0` is measured
 * in the same loop, interleaved, as the floor: both see the same machine load.
 *
 * The build machine is shared (2 cores, other jobs running), so while it
 * measures this module raises its own scheduling priority to nice -10 when it
 * may (root), and restores it afterwards; the children inherit it. That removes
 * most of the neighbours' noise, not the binary's own cost. The load average is
 * printed on stderr next to the result.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { binaryPath, median, pinnedNode, round, wallMs } from '../bench-lib.ts';

const RUNS = 20;
const WARMUP = 2;

export default async function startupBench(): Promise<Record<string, unknown>> {
  const bin = binaryPath('amd64');
  if (!existsSync(bin)) throw new Error(`${bin} is missing; run make build`);
  const node = pinnedNode();
  const before = os.getPriority(0);
  let niced = false;
  try {
    os.setPriority(0, -10);
    niced = true;
  } catch {
    // not root: measure at the normal priority
  }
  const agent: number[] = [];
  const baseline: number[] = [];
  try {
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const a = wallMs(bin, ['version']);
      const b = wallMs(node, ['-e', '0']);
      if (i >= WARMUP) {
        agent.push(a);
        baseline.push(b);
      }
    }
  } finally {
    if (niced) os.setPriority(0, before);
  }
  process.stderr.write(
    `bench startup: ${RUNS} runs at nice ${niced ? -10 : before}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores\n`,
  );
  return {
    startup_version_ms: round(median(agent)),
    startup_node_baseline_ms: round(median(baseline)),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  startupBench().then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
