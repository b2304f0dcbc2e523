import { ApiClient, loadCaFile } from '../../api/client.ts';
import { AgentError, EXIT } from '../../errors.ts';
import type { StepContext } from '../step.ts';

/** One API client per daemon, built from the validated configuration. */
const clients = new WeakMap<object, ApiClient>();

export async function apiClient(ctx: StepContext): Promise<ApiClient> {
  let c = clients.get(ctx.shared);
  if (c) return c;
  const missing = (['orgId', 'clusterId', 'edgeLocationId'] as const).filter((k) => !ctx.cfg[k]);
  if (missing.length) {
    const names = { orgId: 'ORG_ID', clusterId: 'CLUSTER_ID', edgeLocationId: 'EDGE_LOCATION_ID' };
    throw new AgentError(`${missing.map((m) => names[m]).join(', ')} not set`, 'run the init script from the control plane (it sets them in /etc/castai-edge-initd/castai-edge-initd.env)', EXIT.CONFIG);
  }
  c = new ApiClient({
    apiUrl: ctx.cfg.apiUrl,
    orgId: ctx.cfg.orgId!,
    clusterId: ctx.cfg.clusterId!,
    edgeLocationId: ctx.cfg.edgeLocationId!,
    proxy: ctx.cfg.proxy,
    logger: ctx.log,
    ...(ctx.cfg.caFile ? { caPem: await loadCaFile(ctx.host, ctx.cfg.caFile) } : {}),
  });
  clients.set(ctx.shared, c);
  return c;
}
