/**
 * MIG layout semantics (pure). See docs/decisions/0060-mig-partition-semantics.md.
 *
 * - `partitionSizes` is the multiset of GPU-instance profiles wanted on EACH
 *   MIG-capable GPU.
 * - A single entry means "fill the GPU with as many of it as fit".
 * - Names resolve against that GPU's own `-lgip` (never a built-in table).
 * - A set that does not fit is refused with the arithmetic.
 */
import type { ComputeInstance, GiProfile, GpuInstance, ProfilePlacements } from './parse.ts';

/** What a GPU offers, read from its `-lgip` and `-lgipp`. */
export interface GpuCapabilities {
  index: number;
  model: string;
  profiles: GiProfile[];
  placements: ProfilePlacements[];
}

export interface ResolvedProfile {
  name: string;
  id: number;
  /** Compute slices (the "<n>g" of the name). */
  compute: number;
  /** Memory slices (the placement size from -lgipp). */
  memory: number;
}

export interface ResolvedLayout {
  /** The instances to create, largest first. */
  instances: ResolvedProfile[];
  /** True when a single entry was expanded to fill the GPU. */
  filled: boolean;
}

/** A requested layout that cannot be applied on a GPU; `message` shows why. */
export class MigLayoutError extends Error {
  readonly gpu: number;
  readonly model: string;
  constructor(gpu: number, model: string, message: string) {
    super(message);
    this.name = 'MigLayoutError';
    this.gpu = gpu;
    this.model = model;
  }
}

const normalize = (s: string) => s.trim().replace(/^MIG\s+/i, '').toLowerCase();

export function computeSlices(profileName: string): number {
  const m = /^(\d+)g\./.exec(profileName) ?? /^\d+c\.(\d+)g\./.exec(profileName);
  return m ? Number(m[1]) : 0;
}

function gpuTotals(cap: GpuCapabilities): { compute: number; memory: number } {
  let compute = 0;
  let memory = 0;
  for (const p of cap.profiles) compute = Math.max(compute, computeSlices(p.name));
  for (const pl of cap.placements) for (const s of pl.starts) memory = Math.max(memory, s + pl.size);
  return { compute, memory };
}

function placementOf(cap: GpuCapabilities, id: number): ProfilePlacements | undefined {
  return cap.placements.find((p) => p.profileId === id);
}

/** Largest first: more memory slices, then more compute slices, then the lower profile id. */
export function largestFirst(a: ResolvedProfile, b: ResolvedProfile): number {
  return b.memory - a.memory || b.compute - a.compute || a.id - b.id;
}

/** Resolve names against this GPU's `-lgip`; unknown names list the available ones. */
export function resolveNames(sizes: readonly string[], cap: GpuCapabilities): ResolvedProfile[] {
  const out: ResolvedProfile[] = [];
  const unknown: string[] = [];
  for (const raw of sizes) {
    const want = normalize(raw);
    const p = cap.profiles.find((x) => x.name.toLowerCase() === want);
    if (!p) {
      if (!unknown.includes(raw)) unknown.push(raw);
      continue;
    }
    const pl = placementOf(cap, p.id);
    if (!pl) {
      throw new MigLayoutError(cap.index, cap.model, `profile ${p.name} (ID ${p.id}) has no placements in -lgipp of ${cap.model} (GPU ${cap.index})`);
    }
    out.push({ name: p.name, id: p.id, compute: computeSlices(p.name), memory: pl.size });
  }
  if (unknown.length) {
    const available = [...new Set(cap.profiles.map((p) => p.name))].join(', ');
    const what = unknown.length === 1 ? `profile ${unknown[0]} does not exist` : `profiles ${unknown.join(', ')} do not exist`;
    throw new MigLayoutError(cap.index, cap.model, `${what} on ${cap.model} (GPU ${cap.index}); available: ${available}`);
  }
  return out;
}

/**
 * Find starts for every instance (largest first, backtracking) using the
 * possible placements from -lgipp. Returns the starts, or undefined.
 */
export function findPlacement(instances: readonly ResolvedProfile[], cap: GpuCapabilities): number[] | undefined {
  const order = instances.map((p, i) => ({ p, i })).sort((a, b) => largestFirst(a.p, b.p));
  const used: Array<[number, number]> = [];
  const starts = new Array<number>(instances.length);
  const overlaps = (s: number, z: number) => used.some(([a, b]) => !(s + z <= a || a + b <= s));
  const go = (k: number): boolean => {
    if (k === order.length) return true;
    const { p, i } = order[k]!;
    const pl = placementOf(cap, p.id)!;
    // Identical profiles: only try starts above the previous one (no duplicate search).
    const prev = k > 0 && order[k - 1]!.p.id === p.id ? starts[order[k - 1]!.i]! : -1;
    for (const s of pl.starts) {
      if (s <= prev || overlaps(s, pl.size)) continue;
      used.push([s, pl.size]);
      starts[i] = s;
      if (go(k + 1)) return true;
      used.pop();
    }
    return false;
  };
  return go(0) ? starts : undefined;
}

/** Every reason a multiset does not fit, with the arithmetic; empty when it fits. */
export function fitProblems(instances: readonly ResolvedProfile[], cap: GpuCapabilities): string[] {
  const problems: string[] = [];
  const totals = gpuTotals(cap);
  const sum = (f: (p: ResolvedProfile) => number) => instances.reduce((a, p) => a + f(p), 0);
  const terms = (f: (p: ResolvedProfile) => number) => instances.map((p) => `${f(p)} (${p.name})`).join(' + ');
  const c = sum((p) => p.compute);
  const m = sum((p) => p.memory);
  if (c > totals.compute) problems.push(`compute slices: ${terms((p) => p.compute)} = ${c} > ${totals.compute} on this GPU`);
  if (m > totals.memory) problems.push(`memory slices: ${terms((p) => p.memory)} = ${m} > ${totals.memory} on this GPU`);
  const counts = new Map<number, number>();
  for (const p of instances) counts.set(p.id, (counts.get(p.id) ?? 0) + 1);
  for (const [id, n] of counts) {
    const prof = cap.profiles.find((x) => x.id === id)!;
    if (n > prof.total) problems.push(`instances of ${prof.name}: ${n} requested > ${prof.total} possible (Total in -lgip)`);
  }
  if (problems.length === 0 && instances.length > 0 && !findPlacement(instances, cap)) {
    const desc = [...counts].map(([id]) => {
      const prof = cap.profiles.find((x) => x.id === id)!;
      const pl = placementOf(cap, id)!;
      return `${prof.name} at {${pl.starts.join(',')}}:${pl.size}`;
    });
    problems.push(`placements: no non-overlapping assignment of memory slices exists (possible placements from -lgipp: ${desc.join('; ')})`);
  }
  return problems;
}

/**
 * The layout for one GPU: the requested multiset, or (single entry) as many of
 * that profile as fit. Throws MigLayoutError with the arithmetic when it does not fit.
 */
export function resolveLayout(sizes: readonly string[], cap: GpuCapabilities): ResolvedLayout {
  if (sizes.length === 0) throw new MigLayoutError(cap.index, cap.model, 'partitionSizes is empty');
  const resolved = resolveNames(sizes, cap);
  const header = (list: readonly ResolvedProfile[]) =>
    `MIG layout ${list.map((p) => p.name).join(' + ')} does not fit on ${cap.model} (GPU ${cap.index})`;
  if (resolved.length === 1) {
    const one = resolved[0]!;
    const prof = cap.profiles.find((p) => p.id === one.id)!;
    let best: ResolvedProfile[] = [];
    for (let n = 1; n <= Math.max(prof.total, 1); n++) {
      const cand = Array.from({ length: n }, () => ({ ...one }));
      if (fitProblems(cand, cap).length) break;
      best = cand;
    }
    if (best.length === 0) {
      throw new MigLayoutError(cap.index, cap.model, `${header([one])}:\n  ${fitProblems([one], cap).join('\n  ')}`);
    }
    return { instances: best, filled: true };
  }
  const problems = fitProblems(resolved, cap);
  if (problems.length) throw new MigLayoutError(cap.index, cap.model, `${header(resolved)}:\n  ${problems.join('\n  ')}`);
  return { instances: [...resolved].sort(largestFirst), filled: false };
}

/**
 * Creation orders to try: largest first, then the other distinct orders
 * (the driver picks placements itself and some orders fail; NVIDIA's MIG guide
 * shows `-cgi 19,19,14,9` failing where `9,19,14,19` works). At most `limit`.
 */
export function creationOrders(instances: readonly ResolvedProfile[], limit = 24): number[][] {
  const first = [...instances].sort(largestFirst).map((p) => p.id);
  const out: number[][] = [first];
  const seen = new Set([first.join(',')]);
  const permute = (rest: number[], acc: number[]) => {
    if (out.length >= limit) return;
    if (rest.length === 0) {
      const k = acc.join(',');
      if (!seen.has(k)) {
        seen.add(k);
        out.push([...acc]);
      }
      return;
    }
    const tried = new Set<number>();
    for (let i = 0; i < rest.length; i++) {
      const v = rest[i]!;
      if (tried.has(v)) continue;
      tried.add(v);
      permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, v]);
    }
  };
  permute(first, []);
  return out;
}

/** The current layout of a GPU: sorted GI profile names, and whether each GI has exactly one full CI. */
export interface CurrentLayout {
  gis: string[];
  complete: boolean;
  problems: string[];
}

export function currentLayout(gpu: number, gis: readonly GpuInstance[], cis: readonly ComputeInstance[]): CurrentLayout {
  const mine = gis.filter((g) => g.gpu === gpu);
  const myCis = cis.filter((c) => c.gpu === gpu);
  const problems: string[] = [];
  for (const gi of mine) {
    const c = myCis.filter((x) => x.giId === gi.id);
    if (c.length === 0) problems.push(`GPU instance ${gi.id} (${gi.name}) has no compute instance`);
    else if (c.length > 1 || c[0]!.name !== gi.name)
      problems.push(`GPU instance ${gi.id} (${gi.name}) is split into compute instances ${c.map((x) => x.name).join(', ')}`);
  }
  for (const c of myCis) if (!mine.some((g) => g.id === c.giId)) problems.push(`compute instance ${c.id} belongs to unknown GPU instance ${c.giId}`);
  return { gis: mine.map((g) => g.name).sort(sortNames), complete: problems.length === 0, problems };
}

/** Sort profile names largest first (by compute slices, then name). */
export function sortNames(a: string, b: string): number {
  return computeSlices(b) - computeSlices(a) || a.localeCompare(b);
}

export function sameLayout(current: CurrentLayout, desired: readonly string[]): boolean {
  const want = [...desired].sort(sortNames);
  return current.complete && current.gis.length === want.length && current.gis.every((n, i) => n === want[i]);
}

/** "7 × 1g.5gb", "3g.20gb + 2 × 1g.5gb", "(none)". */
export function describeLayout(names: readonly string[]): string {
  if (names.length === 0) return '(none)';
  const counts = new Map<string, number>();
  for (const n of [...names].sort(sortNames)) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([n, c]) => (c > 1 ? `${c} × ${n}` : n)).join(' + ');
}
