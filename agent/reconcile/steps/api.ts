import { ApiClient, loadCaFile } from '../../api/client.ts';
import { loadSystemCa, trustStamp } from '../../api/trust-store.ts';
import { AgentError, EXIT } from '../../errors.ts';
import type { StepContext } from '../step.ts';

/**
 * One API client per daemon, built from the validated configuration and the trust store; rebuilt
 * when the store changes (update-ca-certificates, a new INITD_CA_FILE), so a fixed CA is used
 * on the next pass without a restart.
 */
const clients = new WeakMap<object, { client: ApiClient; stamp: string }>();

export async function apiClient(ctx: StepContext): Promise<ApiClient> {
  const stamp = await trustStamp(ctx.host, ctx.cfg.caFile);
  const cached = clients.get(ctx.shared);
  if (cached?.stamp === stamp) return cached.client;
  if (cached) {
    ctx.log.info('the CA store changed (system bundle or INITD_CA_FILE): the API client now uses the new one');
    void cached.client.close().catch(() => undefined);
  }
  const missing = (['orgId', 'clusterId', 'edgeLocationId'] as const).filter((k) => !ctx.cfg[k]);
  if (missing.length) {
    const names = { orgId: 'ORG_ID', clusterId: 'CLUSTER_ID', edgeLocationId: 'EDGE_LOCATION_ID' };
    throw new AgentError(
      `${missing.map((m) => names[m]).join(', ')} not set`,
      'run the init script from the control plane (it sets them in /etc/castai-edge-initd/castai-edge-initd.env)',
      EXIT.CONFIG,
    );
  }
  const system = await loadSystemCa(ctx.host);
  if (!system.pem)
    ctx.log.warn(
      `no system CA bundle found (looked for the ca-certificates bundle in the usual places); using Node's bundled Mozilla CA store${ctx.cfg.caFile ? ' plus INITD_CA_FILE' : ''}`,
    );
  const c = new ApiClient({
    apiUrl: ctx.cfg.apiUrl,
    orgId: ctx.cfg.orgId!,
    clusterId: ctx.cfg.clusterId!,
    edgeLocationId: ctx.cfg.edgeLocationId!,
    proxy: ctx.cfg.proxy,
    logger: ctx.log,
    ...(ctx.cfg.caFile ? { caPem: await loadCaFile(ctx.host, ctx.cfg.caFile) } : {}),
    ...(system.pem ? { systemCaPem: system.pem } : {}),
  });
  clients.set(ctx.shared, { client: c, stamp });
  return c;
}
