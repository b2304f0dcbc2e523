/** A string field of the record, or '' (the emulator's JSON is untyped). */
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * How `make demo` shows the emulator's node record (scripts/lab-demo.ts). The emulator is being
 * extended with a Kubernetes-like Node (a Ready condition); until a record carries it, the demo
 * says so rather than inventing a value.
 */
export function readyOf(n: Record<string, unknown>): string {
  const status = (n.status ?? {}) as Record<string, unknown>;
  const conditions = (Array.isArray(n.conditions) ? n.conditions : Array.isArray(status.conditions) ? status.conditions : []) as Array<Record<string, unknown>>;
  const c = conditions.find((x) => x.type === 'Ready');
  if (c)
    return `${String(c.status)}${str(c.reason) ? ` (${str(c.reason)})` : ''}${str(c.lastHeartbeatTime) ? `, last heartbeat ${str(c.lastHeartbeatTime)}` : ''}`;
  if (typeof n.ready === 'boolean') return n.ready ? 'True' : 'False';
  if (typeof n.ready === 'string') return n.ready;
  return `not reported by this emulator (joined ${str(n.joinedAt) || '?'}, ${typeof n.heartbeats === 'number' ? n.heartbeats : 0} heartbeat(s) from the k0s test double)`;
}
