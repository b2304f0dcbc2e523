import type { Logger } from 'pino';
import type { Host } from '../host/host.ts';
import { log } from '../log/logger.ts';
import { readDump } from './inspect.ts';
import { endpointMatches } from './plan.ts';
import { formatHostPort } from '../net/endpoint.ts';
import type { NormalizedSpec } from './spec.ts';
import { applyWireguard } from './apply.ts';
import type { DeviceState, WireguardStatus } from './types.ts';

/** wireguard-tools' reresolve-dns uses 135 s: REKEY_AFTER_TIME (120) + REKEY_TIMEOUT (5) + jitter. */
export const RERESOLVE_AFTER_S = 135;

export function statusFromDump(dev: DeviceState, nowSec: number): WireguardStatus {
  let newest = 0;
  let rx = 0;
  let tx = 0;
  for (const p of dev.peers) {
    newest = Math.max(newest, p.latestHandshake);
    rx += p.rxBytes;
    tx += p.txBytes;
  }
  return { latestHandshakeSeconds: newest > 0 ? Math.max(0, Math.round(nowSec - newest)) : null, rxBytes: rx, txBytes: tx };
}

/**
 * `{latestHandshakeSeconds, rxBytes, txBytes}` for `status` and `reportStatus`.
 * undefined when the interface does not exist (or cannot be read).
 */
export async function wireguardStatus(host: Host, iface: string, nowSec = Date.now() / 1000): Promise<WireguardStatus | undefined> {
  try {
    return statusFromDump(await readDump(host, iface), nowSec);
  } catch {
    return undefined;
  }
}

export interface ReresolveResult {
  publicKey: string;
  host: string;
  handshakeAgeSeconds: number | null;
  outcome: 'fresh' | 'unchanged' | 'updated' | 'unresolvable' | 'not-configured';
  endpoint?: string;
  error?: string;
}

/**
 * Health check: for every peer whose endpoint is a hostname and whose latest
 * handshake is older than 135 s (or never happened), re-resolve the name and,
 * only when the current endpoint IP is not among the new addresses,
 * `wg set <if> peer <pk> endpoint <ip:port>`. Nothing else is touched.
 */
export async function reresolveEndpoints(
  host: Host,
  iface: string,
  spec: NormalizedSpec,
  nowSec = Date.now() / 1000,
  logger: Logger = log(),
  /** A dump read a moment ago (the step's inspect); read afresh when absent. */
  current?: DeviceState,
): Promise<ReresolveResult[]> {
  const dev = current ?? (await readDump(host, iface));
  const byKey = new Map(dev.peers.map((p) => [p.publicKey, p]));
  const out: ReresolveResult[] = [];
  for (const p of spec.peers) {
    const ep = p.endpoint;
    if (!ep?.isHostname) continue;
    const st = byKey.get(p.publicKey);
    const age = st && st.latestHandshake > 0 ? Math.max(0, Math.round(nowSec - st.latestHandshake)) : null;
    const base = { publicKey: p.publicKey, host: ep.host, handshakeAgeSeconds: age };
    if (!st) {
      out.push({ ...base, outcome: 'not-configured' });
      continue;
    }
    if (age !== null && age <= RERESOLVE_AFTER_S) {
      out.push({ ...base, outcome: 'fresh' });
      continue;
    }
    let ips: string[];
    try {
      ips = await host.resolve(ep.host);
    } catch (e) {
      const err = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      logger.warn({ step: 'wireguard', host: ep.host, error: err }, `cannot re-resolve WireGuard endpoint ${ep.host}; keeping ${st.endpoint ?? '(none)'}`);
      out.push({ ...base, outcome: 'unresolvable', error: err });
      continue;
    }
    if (ips.length === 0 || endpointMatches(st.endpoint, { ...ep, ips })) {
      out.push({ ...base, outcome: 'unchanged', ...(st.endpoint ? { endpoint: st.endpoint } : {}) });
      continue;
    }
    const endpoint = formatHostPort(ips[0]!, ep.port);
    await applyWireguard(
      host,
      [
        {
          kind: 'wireguard.peer.set',
          iface,
          data: { publicKey: p.publicKey, endpoint },
          description: `re-resolved ${ep.host}: endpoint ${st.endpoint ?? '(none)'} → ${endpoint}`,
          reason: `latest handshake ${age === null ? 'never' : `${age} s ago`} (> ${RERESOLVE_AFTER_S} s) and ${ep.host} now resolves to ${ips.join(', ')}`,
        },
      ],
      logger,
    );
    out.push({ ...base, outcome: 'updated', endpoint });
  }
  return out;
}
