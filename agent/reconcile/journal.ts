import type { StateStore } from '../state/store.ts';
import type { StepFailures } from './backoff.ts';
import { JOURNAL_FILE } from '../state/files.ts';

export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepRecord {
  name: string;
  state: StepState;
  message: string;
  startedAt?: string;
  durationMs?: number;
  error?: string;
  remediation?: string;
  /** Consecutive failures with this same error, and the backoff (./backoff.ts). */
  failures?: StepFailures;
}

export type Phase = 'JOINING' | 'READY' | 'DEGRADED' | 'TEARING_DOWN' | 'DELETED';

export interface Journal {
  version: 1;
  bootId: string;
  updatedAt: string;
  phase: Phase;
  /** The pass number since the daemon started (1 = the boot pass). */
  pass: number;
  steps: StepRecord[];
  lastError?: { step: string; message: string; remediation?: string; at: string };
  /** The Node's Ready condition as the last pass read it (`status`, the STATUS= line). */
  node?: import('../k0s/node-readiness.ts').NodeReadiness;
}

/**
 * The persisted step journal. Every state change is written atomically before
 * the step's side effects proceed, so after a crash (even kill -9) the next
 * start sees which step was running and re-runs it; every step is idempotent,
 * so that converges to the same end state.
 */
export class JournalWriter {
  private readonly store: StateStore;
  journal: Journal;
  constructor(store: StateStore, stepNames: string[], bootId: string, previous?: Journal) {
    this.store = store;
    const prev = new Map((previous?.steps ?? []).map((s) => [s.name, s]));
    this.journal = {
      version: 1,
      bootId,
      updatedAt: new Date().toISOString(),
      phase: previous?.phase ?? 'JOINING',
      pass: 0,
      steps: stepNames.map((name) => prev.get(name) ?? { name, state: 'pending', message: '' }),
      ...(previous?.lastError ? { lastError: previous.lastError } : {}),
    };
  }

  static async load(store: StateStore): Promise<Journal | undefined> {
    return store.read<Journal>(JOURNAL_FILE);
  }

  step(name: string): StepRecord {
    const s = this.journal.steps.find((x) => x.name === name);
    if (!s) throw new Error(`unknown step ${name}`);
    return s;
  }

  /** `flush: false` keeps the change in memory until the next flush (setPhase at the end of a pass). */
  async update(name: string, patch: Partial<StepRecord>, opts: { flush?: boolean } = {}): Promise<void> {
    Object.assign(this.step(name), patch);
    if (patch.state === 'failed') {
      this.journal.lastError = {
        step: name,
        message: patch.error ?? patch.message ?? 'failed',
        ...(patch.remediation ? { remediation: patch.remediation } : {}),
        at: new Date().toISOString(),
      };
    }
    if (opts.flush !== false || patch.state === 'failed') await this.flush();
  }

  async setPhase(phase: Phase): Promise<boolean> {
    const changed = this.journal.phase !== phase;
    this.journal.phase = phase;
    await this.flush();
    return changed;
  }

  async flush(): Promise<void> {
    this.journal.updatedAt = new Date().toISOString();
    await this.store.write(JOURNAL_FILE, this.journal);
  }
}
