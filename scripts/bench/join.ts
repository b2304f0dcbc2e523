/**
 * `make bench` module: the join in the VM lab (see ../shared/design/bench.md).
 *
 *   join_agent_s        installer start → joined (the k0s step's "joined" line), guest clock,
 *                       minus the k0s download (the emulator's serving time of the k0s artifact)
 *   join_steps_s        the first pass, per step, from the journal's `[i/6] step: … (Xs)` lines
 *   noop_reconcile_s    median agent time (sum of the step durations) of the steady-state passes:
 *                       the periodic pass after the join, and two after the reboot
 *   reboot_to_joined_s  guest boot → k0sworker active again (its ActiveEnterTimestampMonotonic)
 *   idle_rss_mb         VmRSS of the daemon (MainPID) after BENCH_IDLE_MINUTES (default 10) of steady state
 *   idle_cpu_pct        its utime+stime over that window ÷ the window, in % of one CPU (guest clock;
 *                       under TCG every guest instruction costs several times its native time, so this
 *                       overstates a real machine's figure)
 *   vm_tcg_cpu_slowdown guest CPU ÷ host CPU for the same binary's `version` ×10 (see tcgSlowdown)
 *   idle_cpu_pct_native_est  idle_cpu_pct ÷ vm_tcg_cpu_slowdown: the estimate for a real machine
 *
 * One Debian 12 guest under qemu (TCG here: no KVM), the documented one-liner against the
 * control-plane emulator, the k0s TEST DOUBLE as k0s (test/e2e/join-fixture.ts). Everything is
 * measured; when the lab cannot run (no image, no root) the keys are left out, never guessed.
 */
import { existsSync } from 'node:fs';
import {
  agentLog,
  bootJoinLab,
  guestBootEpochMs,
  guestNow,
  oneLiner,
  passes,
  prepareGuest,
  rebootVm,
  STEPS,
  waitJoined,
  waitPass,
} from '../../test/e2e/join-fixture.ts';
import { AGENT_BINARY_AMD64, currentImage, type Vm } from '../../test/e2e/lab.ts';

const s = (ms: number) => Number((ms / 1000).toFixed(3));

function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

interface IdleSample {
  minutes: number;
  fromMs: number;
  toMs: number;
  rssStartMb: number;
  rssMb: number;
  cpuPct: number;
}

/** /proc/<MainPID>: VmRSS, and utime+stime in clock ticks, with the guest clock in ms. */
async function procSample(vm: Vm): Promise<{ pid: number; rssKb: number; ticks: number; hz: number; ms: number }> {
  const out = await vm.sh(
    `pid=$(systemctl show -p MainPID --value castai-edge-initd); echo $pid; awk '/^VmRSS:/{print $2}' /proc/$pid/status; cut -d')' -f2 /proc/$pid/stat | awk '{print $12+$13}'; getconf CLK_TCK; date +%s%3N`,
  );
  const [pid, rss, ticks, hz, ms] = out.trim().split('\n').map(Number);
  return { pid: pid!, rssKb: rss!, ticks: ticks!, hz: hz!, ms: ms! };
}

/** RSS after `minutes` of steady state, and the CPU the daemon used over them (% of one CPU). */
async function idleSample(vm: Vm, minutes: number): Promise<IdleSample> {
  const a = await procSample(vm);
  await new Promise((r) => setTimeout(r, minutes * 60_000));
  const b = await procSample(vm);
  if (a.pid !== b.pid || !a.pid) throw new Error(`the agent restarted during the idle window (MainPID ${a.pid} -> ${b.pid})`);
  const mb = (kb: number) => Number((kb / 1024).toFixed(1));
  return {
    minutes,
    fromMs: a.ms,
    toMs: b.ms,
    rssStartMb: mb(a.rssKb),
    rssMb: mb(b.rssKb),
    cpuPct: Number(((((b.ticks - a.ticks) / a.hz) * 1000 * 100) / (b.ms - a.ms)).toFixed(3)),
  };
}

/**
 * How much more CPU the same work costs in this TCG guest than on the host: user+sys CPU of 10
 * runs of the same `castai-edge-initd version` binary in the guest ÷ on the host. Divides the
 * guest's idle_cpu_pct into an estimate for a real machine (idle_cpu_pct_native_est).
 */
async function tcgSlowdown(vm: Vm): Promise<number> {
  const loop = (bin: string) => `TIMEFORMAT='%U %S'; time (for i in 1 2 3 4 5 6 7 8 9 10; do ${bin} version >/dev/null; done)`;
  const cpu = (out: string) => {
    const [u, sy] = out.trim().split('\n').pop()!.trim().split(/\s+/).map(Number);
    return u! + sy!;
  };
  const guest = cpu((await vm.exec(`${loop('/usr/local/bin/castai-edge-initd')} 2>&1`, { timeoutMs: 300_000 })).stdout);
  const { execFileSync } = await import('node:child_process');
  const host = cpu(execFileSync('bash', ['-c', `${loop(AGENT_BINARY_AMD64)} 2>&1`], { encoding: 'utf8' }));
  return Number((guest / host).toFixed(1));
}

export default async function joinBench(): Promise<Record<string, unknown>> {
  const why = process.getuid?.() !== 0 ? 'needs root (netns, TAP)' : !existsSync(AGENT_BINARY_AMD64) ? 'run make build first' : await currentImage().then(() => '', (e: Error) => e.message);
  if (why) {
    process.stderr.write(`bench join: skipped (${why})\n`);
    return {};
  }
  const { lab, cp, vm } = await bootJoinLab('bench-join');
  try {
    await prepareGuest(vm, cp);
    const t0 = await guestNow(vm);
    const inst = await vm.exec(oneLiner(cp), { timeoutMs: 900_000 });
    if (inst.exitCode !== 0) throw new Error(`installer failed: ${inst.stdout}\n${inst.stderr}`);
    await waitJoined(vm, cp, 900_000);
    const log = await agentLog(vm);
    const first = passes(log)[0];
    if (!first?.complete) throw new Error('the first pass did not complete');
    const joined = first.lines.find((l) => l.step === 'k0s')!;
    const download = cp.snapshot().requests.filter((r) => r.endpoint === 'k0s-artifact' && r.status === 200).reduce((a, r) => a + r.durationMs, 0);
    const joinSteps = Object.fromEntries(STEPS.map((n) => [n, s(first.steps[n] ?? 0)]));

    const noop: number[] = [];
    noop.push((await waitPass(vm, joined.time + 1, 200_000)).totalMs);
    await rebootVm(vm);
    const boot = await guestBootEpochMs(vm);
    const bootPass = await waitPass(vm, boot, 600_000);
    await waitJoined(vm, cp, 300_000);
    const k0sUpUs = Number((await vm.sh('systemctl show -p ActiveEnterTimestampMonotonic --value k0sworker')).trim());
    const p1 = await waitPass(vm, bootPass.end + 1, 200_000);
    const p2 = await waitPass(vm, p1.end + 1, 200_000);
    noop.push(p1.totalMs, p2.totalMs);

    // Idle: the daemon in steady state for IDLE_MINUTES (10 by the contract); every pass in that
    // window is a no-op pass too.
    const idle = await idleSample(vm, Number(process.env.BENCH_IDLE_MINUTES ?? 10));
    const idlePasses = passes(await agentLog(vm)).filter((p) => p.complete && p.start >= idle.fromMs && p.end <= idle.toMs);
    const tcg = await tcgSlowdown(vm);
    noop.push(...idlePasses.map((p) => p.totalMs));

    return {
      join_agent_s: s(joined.time - t0 * 1000 - download),
      join_wall_s: s(joined.time - t0 * 1000),
      join_k0s_download_s: s(download),
      join_steps_s: joinSteps,
      noop_reconcile_s: s(median(noop)),
      noop_reconcile_runs_s: noop.map(s),
      reboot_to_joined_s: s(k0sUpUs / 1000),
      idle_rss_mb: idle.rssMb,
      idle_rss_start_mb: idle.rssStartMb,
      idle_cpu_pct: idle.cpuPct,
      idle_minutes: idle.minutes,
      idle_passes: idlePasses.length,
      vm_tcg_cpu_slowdown: tcg,
      idle_cpu_pct_native_est: Number((idle.cpuPct / tcg).toFixed(3)),
      join_vm_accel: 'tcg',
    };
  } finally {
    await lab.close();
    await cp.stop();
  }
}

// `node scripts/bench/join.ts` on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  joinBench().then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`bench join: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
