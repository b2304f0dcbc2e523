import { describeReadiness, type NodeReadiness } from '../k0s/node-readiness.ts';
import type { Phase } from './journal.ts';

/**
 * Joined means Ready (docs/decisions/0141-node-ready.md): a pass whose steps all succeeded is READY
 * only when the Node reports Ready. A Node that is NotReady, Unknown or missing makes a READY node
 * DEGRADED (a joining one stays JOINING). When the Node could not be read at all (the API server
 * unreachable, a timeout), nothing is known: the phase stays what it was, so a blip does not flap it.
 */
export function phaseWithNode(base: Phase, previous: Phase, node: NodeReadiness | undefined): Phase {
  if (base !== 'READY' || !node) return base;
  if (node.ready === 'True') return 'READY';
  if (node.ready === 'Unread') return previous === 'READY' || previous === 'DEGRADED' ? previous : 'JOINING';
  return previous === 'READY' || previous === 'DEGRADED' ? 'DEGRADED' : 'JOINING';
}

/** The contract extension of the status report's k0s object (docs/decisions/0141-node-ready.md). */
export function nodeReport(node: NodeReadiness | undefined): { nodeReady?: NodeReadiness['ready']; nodeReadyMessage?: string } {
  if (!node) return {};
  const detail = node.ready === 'True' ? undefined : describeReadiness(node);
  return { nodeReady: node.ready, ...(detail ? { nodeReadyMessage: detail.slice(0, 300) } : {}) };
}
