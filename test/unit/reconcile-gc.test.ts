import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../agent/reconcile/gc.ts';

describe('collectGarbage (after each daemon pass)', () => {
  it('exposes gc at run time and frees unreachable memory', () => {
    let junk: Array<{ i: number; s: string }> | null = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `x${i}` }));
    expect(junk.length).toBe(300_000);
    const before = process.memoryUsage().heapUsed;
    // eslint-disable-next-line no-useless-assignment -- dropping the only reference is what lets gc free it
    junk = null;
    expect(collectGarbage()).toBe(true);
    const after = process.memoryUsage().heapUsed;
    expect(before - after).toBeGreaterThan(10 * 2 ** 20);
  });
});
