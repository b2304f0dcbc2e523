import type { ApiClient } from '../api/client.ts';
import type { ReportPhase, StatusReport } from '../api/types.ts';
import { VERSION } from '../version.ts';
import type { Journal } from './journal.ts';
import { nodeReport } from './node-phase.ts';
import type { SharedState } from './step.ts';

/** The reportStatus body from the journal and what the steps learned. */
export function buildReport(journal: Journal, shared: SharedState, phase: ReportPhase = journal.phase): StatusReport {
  return {
    phase,
    agentVersion: VERSION,
    bootId: journal.bootId,
    steps: journal.steps
      .filter((s) => s.state !== 'pending')
      .map((s) => ({
        name: s.name,
        state: s.state === 'pending' ? 'skipped' : s.state,
        ...(s.state === 'failed' ? { message: s.error ?? s.message } : { message: s.message }),
        ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
      })),
    ...(shared.wireguard ? { wireguard: shared.wireguard } : {}),
    k0s: { unitActive: Boolean(shared.k0sActive), ...(shared.registration ? { version: shared.registration.k0s.version } : {}), ...nodeReport(shared.node) },
  };
}

/** Sends reportStatus; never throws (a failed report is logged and the next heartbeat retries). */
export async function sendReport(
  client: ApiClient,
  shared: SharedState,
  report: StatusReport,
  log: { warn: (o: object, m: string) => void },
  signal?: AbortSignal,
): Promise<boolean> {
  const reg = shared.registration;
  if (!reg) return false;
  try {
    await client.reportStatus(reg.edgeToken, reg.edge.id, report, { maxAttempts: 2, ...(signal ? { signal } : {}) });
    return true;
  } catch (e) {
    log.warn({ err: e instanceof Error ? e.message : String(e), phase: report.phase }, 'reportStatus failed; the next heartbeat retries');
    return false;
  }
}
