/**
 * The fuzz harness shared by `make test` (short run, test/unit/fuzz-*.test.ts)
 * and `make chaos` (>= 100 000 inputs per target, scripts/chaos.ts).
 *
 * A target is one parser (or one inspect→plan path) plus a generator of
 * inputs. `check(input)` runs the parser and returns 'accepted' or 'rejected';
 * it THROWS when a property breaks:
 *   - the parser threw something other than its documented error type
 *     (TypeError, RangeError, SyntaxError, ...): a crash;
 *   - a rejection does not name the input field / variable / command;
 *   - an accepted value breaks an invariant of its type;
 *   - the agent ran a host-changing command or wrote a file (plan paths).
 * The runner counts outcomes, keeps the first failing inputs, and flags any
 * single input slower than SLOW_MS twice in a row (catastrophic regex backtracking).
 */
import fc from 'fast-check';

export type Outcome = 'accepted' | 'rejected';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds targets of different input types
export interface FuzzTarget<T = any> {
  /** e.g. "gpu.lgip" */
  name: string;
  /** What is fuzzed, for the report: "parseLgip (nvidia-smi mig -lgip)". */
  parser: string;
  arbitrary: fc.Arbitrary<T>;
  check(input: T): Outcome | Promise<Outcome>;
  /** Relative cost: the short run gives this target runs / cost inputs (default 1). */
  cost?: number;
  /** `make chaos` runs CHAOS_RUNS × chaosScale inputs (default 1; only for targets that are not a parser). */
  chaosScale?: number;
}

export interface FailureExample {
  input: string;
  error: string;
}

export interface TargetResult {
  name: string;
  parser: string;
  runs: number;
  accepted: number;
  rejections: number;
  failures: number;
  slow: number;
  maxInputMs: number;
  durationMs: number;
  seed: number;
  examples: FailureExample[];
}

/** A broken property (not the parser's documented rejection). */
export class FuzzFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzFailure';
  }
}

export function fail(message: string): never {
  throw new FuzzFailure(message);
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new FuzzFailure(message);
}

/** Any single input slower than this is a failure (a hang in the agent would be worse). */
export const SLOW_MS = 1000;

/** FUZZ_RUNS from the environment (default `def`). */
export function fuzzRuns(def = 150): number {
  const n = Number(process.env.FUZZ_RUNS ?? '');
  return Number.isInteger(n) && n > 0 ? n : def;
}

/**
 * The seed of the short run in `make test` (test/unit/fuzz-parsers.test.ts): FIXED, so a CI run is
 * reproducible and a red build is red again on a re-run. New inputs come from `make chaos`, which
 * picks a fresh seed each time and prints it (scripts/chaos.ts; docs/decisions/0080, 0221).
 */
export const FIXED_FUZZ_SEED = 1_702_170_221;

/** FUZZ_SEED from the environment (to replay, or to explore by hand), else FIXED_FUZZ_SEED. Printed in every result. */
export function fuzzSeed(): number {
  const raw = process.env.FUZZ_SEED;
  const n = Number(raw);
  return raw && Number.isInteger(n) ? n : FIXED_FUZZ_SEED;
}

function show(input: unknown): string {
  let s: string;
  try {
    s =
      typeof input === 'string' ? JSON.stringify(input) : (JSON.stringify(input, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? String(input));
  } catch {
    s = String(input);
  }
  return s.length > 3000 ? `${s.slice(0, 3000)}…(${s.length} chars)` : s;
}

function describeError(e: unknown): string {
  if (e instanceof FuzzFailure) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`;
  return `non-Error thrown: ${String(e)}`;
}

/** Run one target over `runs` generated inputs. Never throws: failures are counted and examples kept. */
export async function runTarget<T>(t: FuzzTarget<T>, runs: number, seed = fuzzSeed()): Promise<TargetResult> {
  const r: TargetResult = {
    name: t.name,
    parser: t.parser,
    runs: 0,
    accepted: 0,
    rejections: 0,
    failures: 0,
    slow: 0,
    maxInputMs: 0,
    durationMs: 0,
    seed,
    examples: [],
  };
  const t0 = performance.now();
  const record = (input: T, error: string) => {
    r.failures++;
    if (r.examples.length < 5) r.examples.push({ input: show(input), error });
  };
  await fc.check(
    fc.asyncProperty(t.arbitrary, async (input) => {
      r.runs++;
      const s = performance.now();
      try {
        const out = await t.check(input);
        if (out === 'accepted') r.accepted++;
        else if (out === 'rejected') r.rejections++;
        else record(input, `check returned ${String(out)}`);
      } catch (e) {
        record(input, describeError(e));
      }
      let ms = performance.now() - s;
      if (ms > SLOW_MS) {
        // Once more: a GC pause or a busy machine is not the parser's fault; backtracking repeats.
        const again = performance.now();
        await Promise.resolve(t.check(input)).catch(() => undefined);
        ms = Math.min(ms, performance.now() - again);
        if (ms > SLOW_MS) {
          r.slow++;
          record(input, `slow input: ${ms.toFixed(0)} ms twice (> ${SLOW_MS} ms)`);
        }
      }
      if (ms > r.maxInputMs) r.maxInputMs = ms;
      return true;
    }),
    { numRuns: runs, seed, endOnFailure: true },
  );
  r.durationMs = Math.round(performance.now() - t0);
  r.maxInputMs = Math.round(r.maxInputMs * 10) / 10;
  return r;
}

/**
 * The rejection check most targets share: `e` must be an instance of one of
 * `types`, and `names(e)` must say which field/variable/command it is about.
 */
export function expectRejection(
  e: unknown,
  types: ReadonlyArray<abstract new (...a: never[]) => Error>,
  names: (e: Error) => string | false | undefined,
  where: string,
): 'rejected' {
  if (e instanceof FuzzFailure) throw e;
  if (!types.some((T) => e instanceof T)) throw e; // a crash: reported with its stack by the runner
  const err = e as Error;
  const what = names(err);
  if (!what) fail(`${where}: ${err.name} does not name the input field/command: ${JSON.stringify(err.message.slice(0, 300))}`);
  if (!err.message || err.message.length < 10) fail(`${where}: ${err.name} has no useful message: ${JSON.stringify(err.message)}`);
  return 'rejected';
}

/** Run a synchronous parser: 'accepted' after `onValue` checks, or a checked rejection. */
export function parseWith<R>(
  fn: () => R,
  onValue: (v: R) => void,
  types: ReadonlyArray<abstract new (...a: never[]) => Error>,
  names: (e: Error) => string | false | undefined,
  where: string,
): Outcome {
  let v: R;
  try {
    v = fn();
  } catch (e) {
    return expectRejection(e, types, names, where);
  }
  onValue(v);
  return 'accepted';
}

export const isInt = (n: unknown, min = 0): boolean => typeof n === 'number' && Number.isInteger(n) && n >= min;
export const isStr = (s: unknown): s is string => typeof s === 'string';

/** Type-checks a target against its own input type, then erases it for the registry. */
export function target<T>(t: FuzzTarget<T>): FuzzTarget<unknown> {
  return t;
}
