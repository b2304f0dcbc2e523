/** Helpers shared by the `make bench` modules in scripts/bench/ (see scripts/bench.ts). */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');

export function pinnedNode(): string {
  const env = readFileSync(path.join(ROOT, 'scripts/node-pin.env'), 'utf8');
  const v = /^NODE_VERSION=(\S+)$/m.exec(env)?.[1];
  if (!v) throw new Error('NODE_VERSION missing in scripts/node-pin.env');
  return path.join(ROOT, '.cache/node', `${v}-x64`, 'bin/node');
}

/** dist/castai-edge-initd-linux-<arch> (made by `make build`). */
export function binaryPath(arch: 'amd64' | 'arm64'): string {
  return path.join(ROOT, 'dist', `castai-edge-initd-linux-${arch}`);
}

export function median(xs: number[]): number {
  if (!xs.length) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** (max − min) ÷ median, in %: how far the runs of one key lie apart. */
export function spreadPct(xs: number[]): number {
  const m = median(xs);
  return m === 0 ? 0 : round(((Math.max(...xs) - Math.min(...xs)) / Math.abs(m)) * 100);
}

/** One reading of a cgroup's cpu.stat usage_usec, at a guest time (epoch ms). */
export interface CpuSample {
  ms: number;
  usageUs: number;
}

/**
 * CPU seconds a cgroup used between two times, from periodic samples: the last sample at or
 * before `fromMs` (or 0, the cgroup's start, when fromMs is undefined) to the first at or after
 * `toMs`. Undefined when the samples do not bracket the interval, or the counter went backwards in
 * between (the unit restarted: a new cgroup).
 */
export function cpuBetween(samples: CpuSample[], fromMs: number | undefined, toMs: number): number | undefined {
  const sorted = [...samples].sort((a, b) => a.ms - b.ms);
  const before = fromMs === undefined ? { ms: -Infinity, usageUs: 0 } : sorted.filter((x) => x.ms <= fromMs).at(-1);
  const after = sorted.find((x) => x.ms >= toMs);
  if (!before || !after) return undefined;
  let last = before.usageUs;
  for (const x of sorted) {
    if (x.ms < before.ms || x.ms > after.ms) continue;
    if (x.usageUs < last) return undefined;
    last = x.usageUs;
  }
  return (after.usageUs - before.usageUs) / 1e6;
}

export function round(x: number, digits = 1): number {
  return Number(x.toFixed(digits));
}

/** Wall time of one run of cmd (spawn to exit) in ms; throws on a non-zero exit. */
export function wallMs(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim().slice(0, 500)}`);
  return ms;
}

/** Peak RSS of one run, in KiB, from GNU time (%M = maximum resident set size). Throws on a non-zero exit. */
export function peakRssKiB(cmd: string, args: string[]): number {
  const time = '/usr/bin/time';
  if (!existsSync(time)) throw new Error('/usr/bin/time (Debian package "time") is missing; run make apt-deps');
  const out = path.join(os.tmpdir(), `bench-rss-${process.pid}.txt`);
  try {
    const r = spawnSync(time, ['-f', '%M', '-o', out, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) throw new Error(`${time}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim().slice(0, 500)}`);
    const kib = Number(readFileSync(out, 'utf8').trim().split('\n').pop());
    if (!Number.isFinite(kib) || kib <= 0) throw new Error(`GNU time gave no peak RSS for ${cmd}`);
    return kib;
  } finally {
    rmSync(out, { force: true });
  }
}
