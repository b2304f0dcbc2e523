/**
 * "Joined" means the Node is Ready (docs/decisions/0141-node-ready.md).
 *
 * /var/lib/k0s/kubelet.conf proves the kubelet holds credentials, not that its Node exists or is
 * Ready. So the agent asks the API server, with the kubelet's own credentials (the Node authorizer
 * lets a kubelet read its own Node object), for `GET /api/v1/nodes/<name>` and reads the Node's
 * `Ready` condition. One HTTPS GET, a bounded timeout and a capped body; any failure to read is
 * "Unread" (with the reason), never an exception.
 *
 * Network I/O goes through undici, like the API client (agent/api/client.ts, decision 0041); the
 * proxy settings are the ones k0sworker gets (unit-config.ts), so the agent reaches the API server
 * the way the kubelet does.
 */
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import type { Host } from '../host/host.ts';
import type { ProxyConfig } from '../config/types.ts';
import { VERSION } from '../version.ts';
import { KUBELET_CONF } from './paths.ts';
import { loadKubeletCredentials, type KubeletCredentials } from './kubeconfig.ts';
import { clip, readinessFromNode, type NodeReadiness } from './node-readiness.ts';

export { describeReadiness, readinessFromNode, type NodeReadiness } from './node-readiness.ts';

export const NODE_READ_TIMEOUT_MS = 5000;
/** A Node with 50 images in status.images and busy annotations is tens of KiB; anything past this is not a Node. */
export const NODE_READ_MAX_BYTES = 2 * 1024 * 1024;

/** One GET against the API server with the kubelet's credentials: status and body (capped). */
export type KubeGet = (
  url: string,
  creds: KubeletCredentials,
  o: { timeoutMs: number; maxBytes: number; proxy?: ProxyConfig },
) => Promise<{ status: number; body: Buffer }>;

/** The default KubeGet: undici, the kubelet's CA and client certificate (or token), HTTPS_PROXY/NO_PROXY as given. */
export const undiciKubeGet: KubeGet = async (url, creds, o) => {
  const tls = { ca: [creds.caPem], ...(creds.certPem && creds.keyPem ? { cert: creds.certPem, key: creds.keyPem } : {}), rejectUnauthorized: true as const };
  const common = { connect: { ...tls, timeout: o.timeoutMs }, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs };
  const dispatcher: Dispatcher = o.proxy?.httpsProxy
    ? new EnvHttpProxyAgent({ ...common, httpProxy: o.proxy.httpProxy ?? '', httpsProxy: o.proxy.httpsProxy, noProxy: o.proxy.noProxy ?? '', requestTls: tls })
    : new Agent(common);
  try {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `castai-edge-initd/${VERSION}` };
    if (creds.token && !creds.certPem) headers.authorization = `Bearer ${creds.token}`;
    const res = await request(url, {
      method: 'GET',
      headers,
      dispatcher,
      signal: AbortSignal.timeout(o.timeoutMs),
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > o.maxBytes) {
        res.body.destroy();
        throw new Error(`the answer is larger than ${o.maxBytes} bytes`);
      }
      chunks.push(c);
    }
    return { status: res.statusCode, body: Buffer.concat(chunks) };
  } finally {
    await dispatcher.destroy().catch(() => {});
  }
};

function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const x = cur as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
    if (x.name === 'TimeoutError' || x.code === 'UND_ERR_CONNECT_TIMEOUT' || x.code === 'UND_ERR_HEADERS_TIMEOUT') return 'no answer in time';
    const m = typeof x.code === 'string' ? `${x.code}${typeof x.message === 'string' ? `: ${x.message}` : ''}` : typeof x.message === 'string' ? x.message : '';
    if (m && !parts.includes(m)) parts.push(m);
    cur = x.cause;
  }
  return clip(parts.join(': ') || String(e), 200);
}

export interface ReadNodeOptions {
  proxy?: ProxyConfig;
  timeoutMs?: number;
  maxBytes?: number;
  get?: KubeGet;
  now?: () => number;
  kubeconfig?: string;
}

/** Read Node `name`'s Ready condition with the kubelet's credentials. Never throws. */
export async function readNodeReady(host: Host, name: string, o: ReadNodeOptions = {}): Promise<NodeReadiness> {
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? NODE_READ_TIMEOUT_MS;
  const unread = (error: string): NodeReadiness => ({ node: name, ready: 'Unread', checkedAt: new Date(now()).toISOString(), error });
  let creds: KubeletCredentials;
  try {
    creds = await loadKubeletCredentials(host, o.kubeconfig ?? KUBELET_CONF);
  } catch (e) {
    return unread((e as Error).message);
  }
  let url: string;
  try {
    url = new URL(`/api/v1/nodes/${encodeURIComponent(name)}`, creds.server).toString();
  } catch {
    return unread(`kubelet.conf names a server that is not a URL (${clip(creds.server, 100)})`);
  }
  let res: { status: number; body: Buffer };
  try {
    res = await (o.get ?? undiciKubeGet)(url, creds, { timeoutMs, maxBytes: o.maxBytes ?? NODE_READ_MAX_BYTES, ...(o.proxy ? { proxy: o.proxy } : {}) });
  } catch (e) {
    return unread(`GET ${new URL(url).host}/api/v1/nodes/${name}: ${describeError(e)}`);
  }
  const checkedAt = new Date(now()).toISOString();
  let doc: unknown;
  try {
    doc = JSON.parse(res.body.toString('utf8'));
  } catch {
    doc = undefined;
  }
  if (res.status === 404 && (doc as { kind?: unknown; reason?: unknown } | undefined)?.reason === 'NotFound') {
    return { node: name, ready: 'NotFound', checkedAt, message: 'the kubelet has not registered its Node (yet)' };
  }
  if (res.status !== 200) {
    const msg = typeof (doc as { message?: unknown } | undefined)?.message === 'string' ? `: ${clip((doc as { message: string }).message, 200)}` : '';
    return unread(`the API server answered HTTP ${res.status}${msg}`);
  }
  return readinessFromNode(doc, name, checkedAt);
}
