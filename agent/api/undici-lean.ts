/**
 * The part of undici the agent uses — `Agent`, `EnvHttpProxyAgent` and `request` — taken from
 * undici's own modules instead of its package entry. `make build` bundles every `from 'undici'` of
 * the agent to this file (scripts/build.ts, plugin `lean-undici`); tests and scripts run from source
 * keep the real package.
 *
 * Why: undici's index loads all of undici — fetch and web streams, WebSocket, EventSource, the
 * caches (with node:sqlite), mocks, interceptors — and with them node:worker_threads, perf_hooks,
 * zlib and more. Measured in a single executable of the pinned Node doing one HTTPS request every
 * 30 s: ~3 MiB more resident memory than these modules alone (docs/decisions/0192-idle-memory-floor.md).
 *
 * Both dispatchers speak HTTP/1.1 only (below).
 *
 * `request(url, options)` is undici's `request` for what the agent passes: an absolute URL and an
 * explicit `dispatcher`. It refuses what it does not implement (no dispatcher: undici would use its
 * global one; the `path` option) instead of guessing.
 */
import type * as Undici from 'undici';
// @ts-expect-error undici's internal modules ship no type declarations; typed from its public ones below.
import AgentImpl from 'undici/lib/dispatcher/agent.js';
// @ts-expect-error as above
import EnvHttpProxyAgentImpl from 'undici/lib/dispatcher/env-http-proxy-agent.js';
// @ts-expect-error as above
import apiRequest from 'undici/lib/api/api-request.js';

export type Dispatcher = Undici.Dispatcher;

/**
 * HTTP/1.1 only (`allowH2: false`, whatever the caller passes): undici offers h2 by default and a
 * server that prefers it gets it — a second protocol stack, node:http2 and nghttp2, for one small
 * request a minute, and not the protocol the emulator and every test speak. The build leaves
 * node:http2 out of undici (scripts/build.ts, `lean-undici`), so this is also what keeps it out of
 * the daemon's memory.
 */
export const Agent = class Http1Agent extends (AgentImpl as typeof Undici.Agent) {
  constructor(opts: Undici.Agent.Options = {}) {
    super({ ...opts, allowH2: false });
  }
} as typeof Undici.Agent;
export const EnvHttpProxyAgent = class Http1EnvHttpProxyAgent extends (EnvHttpProxyAgentImpl as typeof Undici.EnvHttpProxyAgent) {
  constructor(opts: Undici.EnvHttpProxyAgent.Options = {}) {
    super({ ...opts, allowH2: false });
  }
} as typeof Undici.EnvHttpProxyAgent;

type RequestOptions = Parameters<typeof Undici.request>[1];

export function request(url: string | URL, options: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = (options ?? {}) as NonNullable<RequestOptions> & { path?: unknown };
  if (!dispatcher) return Promise.reject(new TypeError('undici-lean request: pass a dispatcher (the agent never uses the global one)'));
  if (rest.path !== undefined) return Promise.reject(new TypeError('undici-lean request: the path option is not supported; put the path in the URL'));
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new TypeError(String(e)));
  }
  // undici's own rule when no method is given: PUT with a body, else GET.
  const method = rest.method ?? (rest.body ? 'PUT' : 'GET');
  return (apiRequest as (this: Dispatcher, o: object) => Promise<Undici.Dispatcher.ResponseData>).call(dispatcher, {
    ...rest,
    origin: u.origin,
    path: `${u.pathname}${u.search}`,
    method,
  });
}
