import type { AgentConfig } from '../config/types.ts';
import type { Host } from '../host/host.ts';
import { KUBELET_CONF } from '../k0s/paths.ts';
import { describeReadiness, readNodeReady, type NodeReadiness } from '../k0s/node.ts';
import type { Journal } from '../reconcile/journal.ts';
import { nodeReadOptions } from '../reconcile/steps/k0s.ts';
import { readSavedRegistration } from '../reconcile/steps/register.ts';
import type { StateStore } from '../state/store.ts';

export interface StatusNode extends Partial<NodeReadiness> {
  name: string;
  /** What the daemon's last pass read (journal.json), for comparison and when a live read fails. */
  agent: NodeReadiness | null;
}

/**
 * The Node part of `status`: one live read of the Node's Ready condition with the kubelet's
 * credentials (what an operator asks "is my node Ready now?"), plus the daemon's last reading.
 * Null before the node registered; `ready` is absent before the kubelet has credentials.
 */
export async function statusNode(host: Host, cfg: AgentConfig, store: StateStore, journal: Journal | undefined): Promise<StatusNode | null> {
  const reg = await readSavedRegistration(store).catch(() => undefined);
  if (!reg) return null;
  const agent = journal?.node ?? null;
  if (!(await host.stat(KUBELET_CONF))) return { name: reg.node.name, agent };
  const live = await readNodeReady(host, reg.node.name, nodeReadOptions({ cfg }, reg));
  return { ...live, name: reg.node.name, agent };
}

/** One line for the text `status`. */
export function statusNodeLine(n: StatusNode | null): string {
  if (!n) return '-';
  if (!n.ready) return `${n.name}: the kubelet has no credentials yet (${KUBELET_CONF} missing)`;
  const since = n.since && n.ready !== 'Unread' ? ` (since ${n.since})` : '';
  const agentSaw = n.ready === 'Unread' && n.agent ? `; the agent's last pass saw ${describeReadiness(n.agent)} at ${n.agent.checkedAt}` : '';
  return `${n.name} ${describeReadiness(n as NodeReadiness)}${since}${agentSaw}`;
}
