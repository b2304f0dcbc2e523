/** "Did you mean" helpers for operator typos. */

/** Levenshtein distance (insert, delete, substitute; each costs 1). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The closest candidate to `input`, or undefined when nothing is close.
 * Case-insensitive equality wins; then the smallest edit distance within
 * max(2, len/3); then a candidate that contains the input (or vice versa) as
 * a whole `_`/`.`-separated part (INITD_LABELS -> INITD_KUBERNETES_LABELS).
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const low = input.toLowerCase();
  const exactCase = candidates.find((c) => c.toLowerCase() === low);
  if (exactCase) return exactCase;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(low, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best !== undefined && bestD <= Math.max(2, Math.floor(input.length / 3))) return best;
  const parts = (s: string) => s.toLowerCase().split(/[_.-]/).filter(Boolean);
  const inParts = parts(input).filter((p) => p !== 'initd');
  if (inParts.length) {
    const hit = candidates.find((c) => {
      const cp = parts(c);
      return inParts.every((p) => cp.includes(p) || cp.some((x) => p.length > 3 && editDistance(x, p) <= (p.length > 5 ? 2 : 1)));
    });
    if (hit) return hit;
  }
  return undefined;
}

/** ` (did you mean "X"?)` or the empty string. */
export function hint(input: string, candidates: readonly string[]): string {
  const s = didYouMean(input, candidates);
  return s && s !== input ? `; did you mean "${s}"?` : '';
}
