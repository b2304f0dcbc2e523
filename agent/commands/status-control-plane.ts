/**
 * The control-plane part of `status` (docs/decisions/0130, 0132): is the control plane answering
 * (or is the node running through an outage on its last known desired state), is a removal being
 * confirmed, and which labels and taints the control plane ACCEPTED for the Node — not what the
 * configuration asks for, which may still be pending. Reads only.
 */
import type { Taint } from '../config/types.ts';
import { type ControlPlaneHealth, NOT_FOUND_MIN_GAP_MS, type NotFoundSighting } from '../reconcile/steps/liveness.ts';
import type { RegisterMeta } from '../reconcile/steps/register-state.ts';
import { CONTROL_PLANE_FILE, REGISTER_META_FILE, REMOVAL_EVIDENCE_FILE } from '../state/files.ts';
import type { StateStore } from '../state/store.ts';

export interface ControlPlaneStatus {
  controlPlane: (Omit<ControlPlaneHealth, 'key'> & { removalFirstSeenAt?: string }) | null;
  /** What the control plane accepted for the Node (it applies them), and what is still pending. */
  nodeLabels: {
    labels: Record<string, string>;
    taints: Taint[];
    acceptedAt: string;
    /** Labels/taints the daemon's configuration asks for that the control plane has not accepted (and why). */
    pending: { labels: Record<string, string>; taints: Taint[]; since: string; reason: string } | null;
  } | null;
}

/** Reads only the daemon's state files (not this shell's environment, which may differ from the daemon's). */
export async function controlPlaneStatus(store: StateStore): Promise<ControlPlaneStatus> {
  const [health, sighting, meta] = await Promise.all([
    store.read<ControlPlaneHealth>(CONTROL_PLANE_FILE).catch(() => undefined),
    store.read<NotFoundSighting>(REMOVAL_EVIDENCE_FILE).catch(() => undefined),
    store.read<RegisterMeta>(REGISTER_META_FILE).catch(() => undefined),
  ]);
  const nodeLabels: ControlPlaneStatus['nodeLabels'] = meta?.accepted
    ? { labels: meta.accepted.labels, taints: meta.accepted.taints, acceptedAt: meta.accepted.at, pending: meta.pending ?? null }
    : null;
  const { key: _key, ...shown } = health ?? ({} as ControlPlaneHealth); // key: the agent's grouping of outages, not for operators
  return {
    controlPlane: health ? { ...shown, ...(sighting ? { removalFirstSeenAt: sighting.firstAt } : {}) } : null,
    nodeLabels,
  };
}

const kv = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') || 'none';
const tt = (t: Taint[]) => t.map((x) => `${x.key}${x.value ? `=${x.value}` : ''}:${x.effect}`).join(',') || 'none';

export function printControlPlaneStatus(doc: ControlPlaneStatus, out: (line: string) => void): void {
  const cp = doc.controlPlane;
  if (cp) {
    if (cp.state === 'ok') out(`control:    control plane answering (since ${cp.since})`);
    else if (cp.state === 'outage')
      out(`control:    OUTAGE since ${cp.since}: ${cp.reason ?? 'unknown'} — running on the last known desired state; nothing is torn down`);
    else
      out(
        `control:    the control plane says this edge does not exist (EDGE_NOT_FOUND, first seen ${cp.removalFirstSeenAt ?? cp.since}); torn down only if it says so again ≥ ${NOT_FOUND_MIN_GAP_MS / 1000} s later`,
      );
  }
  const n = doc.nodeLabels;
  if (n) {
    out(`labels:     ${kv(n.labels)}   (accepted by the control plane ${n.acceptedAt}; it applies them to the Node)`);
    out(`taints:     ${tt(n.taints)}`);
    if (n.pending)
      out(
        `pending:    labels ${kv(n.pending.labels)}, taints ${tt(n.pending.taints)} — not accepted by the control plane since ${n.pending.since} (${n.pending.reason}): re-run a fresh init script, then systemctl restart castai-edge-initd`,
      );
  }
}
