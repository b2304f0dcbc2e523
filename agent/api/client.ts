/**
 * The agent's client for the control-plane API (docs/control-plane-api.md).
 *
 * Network I/O goes straight through undici (not the Host port, which is for
 * OS access): see docs/decisions/0041-api-client-retry.md.
 *
 *  - every request: 10 s timeout, TLS always verified (the system CA store, as curl
 *    uses it — agent/api/trust-store.ts — plus INITD_CA_FILE), HTTPS_PROXY/NO_PROXY from the
 *    validated config (never read from process.env here);
 *  - retries: exponential backoff with full jitter (1 s → 60 s cap), Retry-After
 *    honoured on 429/503, network errors / timeouts / 5xx / garbage bodies retried;
 *  - 401/403 stop at once with an AgentError naming the credential and the fix;
 *  - each call names the one credential it uses; the log sink only ever gets
 *    the scoped log key, and only before its expiresAt;
 *  - credentials are registered with registerSecret and never logged.
 */
import { getCACertificates, rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import type { ProxyConfig } from '../config/types.ts';
import { AgentError, EXIT } from '../errors.ts';
import { registerSecret } from '../log/logger.ts';
import { VERSION } from '../version.ts';
import { backoffDelay, type Clock, DEFAULT_RETRY, parseRetryAfter, realClock, type RetryPolicy } from './retry.ts';
import {
  type EdgeState,
  type LogEvent,
  type LogSink,
  parseEdgeState,
  parseRegisterResponse,
  type RegisterRequest,
  type RegisterResponse,
  ResponseShapeError,
  type StatusReport,
} from './types.ts';

export type CredentialKind = 'api-key' | 'bootstrap-token' | 'edge-token' | 'log-key' | 'none';

export type ApiErrorKind =
  | 'auth' // 401/403: stop, operator must act
  | 'rejected' // other 4xx: our request is wrong (bug or version skew)
  | 'not-found'
  | 'not-proof' // get edge: a 404 that is not the control plane's EDGE_NOT_FOUND for this edge (proxy, LB, other edge): an outage
  | 'conflict' // register: 409 MACHINE_ID_CONFLICT (another live edge holds this machine-id)
  | 'server' // 5xx
  | 'rate-limited' // 429
  | 'network' // connection refused/reset/dropped, DNS
  | 'timeout'
  | 'tls' // certificate verification failed
  | 'bad-response' // 2xx but not JSON (proxy page, truncated body)
  | 'invalid-response' // JSON, but not the contract's shape
  | 'expired' // log key past expiresAt: nothing sent
  | 'aborted';

export class ApiError extends AgentError {
  readonly kind: ApiErrorKind;
  readonly retryable: boolean;
  readonly status?: number;
  readonly credential?: CredentialKind;
  /** The operation ("register", "get edge", ...). */
  readonly operation: string;
  /** Retry-After from the server, in ms, when it sent one. */
  readonly retryAfterMs?: number;
  readonly field?: string;
  /** 409 MACHINE_ID_CONFLICT: the edge that holds this machine-id, and when it last reported. */
  readonly conflict?: { edgeId: string; lastSeen?: string };
  constructor(
    init: {
      kind: ApiErrorKind;
      operation: string;
      message: string;
      remediation: string;
      retryable: boolean;
      status?: number;
      credential?: CredentialKind;
      retryAfterMs?: number;
      field?: string;
      conflict?: { edgeId: string; lastSeen?: string };
    },
    exitCode: number = EXIT.RUNTIME,
  ) {
    super(`${init.operation}: ${init.message}`, init.remediation, exitCode);
    this.name = 'ApiError';
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.operation = init.operation;
    if (init.status !== undefined) this.status = init.status;
    if (init.credential !== undefined) this.credential = init.credential;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.field !== undefined) this.field = init.field;
    if (init.conflict !== undefined) this.conflict = init.conflict;
  }
}

export interface ApiClientOptions {
  /** API_URL (https, no trailing slash), e.g. https://api.cast.ai. */
  apiUrl: string;
  orgId: string;
  clusterId: string;
  /** Needed only for register. */
  edgeLocationId?: string;
  /** Extra CA certificate(s), PEM (the contents of INITD_CA_FILE; see loadCaFile). Added to the system roots. */
  caPem?: string;
  /** The system CA bundle, PEM (loadSystemCa); without it Node's bundled Mozilla store is the base. */
  systemCaPem?: string;
  /** Validated proxy settings (AgentConfig.proxy). */
  proxy?: ProxyConfig;
  /** Per-request timeout (default 10 000 ms). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  /** Tests may inject a dispatcher; then caPem/proxy are not used. */
  dispatcher?: Dispatcher;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Override the policy's attempt limit for this call. */
  maxAttempts?: number;
  /**
   * Log in-call retries at debug instead of warn: the caller reports the outage itself, once per
   * change (the register step's get-edge poll), instead of a warning on every pass.
   */
  quietRetries?: boolean;
}

/** A google.rpc.Status error body (contract: every non-2xx), or undefined when the body is not one. */
export interface RpcStatus {
  code?: number;
  message?: string;
  details: Array<Record<string, unknown>>;
}

export function parseRpcStatus(body: Buffer | string): RpcStatus | undefined {
  let j: unknown;
  try {
    j = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) return undefined;
  const o = j as Record<string, unknown>;
  const details = Array.isArray(o.details)
    ? o.details.filter((d): d is Record<string, unknown> => Boolean(d) && typeof d === 'object' && !Array.isArray(d))
    : [];
  return {
    ...(typeof o.code === 'number' ? { code: o.code } : {}),
    ...(typeof o.message === 'string' ? { message: o.message.slice(0, 200) } : {}),
    details,
  };
}

/** gRPC NOT_FOUND and ALREADY_EXISTS, the codes the contract puts in these errors. */
const RPC_NOT_FOUND = 5;
const RPC_ALREADY_EXISTS = 6;

/**
 * Is this 404 the control plane's own EDGE_NOT_FOUND for `edgeId` (docs/control-plane-api.md §4)?
 * Returns undefined when it is, else why not (for the outage message). Anything else — an HTML or
 * empty body (nginx, a load balancer), JSON without the detail, another edge id — is not proof.
 */
export function edgeNotFoundProblem(raw: { headers: Record<string, string | string[] | undefined>; body: Buffer }, edgeId: string): string | undefined {
  const rpc = parseRpcStatus(raw.body);
  if (!rpc) {
    if (raw.body.length === 0) return 'an empty body';
    return `a body that is not JSON (${header(raw.headers, 'content-type') ?? 'no content-type'}, ${raw.body.length} bytes, starts "${preview(raw.body)}")`;
  }
  const d = rpc.details.find((x) => x.reason === 'EDGE_NOT_FOUND');
  if (!d) return `JSON without an EDGE_NOT_FOUND detail${rpc.message ? ` ("${rpc.message}")` : ''}`;
  if (rpc.code !== RPC_NOT_FOUND) return `EDGE_NOT_FOUND with code ${rpc.code ?? 'missing'} (the API sends 5, NOT_FOUND)`;
  if (d.edgeId !== edgeId)
    return `EDGE_NOT_FOUND for ${typeof d.edgeId === 'string' ? `edge ${d.edgeId.slice(0, 64)}` : 'no edge id'}, not this edge ${edgeId}`;
  return undefined;
}

/**
 * Every response body is read with a bound: the contract's largest JSON answer (a register
 * response) is a few KiB, so 1 MiB is generous; a body that is larger (a proxy's page, a broken
 * or hostile server) is refused without being parsed, and without buffering more of it.
 */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

interface Credential {
  kind: CredentialKind;
  value?: string;
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_SSL_WRONG_VERSION_NUMBER', 'HOSTNAME_MISMATCH',
]);
const CLOCK_CODES = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

const REMEDIATION = {
  'bootstrap-token':
    'the bootstrap token in the init script expired (it lives 1 hour) or was revoked: fetch a fresh init script (curl …:edgeInitdScript -H "X-API-Key: …" | bash) and run it again',
  'edge-token':
    "this machine's edge token was rejected: the edge was deleted or its token rotated; re-run the init script to register again",
  'log-key': 'the scoped log key was rejected or expired: startup-log upload stops here; no other credential is ever used for logs',
  'api-key': 'the organization API key was rejected: check X-API-Key (Cast AI console → API access keys)',
  none: 'the control plane requires a credential for this call',
} as const satisfies Record<CredentialKind, string>;

function codesOf(e: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 6 && cur && typeof cur === 'object'; i++) {
    const c = cur as { code?: unknown; cause?: unknown; name?: unknown };
    if (typeof c.code === 'string') out.push(c.code);
    if (c.name === 'TimeoutError' || c.name === 'AbortError') out.push(c.name);
    cur = c.cause;
  }
  return out;
}

function messagesOf(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 6 && cur && typeof cur === 'object'; i++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === 'string' && m && !parts.includes(m)) parts.push(m);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ') || String(e);
}

/** A short printable preview of a body that is not what we expected (never long enough to hold a token). */
function preview(body: Buffer): string {
  const s = body.subarray(0, 40).toString('utf8').replace(/[^\x20-\x7e]/g, '.');
  return body.length > 40 ? `${s}…` : s;
}

function header(h: RawResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Read INITD_CA_FILE's contents through the Host port and check it holds a certificate. */
export async function loadCaFile(host: { readFile(p: string): Promise<string | undefined> }, file: string): Promise<string> {
  const pem = await host.readFile(file);
  if (pem === undefined) throw new AgentError(`INITD_CA_FILE: ${file} does not exist`, 'point INITD_CA_FILE at a PEM CA bundle, or unset it', EXIT.CONFIG);
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new AgentError(
      `INITD_CA_FILE: ${file} holds no PEM certificate`,
      'point INITD_CA_FILE at a PEM CA bundle (-----BEGIN CERTIFICATE-----)',
      EXIT.CONFIG,
    );
  return pem;
}

/** Build the undici dispatcher: verified TLS (system store + extra CA), HTTPS_PROXY/NO_PROXY from config. */
export function buildDispatcher(opts: { caPem?: string; systemCaPem?: string; proxy?: ProxyConfig; timeoutMs: number }): Dispatcher {
  let tls: { ca?: string[]; rejectUnauthorized: true } = { rejectUnauthorized: true };
  if (opts.caPem || opts.systemCaPem) {
    // `ca` replaces Node's default trust store: the base is the system bundle (what curl trusts),
    // else Node's default (bundled Mozilla store, plus NODE_EXTRA_CA_CERTS).
    const base = opts.systemCaPem ? [opts.systemCaPem] : typeof getCACertificates === 'function' ? getCACertificates('default') : [...rootCertificates];
    tls = { ca: [...base, ...(opts.caPem ? [opts.caPem] : [])], rejectUnauthorized: true };
  }
  const common = { connect: { ...tls, timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs };
  // Every API URL is https, so only HTTPS_PROXY applies (curl semantics, and what preflight probes);
  // undici would otherwise fall back to HTTP_PROXY for https. The values come from the validated
  // config; '' stops undici from reading process.env itself.
  if (opts.proxy?.httpsProxy) {
    return new EnvHttpProxyAgent({
      ...common,
      httpProxy: opts.proxy.httpProxy ?? '',
      httpsProxy: opts.proxy.httpsProxy,
      noProxy: opts.proxy.noProxy ?? '',
      requestTls: tls,
      proxyTls: tls,
    });
  }
  return new Agent(common);
}

export class ApiClient {
  private readonly o: ApiClientOptions;
  private readonly policy: RetryPolicy;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  /**
   * Retry-After gate, per operation: no request for it before this time (epoch ms). It outlives
   * the call that got the 429/503, so the next call (the next heartbeat, the next reconcile pass)
   * waits too instead of asking again early.
   */
  private readonly notBefore = new Map<string, number>();

  constructor(opts: ApiClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.apiUrl);
    } catch {
      throw new AgentError(`API_URL "${opts.apiUrl}" is not a URL`, 'set API_URL to https://api.cast.ai or your control plane URL', EXIT.CONFIG);
    }
    if (u.protocol !== 'https:')
      throw new AgentError(`API_URL "${opts.apiUrl}" must use https`, 'TLS is always verified; use https:// (and INITD_CA_FILE for a private CA)', EXIT.CONFIG);
    this.o = { ...opts, apiUrl: opts.apiUrl.replace(/\/+$/, '') };
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.ownsDispatcher = !opts.dispatcher;
    this.dispatcher =
      opts.dispatcher ??
      buildDispatcher({
        timeoutMs: this.timeoutMs,
        ...(opts.caPem ? { caPem: opts.caPem } : {}),
        ...(opts.systemCaPem ? { systemCaPem: opts.systemCaPem } : {}),
        ...(opts.proxy ? { proxy: opts.proxy } : {}),
      });
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private get base(): string {
    return `${this.o.apiUrl}/omni-provisioner`;
  }

  private clusterPath(version: 'v1beta' | 'v2beta'): string {
    return `${this.base}/${version}/organizations/${encodeURIComponent(this.o.orgId)}/clusters/${encodeURIComponent(this.o.clusterId)}`;
  }

  // ------------------------------------------------------------------ typed calls

  /** POST …/edge-locations/{loc}/edges with the bootstrap token. `created` is true on 201. */
  async register(bootstrapToken: string, req: RegisterRequest, call: CallOptions = {}): Promise<{ created: boolean; response: RegisterResponse }> {
    if (!this.o.edgeLocationId)
      throw new AgentError('register: EDGE_LOCATION_ID is not set', 'run the init script from the control plane; it sets EDGE_LOCATION_ID', EXIT.CONFIG);
    const url = `${this.clusterPath('v2beta')}/edge-locations/${encodeURIComponent(this.o.edgeLocationId)}/edges`;
    const res = await this.call('register', 'POST', url, { kind: 'bootstrap-token', value: bootstrapToken }, call, req, (raw) =>
      this.parseJson('register', raw, parseRegisterResponse),
    );
    return { created: res.status === 201, response: res.value };
  }

  /**
   * GET …/edges/{id} with the edge token. `gone` only on the control plane's own JSON
   * EDGE_NOT_FOUND naming this edge (one sighting: the register step wants two, ≥ 60 s apart).
   * Any other 404 (an HTML or empty body, another edge id) is an ApiError of kind `not-proof`,
   * retried like an outage; a 200 naming another edge is `invalid-response`.
   */
  async getEdge(edgeToken: string, edgeId: string, call: CallOptions = {}): Promise<{ gone: false; state: EdgeState } | { gone: true; edgeId: string }> {
    const url = `${this.clusterPath('v2beta')}/edges/${encodeURIComponent(edgeId)}`;
    const res = await this.call(
      'get edge',
      'GET',
      url,
      { kind: 'edge-token', value: edgeToken },
      call,
      undefined,
      (raw) => {
        if (raw.status === 404) {
          const problem = edgeNotFoundProblem(raw, edgeId);
          if (problem === undefined) return undefined;
          throw new ApiError({
            kind: 'not-proof',
            operation: 'get edge',
            status: 404,
            message: `HTTP 404 that is not the control plane's EDGE_NOT_FOUND for this edge: ${problem}`,
            remediation:
              "a proxy, load balancer or ingress may be answering for the control plane (or it is mid-deploy); the node keeps running on its last known desired state and this is retried. Removal needs the control plane's own evidence",
            retryable: true,
          });
        }
        const state = this.parseJson('get edge', raw, parseEdgeState);
        if (state.edge.id !== edgeId) {
          throw new ApiError({
            kind: 'invalid-response',
            operation: 'get edge',
            status: raw.status,
            field: 'edge.id',
            message: `the answer describes edge ${state.edge.id.slice(0, 64)}, not this edge ${edgeId}`,
            remediation: 'a cache or proxy may be mixing answers; the node keeps its last known desired state and this is retried',
            retryable: true,
          });
        }
        return state;
      },
      [404],
    );
    return res.value === undefined ? { gone: true, edgeId } : { gone: false, state: res.value };
  }

  /** POST …/edges/{id}:reportStatus with the edge token. */
  async reportStatus(edgeToken: string, edgeId: string, report: StatusReport, call: CallOptions = {}): Promise<void> {
    const url = `${this.clusterPath('v2beta')}/edges/${encodeURIComponent(edgeId)}:reportStatus`;
    await this.call('report status', 'POST', url, { kind: 'edge-token', value: edgeToken }, call, report, () => undefined);
  }

  /**
   * POST {logs.url} with the scoped log key, only before logs.expiresAt (checked
   * before every attempt, retries included). Never uses any other credential.
   * Large batches are split (at most 500 events per request).
   */
  async uploadLogs(sink: LogSink, events: LogEvent[], call: CallOptions = {}): Promise<{ sent: number }> {
    registerSecret(sink.apiKey);
    const expiresAt = Date.parse(sink.expiresAt);
    if (Number.isNaN(expiresAt)) {
      throw new ApiError({
        kind: 'invalid-response',
        operation: 'upload logs',
        message: 'logs.expiresAt is not a time',
        remediation: REMEDIATION['log-key'],
        retryable: false,
        field: 'logs.expiresAt',
      });
    }
    let url: URL;
    try {
      url = new URL(sink.url);
    } catch {
      throw new ApiError({
        kind: 'invalid-response',
        operation: 'upload logs',
        message: 'logs.url is not a URL',
        remediation: REMEDIATION['log-key'],
        retryable: false,
        field: 'logs.url',
      });
    }
    if (url.protocol !== 'https:') {
      throw new ApiError({
        kind: 'invalid-response',
        operation: 'upload logs',
        message: 'logs.url must be https',
        remediation: REMEDIATION['log-key'],
        retryable: false,
        field: 'logs.url',
      });
    }
    let sent = 0;
    for (let i = 0; i < events.length; i += 500) {
      const batch = events.slice(i, i + 500);
      await this.call(
        'upload logs',
        'POST',
        sink.url,
        { kind: 'log-key', value: sink.apiKey },
        { ...call, maxAttempts: call.maxAttempts ?? 5 },
        { logEvents: batch },
        () => undefined,
        [],
        expiresAt,
      );
      sent += batch.length;
    }
    return { sent };
  }

  // ------------------------------------------------------------------ machinery

  private parseJson<T>(operation: string, raw: RawResponse, parse: (v: unknown) => T): T {
    let v: unknown;
    try {
      v = JSON.parse(raw.body.toString('utf8'));
    } catch {
      throw new ApiError({
        kind: 'bad-response',
        operation,
        status: raw.status,
        message: `HTTP ${raw.status} with a body that is not JSON (${header(raw.headers, 'content-type') ?? 'no content-type'}, ${raw.body.length} bytes, starts "${preview(raw.body)}")`,
        remediation: 'a proxy or load balancer may be answering instead of the control plane, or the response was cut off; it is retried',
        retryable: true,
      });
    }
    try {
      return parse(v);
    } catch (e) {
      if (e instanceof ResponseShapeError) {
        throw new ApiError({
          kind: 'invalid-response',
          operation,
          status: raw.status,
          field: e.field,
          message: `the control plane's response does not match the API contract: ${e.message}`,
          remediation: 'the control plane and this agent disagree on the API; upgrade the agent by re-running the init script, or report it',
          retryable: false,
        });
      }
      throw e;
    }
  }

  private statusError(operation: string, raw: RawResponse, cred: Credential): ApiError {
    let serverMsg = '';
    try {
      const j = JSON.parse(raw.body.toString('utf8')) as { message?: unknown };
      if (typeof j.message === 'string') serverMsg = j.message.slice(0, 200);
    } catch {
      /* not JSON: a proxy's page */
    }
    const status = raw.status;
    const detail = `HTTP ${status}${serverMsg ? `: ${serverMsg}` : ''}`;
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(header(raw.headers, 'retry-after'), this.clock.now()) : undefined;
    const ra = retryAfterMs !== undefined ? { retryAfterMs } : {};
    if (status === 401 || status === 403) {
      const which = cred.kind === 'none' ? 'the request' : `the ${cred.kind.replace('-', ' ')}`;
      const expired = /expired/i.test(serverMsg);
      return new ApiError(
        {
          kind: 'auth',
          operation,
          status,
          credential: cred.kind,
          message: `the control plane rejected ${which} (${detail})${expired && cred.kind === 'bootstrap-token' ? ': bootstrap token expired' : ''}`,
          remediation: REMEDIATION[cred.kind],
          retryable: false,
        },
        EXIT.CONFIG,
      );
    }
    if (status === 429) {
      return new ApiError({
        kind: 'rate-limited',
        operation,
        status,
        message: `rate limited (${detail})`,
        remediation: 'retried after the server-given delay',
        retryable: true,
        ...ra,
      });
    }
    if (status >= 500 || status === 408 || status === 425) {
      return new ApiError({
        kind: 'server',
        operation,
        status,
        message: `control plane error (${detail})`,
        remediation: 'a control-plane side problem; retried with backoff',
        retryable: true,
        ...ra,
      });
    }
    if (status === 409) {
      const rpc = parseRpcStatus(raw.body);
      const d = rpc?.details.find((x) => x.reason === 'MACHINE_ID_CONFLICT');
      if (d && rpc?.code === RPC_ALREADY_EXISTS) {
        const edgeId = typeof d.edgeId === 'string' ? d.edgeId.slice(0, 64) : 'unknown';
        const lastSeen = typeof d.lastSeen === 'string' && !Number.isNaN(Date.parse(d.lastSeen)) ? d.lastSeen : undefined;
        return new ApiError(
          {
            kind: 'conflict',
            operation,
            status,
            message: `machine-id conflict: edge ${edgeId} already holds this machine-id with another WireGuard key${lastSeen ? ` and reported at ${lastSeen}` : ''} (${detail})`,
            remediation: 'give this host its own machine-id: rm /etc/machine-id && systemd-machine-id-setup, then re-run the init script',
            retryable: false,
            conflict: { edgeId, ...(lastSeen ? { lastSeen } : {}) },
          },
          EXIT.CONFIG,
        );
      }
    }
    if (status === 404) {
      return new ApiError({
        kind: 'not-found',
        operation,
        status,
        message: `not found (${detail})`,
        remediation: 'check ORG_ID, CLUSTER_ID and EDGE_LOCATION_ID (they come from the init script); the edge location may have been deleted',
        retryable: false,
      });
    }
    return new ApiError({
      kind: 'rejected',
      operation,
      status,
      message: `the control plane rejected the request (${detail})`,
      remediation: 'the agent sent something the control plane does not accept; upgrade the agent (re-run the init script) or report it with this message',
      retryable: false,
    });
  }

  private transportError(operation: string, url: string, e: unknown, timedOut: boolean): ApiError {
    const codes = codesOf(e);
    const host = (() => {
      try {
        return new URL(url).host;
      } catch {
        return url;
      }
    })();
    if (
      timedOut ||
      codes.some((c) => ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'TimeoutError', 'ETIMEDOUT'].includes(c))
    ) {
      return new ApiError({
        kind: 'timeout',
        operation,
        message: `no answer from ${host} within ${this.timeoutMs / 1000} s`,
        remediation: 'check the network path to the control plane (firewall, HTTPS_PROXY/NO_PROXY); retried with backoff',
        retryable: true,
      });
    }
    const tlsCode = codes.find((c) => TLS_CODES.has(c));
    if (tlsCode) {
      const clock = CLOCK_CODES.has(tlsCode);
      return new ApiError({
        kind: 'tls',
        operation,
        message: `TLS verification of ${host} failed (${tlsCode}: ${messagesOf(e)})`,
        remediation: clock
          ? `this machine's clock says ${new Date(this.clock.now()).toISOString()}: fix the time (timedatectl, chrony/systemd-timesyncd); retried`
          : 'the agent trusts the system CA store (as curl does) plus INITD_CA_FILE: if the control plane uses a private CA or a TLS-inspecting proxy sits in between, install that CA system-wide (Debian/Ubuntu: copy it to /usr/local/share/ca-certificates/<name>.crt and run update-ca-certificates; RHEL: /etc/pki/ca-trust/source/anchors/ and update-ca-trust) or set INITD_CA_FILE to it (PEM); the agent picks it up on its next pass. Verification is never disabled',
        retryable: clock,
      });
    }
    const code = codes[0] ?? 'error';
    return new ApiError({
      kind: 'network',
      operation,
      message: `cannot talk to ${host} (${code}: ${messagesOf(e)})`,
      remediation: 'check DNS, routes and firewalls to the control plane, and HTTPS_PROXY/NO_PROXY; retried with backoff',
      retryable: true,
    });
  }

  private async once(
    method: string,
    url: string,
    cred: Credential,
    body: unknown,
    signal: AbortSignal | undefined,
    maxBytes: number,
    operation: string,
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { 'user-agent': `castai-edge-initd/${VERSION}`, accept: 'application/json' };
    if (cred.value) registerSecret(cred.value);
    if (cred.kind === 'bootstrap-token') headers.authorization = `Bearer ${cred.value}`;
    else if (cred.kind === 'edge-token') headers.authorization = `Token ${cred.value}`;
    else if (cred.kind === 'log-key' || cred.kind === 'api-key') headers['x-api-key'] = cred.value as string;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const res = await request(url, {
      method: method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
      dispatcher: this.dispatcher,
      signal: sig,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const resHeaders = res.headers as RawResponse['headers'];
    const tooLarge = (n: string, how: string) =>
      new ApiError({
        kind: 'bad-response',
        operation,
        status: res.statusCode,
        message: `HTTP ${res.statusCode} with a response body of ${n}, over the ${maxBytes} byte limit; refused ${how}`,
        remediation: 'a proxy or load balancer may be answering instead of the control plane, or the control plane misbehaves; it is retried',
        retryable: true,
      });
    const declared = Number(header(resHeaders, 'content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.body.destroy();
      throw tooLarge(`${declared} bytes (Content-Length)`, 'without reading it');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw tooLarge(`more than ${maxBytes} bytes`, 'and reading stopped there, unparsed');
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: resHeaders, body: Buffer.concat(chunks, size) };
  }

  /**
   * One logical call with retries. `okStatuses` are extra non-2xx statuses handed to `parse`
   * (404 for getEdge). `deadline` (epoch ms) stops before an attempt at or after it.
   */
  private async call<T>(
    operation: string,
    method: string,
    url: string,
    cred: Credential,
    callOpts: CallOptions,
    body: unknown,
    parse: (raw: RawResponse) => T,
    okStatuses: number[] = [],
    deadline?: number,
  ): Promise<{ status: number; value: T }> {
    const maxAttempts = callOpts.maxAttempts ?? this.policy.maxAttempts;
    const log = this.o.logger;
    for (let attempt = 1; ; attempt++) {
      if (callOpts.signal?.aborted) {
        throw new ApiError({ kind: 'aborted', operation, message: 'stopped (shutting down)', remediation: 'none needed', retryable: false });
      }
      if (deadline !== undefined && this.clock.now() >= deadline) {
        throw new ApiError({
          kind: 'expired',
          operation,
          credential: cred.kind,
          message: `the ${cred.kind.replace('-', ' ')} expired at ${new Date(deadline).toISOString()}; nothing sent`,
          remediation: REMEDIATION[cred.kind as 'log-key'] ?? 'none',
          retryable: false,
        });
      }
      // The Retry-After gate (set by this call or an earlier/concurrent one): wait, or end the call unsent.
      for (;;) {
        const gate = this.notBefore.get(operation);
        if (gate === undefined) break;
        const wait = gate - this.clock.now();
        if (wait <= 0) {
          this.notBefore.delete(operation);
          break;
        }
        if (wait > this.policy.maxInCallWaitMs) {
          // Nothing is sent: the caller's next try (heartbeat, reconcile pass) comes back later.
          throw new ApiError({
            kind: 'rate-limited',
            operation,
            message: `not sent: the control plane asked (Retry-After) for no ${operation} request before ${new Date(gate).toISOString()}`,
            remediation: 'retried after that time',
            retryable: true,
            retryAfterMs: wait,
          });
        }
        log?.info({ operation, delayMs: wait }, `${operation}: waiting ${(wait / 1000).toFixed(1)} s (the control plane's Retry-After) before sending`);
        try {
          await this.clock.sleep(wait, callOpts.signal);
        } catch {
          throw new ApiError({ kind: 'aborted', operation, message: 'stopped (shutting down)', remediation: 'none needed', retryable: false });
        }
      }
      let err: ApiError;
      try {
        let raw: RawResponse;
        try {
          raw = await this.once(method, url, cred, body, callOpts.signal, MAX_RESPONSE_BYTES, operation);
        } catch (e) {
          if (e instanceof ApiError) throw e; // an oversized body: already classified
          if (callOpts.signal?.aborted) {
            throw new ApiError({ kind: 'aborted', operation, message: 'stopped (shutting down)', remediation: 'none needed', retryable: false });
          }
          const timedOut = codesOf(e).includes('TimeoutError') || (e as { name?: string }).name === 'TimeoutError';
          throw this.transportError(operation, url, e, timedOut);
        }
        if ((raw.status >= 200 && raw.status < 300) || okStatuses.includes(raw.status)) {
          return { status: raw.status, value: parse(raw) };
        }
        throw this.statusError(operation, raw, cred);
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        err = e;
      }
      if (err.retryAfterMs !== undefined) {
        this.notBefore.set(operation, this.clock.now() + Math.min(err.retryAfterMs, this.policy.maxRetryAfterMs));
      }
      if (!err.retryable || attempt >= maxAttempts) {
        if (err.retryable) {
          throw new ApiError({
            kind: err.kind,
            operation,
            message: `${err.message.replace(`${operation}: `, '')} (gave up after ${attempt} attempt${attempt === 1 ? '' : 's'})`,
            remediation: err.remediation,
            retryable: true,
            ...(err.status !== undefined ? { status: err.status } : {}),
            ...(err.field !== undefined ? { field: err.field } : {}),
          });
        }
        throw err;
      }
      let delay = backoffDelay(attempt - 1, this.policy, this.random);
      let why = 'backoff';
      if (err.retryAfterMs !== undefined) {
        delay = Math.min(err.retryAfterMs, this.policy.maxRetryAfterMs);
        why = 'Retry-After';
        if (delay > this.policy.maxInCallWaitMs) {
          throw new ApiError({
            kind: err.kind,
            operation,
            message: `${err.message.replace(`${operation}: `, '')}; not retried before ${new Date(this.clock.now() + delay).toISOString()} (Retry-After ${(delay / 1000).toFixed(0)} s)`,
            remediation: err.remediation,
            retryable: true,
            retryAfterMs: delay,
            ...(err.status !== undefined ? { status: err.status } : {}),
          });
        }
      }
      if (deadline !== undefined && this.clock.now() + delay >= deadline) {
        throw new ApiError({
          kind: 'expired',
          operation,
          credential: cred.kind,
          message: `${err.message.replace(`${operation}: `, '')}; not retried: the ${cred.kind.replace('-', ' ')} expires before the next attempt`,
          remediation: REMEDIATION[cred.kind as 'log-key'] ?? err.remediation,
          retryable: false,
        });
      }
      log?.[callOpts.quietRetries ? 'debug' : 'warn'](
        { operation, attempt, maxAttempts, delayMs: delay, kind: err.kind, status: err.status },
        `${err.message}; retrying in ${(delay / 1000).toFixed(1)} s (${why}, attempt ${attempt}${Number.isFinite(maxAttempts) ? `/${maxAttempts}` : ''})`,
      );
      try {
        await this.clock.sleep(delay, callOpts.signal);
      } catch {
        throw new ApiError({ kind: 'aborted', operation, message: 'stopped (shutting down)', remediation: 'none needed', retryable: false });
      }
    }
  }
}
