import type { Logger } from 'pino';
import type { AgentConfig } from '../config/types.ts';
import { EXIT } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { FailureTracker } from './backoff.ts';
import { stepContext } from './context.ts';
import { type Journal, JournalWriter, type Phase } from './journal.ts';
import { phaseWithNode } from './node-phase.ts';
import { Notifier } from './notify.ts';
import { runPass, summaryLine, type PassResult } from './runner.ts';
import type { Step, StepContext } from './step.ts';
import { BOOT_ID_FILE } from '../host/paths.ts';

export interface DaemonOptions {
  host: Host;
  cfg: AgentConfig;
  log: Logger;
  steps: Step[];
  once: boolean;
  env?: NodeJS.ProcessEnv;
  /** Reconcile period (default 60 s) and its jitter fraction (default ±20 %). */
  periodMs?: number;
  jitter?: number;
  /** Called after every pass (status reports, edge polling). May request teardown by returning 'teardown'. */
  afterPass?: (d: DaemonState, r: PassResult) => Promise<undefined | 'teardown'>;
  /** Tears the node down when the edge was deleted; the daemon exits afterwards. */
  teardown?: (d: DaemonState) => Promise<void>;
}

export interface DaemonState {
  ctx: StepContext;
  journal: JournalWriter;
  notifier: Notifier;
  /** Set when the phase changed in the last pass. */
  phaseChanged: boolean;
}

/** Sleeps `ms`, or less when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function jittered(ms: number, fraction: number, rand: () => number = Math.random): number {
  return Math.round(ms * (1 - fraction + 2 * fraction * rand()));
}

function phaseAfter(r: PassResult, journal: Journal): Phase {
  if (r.ok) return 'READY';
  return journal.phase === 'READY' || journal.phase === 'DEGRADED' ? 'DEGRADED' : 'JOINING';
}

/**
 * The agent daemon. Every step is re-checked at boot and then every period
 * (with jitter); only drift is applied. SIGTERM aborts the signal: the pass
 * stops before the next step (the step in progress finishes its action), and
 * the process exits.
 */
export async function runDaemon(o: DaemonOptions, signal: AbortSignal): Promise<number> {
  const ctx = await stepContext(o.host, o.cfg, o.log, signal);
  const bootId = ((await o.host.readFile(BOOT_ID_FILE)) ?? 'unknown').trim();
  const previous = await JournalWriter.load(ctx.store);
  if (previous?.steps.some((s) => s.state === 'running')) {
    const s = previous.steps.find((x) => x.state === 'running')!;
    o.log.warn({ step: s.name }, `resuming: the previous run stopped inside step ${s.name}; re-running it (every step is idempotent)`);
  }
  const journal = new JournalWriter(ctx.store, o.steps.map((s) => s.name), bootId, previous);
  // Counts of repeated identical failures survive a restart; the backoff does not (a restart retries at once).
  const tracker = new FailureTracker(Date.now, previous?.steps ?? []);
  const notifier = new Notifier(o.host, o.env ?? process.env);
  const state: DaemonState = { ctx, journal, notifier, phaseChanged: false };
  let ready = false;
  let exitCode: number = EXIT.OK;
  o.log.info({ steps: o.steps.map((s) => s.name), bootId }, `castai-edge-initd starting: ${o.steps.length} steps`);

  while (!signal.aborted) {
    const r = await runPass(o.steps, ctx, journal, notifier, tracker);
    if (r.interrupted) break;
    if (ctx.shared.node) journal.journal.node = ctx.shared.node;
    state.phaseChanged = await journal.setPhase(phaseWithNode(phaseAfter(r, journal.journal), journal.journal.phase, ctx.shared.node));
    const line = summaryLine(journal.journal, ctx.shared.registration?.edge?.name);
    if (!ready) {
      await notifier.ready(line);
      ready = true;
    } else await notifier.status(line);
    const next = o.afterPass ? await o.afterPass(state, r) : undefined;
    if (next === 'teardown' && o.teardown) {
      await o.teardown(state);
      return EXIT.OK;
    }
    if (o.once) {
      if (!r.ok) {
        const failed = journal.journal.steps.find((s) => s.name === r.failedStep);
        exitCode = r.failedStep === 'preflight' ? EXIT.PREFLIGHT : EXIT.RUNTIME;
        o.log.error({ step: r.failedStep }, `pass failed at ${r.failedStep}: ${failed?.error ?? ''}`);
      }
      break;
    }
    await sleep(jittered(o.periodMs ?? 60_000, o.jitter ?? 0.2), signal);
  }
  if (signal.aborted) {
    await notifier.stopping();
    o.log.info('stopped (SIGTERM): no step was left half-applied');
  }
  return exitCode;
}
