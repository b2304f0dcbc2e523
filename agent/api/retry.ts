/**
 * Retry timing for every control-plane call (docs/decisions/0041-api-client-retry.md):
 * exponential backoff with full jitter, base 1 s, cap 60 s, a 100 ms floor so
 * nothing ever loops tightly, and `Retry-After` (seconds or HTTP-date) honoured
 * on 429/503. The clock is injectable so tests run in microseconds.
 */
import { setTimeout as sleepTimer } from 'node:timers/promises';

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await sleepTimer(ms, undefined, signal ? { signal } : {});
  },
};

export interface RetryPolicy {
  /** First backoff ceiling (default 1000 ms). */
  baseMs: number;
  /** Backoff ceiling cap (default 60 000 ms). */
  capMs: number;
  /** Lowest delay ever used (default 100 ms): full jitter never produces a tight loop. */
  floorMs: number;
  /** Attempts per call, the first included (default 10; Infinity = until aborted). */
  maxAttempts: number;
  /** Longest Retry-After we obey (default 1 h); longer values are clamped. */
  maxRetryAfterMs: number;
  /**
   * Longest Retry-After one call sleeps through (default 60 s, the backoff cap). A longer one ends
   * the call (kind rate-limited) instead of holding the reconcile pass or the heartbeat; the
   * per-operation Retry-After gate still keeps every later call from sending before it passes.
   */
  maxInCallWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, capMs: 60_000, floorMs: 100, maxAttempts: 10, maxRetryAfterMs: 3_600_000, maxInCallWaitMs: 60_000 };

/** Delay before retry number `retry` (0 = the first retry): uniform in [floor, min(cap, base·2^retry)]. */
export function backoffDelay(retry: number, policy: RetryPolicy = DEFAULT_RETRY, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(retry, 30));
  return Math.max(policy.floorMs, Math.floor(random() * ceiling));
}

/**
 * Parse a Retry-After header: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"). Returns milliseconds from `nowMs`
 * (0 for a date in the past), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  if (!/[a-z]/i.test(t)) return undefined;
  const at = Date.parse(t);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
