/**
 * A Node's readiness as the agent reads it (pure: no network, no undici), for the STATUS= line,
 * `status`, the phase and the status report. The reader is node.ts. See docs/decisions/0141-node-ready.md.
 */
/** The Node's Ready condition status, `NotFound` (no Node object yet), or `Unread` (we could not ask). */
export type NodeReadyStatus = 'True' | 'False' | 'Unknown' | 'NotFound' | 'Unread';

export interface NodeReadiness {
  node: string;
  ready: NodeReadyStatus;
  /** The condition's reason and message (e.g. KubeletNotReady: container runtime network not ready…). */
  reason?: string;
  message?: string;
  /** lastTransitionTime of the Ready condition. */
  since?: string;
  /** When we asked (RFC 3339). */
  checkedAt: string;
  /** Why the Node could not be read (ready = Unread). */
  error?: string;
}

export const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The readiness a Node object (JSON) states, for node `name`. Pure. */
export function readinessFromNode(doc: unknown, name: string, checkedAt: string): NodeReadiness {
  const base = { node: name, checkedAt };
  const d = doc as { kind?: unknown; metadata?: { name?: unknown }; status?: { conditions?: unknown } } | null;
  if (!d || typeof d !== 'object' || d.kind !== 'Node' || d.metadata?.name !== name) {
    return { ...base, ready: 'Unread', error: `the API server answered something that is not Node ${name}` };
  }
  const conds = Array.isArray(d.status?.conditions) ? (d.status.conditions as Array<Record<string, unknown>>) : [];
  const c = conds.find((x) => x && x.type === 'Ready');
  // A Node without a Ready condition has not been reported on yet: the API shows it as Unknown.
  if (!c) return { ...base, ready: 'Unknown', reason: 'NoReadyCondition', message: 'the Node has no Ready condition yet' };
  const status = c.status === 'True' || c.status === 'False' ? c.status : 'Unknown';
  const str = (v: unknown) => (typeof v === 'string' && v ? clip(v) : undefined);
  const reason = str(c.reason);
  const message = str(c.message);
  const since = str(c.lastTransitionTime);
  return { ...base, ready: status, ...(reason ? { reason } : {}), ...(message ? { message } : {}), ...(since ? { since } : {}) };
}

/** "Ready", "NotReady (KubeletNotReady: …)", "not registered yet", "Ready unknown (…)": for status lines. */
export function describeReadiness(r: NodeReadiness): string {
  const why = [r.reason, r.message].filter(Boolean).join(': ');
  switch (r.ready) {
    case 'True':
      return 'Ready';
    case 'False':
    case 'Unknown':
      return `NotReady${r.ready === 'Unknown' ? ' (Unknown)' : ''}${why ? `: ${why}` : ''}`;
    case 'NotFound':
      return 'not registered yet (no Node object)';
    case 'Unread':
      return `Ready unknown: ${r.error ?? 'not read'}`;
  }
}
