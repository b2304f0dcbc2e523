/**
 * Faults the control-plane emulator can inject, at runtime (admin endpoint,
 * CLI `fault add`, or `emulator.addFault()` in-process).
 *
 * A rule matches by endpoint name (see ENDPOINTS) and optionally method; it
 * fires `times` times (default: until cleared). Rules are checked in the order
 * they were added: every matching `latency` rule adds its delay, then the first
 * matching non-latency rule decides the response.
 */

export const ENDPOINTS = [
  'install-script', // GET …:edgeInitdScript (X-API-Key)
  'artifact', // GET …/artifacts/castai-edge-initd/{version}/linux-{arch}.{xz|gz} (Bearer bootstrap token)
  'k0s-artifact', // GET /downloads/k0s/{version}/k0s-{version}-{arch} (public, like GitHub releases)
  'register', // POST …/edge-locations/{loc}/edges (Bearer bootstrap token)
  'get-edge', // GET …/edges/{edgeId} (Token edge token)
  'report-status', // POST …/edges/{edgeId}:reportStatus (Token edge token)
  'delete-edge', // DELETE …/edge-locations/{loc}/edges/{edgeId} (X-API-Key)
  'logs', // POST /v1/kubernetes/external-clusters/{cluster}/nodes/{node}/logs (X-API-Key scoped log key)
  'kube-join', // POST https://<host>:<kubePort>/k0s-test-double/v1/join (k0s test double, Bearer k8s bootstrap token; signs its CSR)
  'kube-heartbeat', // POST …/k0s-test-double/v1/heartbeat (k0s test double, kubelet client certificate)
  'kube-version', // GET https://<host>:<kubePort>/version
  'kube-node', // GET …/api/v1/nodes/{name} (kubelet client certificate; only its own Node)
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export type FaultKind =
  /** Delay the response by `ms` (then answer normally, unless another rule fires). */
  | 'latency'
  /** Answer with `status` (e.g. 500, 503, 401, 403, 429) and a google.rpc.Status body; `retryAfter` sets Retry-After. */
  | 'status'
  /** Answer 200 with a body that is not JSON (or `body`). */
  | 'garbage'
  /** Read the request, then destroy the socket without any response. */
  | 'drop'
  /** Send 200 headers and half of the body (or of `body`), then destroy the socket. */
  | 'truncate'
  /** Answer 404 with nginx's HTML error page (or `body`; '' = empty): a front end without a backend, not the API. */
  | 'html-404'
  /** Answer the API's own JSON 404 EDGE_NOT_FOUND, naming `edgeId` (another edge) or, without it, the edge in the path. */
  | 'edge-not-found';

export interface FaultSpec {
  kind: FaultKind;
  /** Endpoint name, or '*' (default) for every contract endpoint. */
  endpoint?: Endpoint | '*';
  method?: string;
  /** How many requests it fires for; undefined = until cleared. */
  times?: number;
  ms?: number;
  status?: number;
  /** Retry-After header value: seconds ("2") or an HTTP-date. */
  retryAfter?: string;
  body?: string;
  message?: string;
  /** edge-not-found: the edge id the error names (default: the one in the request path). */
  edgeId?: string;
}

export interface FaultRule extends FaultSpec {
  id: number;
  fired: number;
}

/**
 * nginx's own 404 page, byte for byte: ngx_http_error_404_page followed by ngx_http_error_tail
 * (nginx src/http/ngx_http_special_response.c; docs/decisions/0130), served as text/html.
 */
export const NGINX_404_HTML =
  '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

export const DEFAULT_GARBAGE = '<html><body><h1>502 Bad Gateway</h1> not json {"edge": {"id": ';

export function validateFault(spec: unknown): FaultSpec {
  if (!spec || typeof spec !== 'object') throw new Error('fault must be a JSON object');
  const s = spec as Record<string, unknown>;
  const kinds: FaultKind[] = ['latency', 'status', 'garbage', 'drop', 'truncate', 'html-404', 'edge-not-found'];
  if (!kinds.includes(s.kind as FaultKind)) throw new Error(`fault.kind must be one of ${kinds.join(', ')}, got ${JSON.stringify(s.kind)}`);
  const endpoint = (s.endpoint ?? '*') as string;
  if (endpoint !== '*' && !(ENDPOINTS as readonly string[]).includes(endpoint)) {
    throw new Error(`fault.endpoint must be '*' or one of ${ENDPOINTS.join(', ')}, got ${JSON.stringify(endpoint)}`);
  }
  const num = (k: string, min: number, max: number): number | undefined => {
    const v = s[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new Error(`fault.${k} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
    return v;
  };
  const out: FaultSpec = { kind: s.kind as FaultKind, endpoint: endpoint as Endpoint | '*' };
  const times = num('times', 1, 1_000_000);
  if (times !== undefined) out.times = times;
  const ms = num('ms', 0, 600_000);
  if (ms !== undefined) out.ms = ms;
  const status = num('status', 100, 599);
  if (status !== undefined) out.status = status;
  if (out.kind === 'latency' && out.ms === undefined) throw new Error('fault.ms is required for kind latency');
  if (out.kind === 'status' && out.status === undefined) throw new Error('fault.status is required for kind status');
  for (const k of ['method', 'retryAfter', 'body', 'message', 'edgeId'] as const) {
    const v = s[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new Error(`fault.${k} must be a string`);
    if (k === 'retryAfter' && !/^\d+$/.test(v) && Number.isNaN(Date.parse(v))) throw new Error('fault.retryAfter must be seconds or an HTTP-date');
    out[k] = k === 'method' ? v.toUpperCase() : v;
  }
  return out;
}
