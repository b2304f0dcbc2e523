/**
 * How `make demo` shows the emulator's node record (scripts/lab-demo.ts). The emulator is being
 * extended with a Kubernetes-like Node (a Ready condition); until a record carries it, the demo
 * says so rather than inventing a value.
 */
export function readyOf(n: Record<string, unknown>): string {
  const status = (n.status ?? {}) as Record<string, unknown>;
  const conditions = (Array.isArray(n.conditions) ? n.conditions : Array.isArray(status.conditions) ? status.conditions : []) as Array<Record<string, unknown>>;
  const c = conditions.find((x) => x.type === 'Ready');
  if (c) return `${String(c.status)}${c.reason ? ` (${String(c.reason)})` : ''}${c.lastHeartbeatTime ? `, last heartbeat ${String(c.lastHeartbeatTime)}` : ''}`;
  if (typeof n.ready === 'boolean') return n.ready ? 'True' : 'False';
  if (typeof n.ready === 'string') return n.ready;
  return `not reported by this emulator (joined ${String(n.joinedAt ?? '?')}, ${String(n.heartbeats ?? 0)} heartbeat(s) from the k0s test double)`;
}
