import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, parseRetryAfter } from '../../agent/api/retry.ts';

describe('backoffDelay (full jitter, 1 s → 60 s cap)', () => {
  it('the ceiling doubles from 1 s and caps at 60 s', () => {
    const ceilings = Array.from({ length: 10 }, (_, i) => backoffDelay(i, DEFAULT_RETRY, () => 0.999999));
    expect(ceilings).toEqual([999, 1999, 3999, 7999, 15999, 31999, 59999, 59999, 59999, 59999]);
  });

  it('never goes below the 100 ms floor (no tight loops)', () => {
    expect(backoffDelay(0, DEFAULT_RETRY, () => 0)).toBe(100);
    expect(backoffDelay(50, DEFAULT_RETRY, () => 0)).toBe(100);
  });

  it('stays within [floor, min(cap, base·2^n)] for any random value (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const d = backoffDelay(n, DEFAULT_RETRY, () => r);
        expect(d).toBeGreaterThanOrEqual(100);
        expect(d).toBeLessThanOrEqual(Math.min(60_000, 1000 * 2 ** Math.min(n, 30)));
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });
  it('reads an HTTP-date relative to now, and 0 for the past', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });
  it('ignores absent or unparseable values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('-3', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
  });
});
