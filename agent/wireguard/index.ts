import type { Logger } from 'pino';
import type { Host } from '../host/host.ts';
import { log } from '../log/logger.ts';
import { isRefusal, refusalError, type Refusal } from '../contract.ts';
import { applyWireguard } from './apply.ts';
import { inspectWireguard } from './inspect.ts';
import { ensureKeyPair, keyPaths, loadKeyPair, type KeyInfo } from './keys.ts';
import { ownerRecordPath } from './owner.ts';
import { planWireguard, refuseForeign } from './plan.ts';
import { DEFAULT_IFACE, normalizeSpec, validateIfaceName, type NormalizedSpec } from './spec.ts';
import type { DesiredPeer, WgAction, WireguardActual, WireguardDesired } from './types.ts';

/**
 * WireGuard subsystem (issue 6). Typical use from the daemon:
 *
 *   const key = await ensureKeyPair(host, stateDir);        // before register: send key.publicKey
 *   ...register...
 *   const r = await reconcileWireguard(host, resp.wireguard, { stateDir, iface });
 *   // every health tick:
 *   await reresolveEndpoints(host, iface, normalizeSpec(resp.wireguard));
 *   const wg = await wireguardStatus(host, iface);         // -> reportStatus.wireguard
 */

export { ensureKeyPair } from './keys.ts';
export { normalizeSpec, DEFAULT_IFACE } from './spec.ts';
export { wireguardStatus, reresolveEndpoints, statusFromDump } from './health.ts';
export { inspectWireguard } from './inspect.ts';
export { applyWireguard, wireguardDown } from './apply.ts';
export type { WgAction, WireguardActual, WireguardDesired } from './types.ts';
export type { NormalizedSpec } from './spec.ts';

/** Resolve hostname endpoints (plan compares resolved IPs, not names). A failed lookup leaves `ips` empty. */
export async function resolveDesired(host: Host, spec: NormalizedSpec, key: KeyInfo, iface: string, stateDir: string): Promise<WireguardDesired> {
  const peers: DesiredPeer[] = [];
  for (const p of spec.peers) {
    const { endpoint, ...rest } = p;
    if (!endpoint) {
      peers.push(rest);
      continue;
    }
    if (!endpoint.isHostname) {
      peers.push({ ...rest, endpoint: { ...endpoint, ips: [endpoint.host] } });
      continue;
    }
    try {
      peers.push({ ...rest, endpoint: { ...endpoint, ips: await host.resolve(endpoint.host) } });
    } catch (e) {
      const error = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      peers.push({ ...rest, endpoint: { ...endpoint, ips: [], error } });
    }
  }
  return {
    iface,
    publicKey: key.publicKey,
    privateKeyPath: key.privateKeyPath,
    ownerRecordPath: ownerRecordPath(stateDir),
    address: spec.address,
    listenPort: spec.listenPort,
    mtu: spec.mtu,
    peers,
  };
}

export interface ReconcileResult {
  publicKey: string;
  actions: WgAction[];
  before: WireguardActual;
}

/** The node key as `plan` sees it: read, never written (`run` makes it with ensureKeyPair). */
export async function keyForPlan(host: Host, stateDir: string): Promise<KeyInfo> {
  return (await loadKeyPair(host, stateDir)) ?? { publicKey: '(generated on apply)', privateKeyPath: keyPaths(stateDir).file, created: false };
}

/** The register response's `wireguard` object (validated: normalizeSpec) resolved into the desired state (endpoints resolved). */
export async function wireguardDesired(
  host: Host,
  spec: NormalizedSpec,
  key: KeyInfo,
  o: { stateDir: string; iface: string; logger: Logger },
): Promise<WireguardDesired> {
  validateIfaceName(o.iface);
  if (key.created) o.logger.info({ step: 'wireguard', publicKey: key.publicKey }, 'generated the node WireGuard key');
  const desired = await resolveDesired(host, spec, key, o.iface, o.stateDir);
  for (const p of desired.peers) {
    if (p.endpoint?.error)
      o.logger.warn({ step: 'wireguard', host: p.endpoint.host, error: p.endpoint.error }, `WireGuard endpoint ${p.endpoint.host} does not resolve`);
  }
  return desired;
}

/** Pure: the typed refusal for an interface that is not ours, or the actions. */
export function planTunnel(desired: WireguardDesired, actual: WireguardActual): { actions: WgAction[] } | Refusal {
  return refuseForeign(desired, actual) ?? { actions: planWireguard(desired, actual) };
}

/**
 * The WireGuard phases strung together without the runner (the reconcile step is
 * agent/reconcile/steps/wireguard.ts): `apply: false` stops after plan and writes nothing, not even the key.
 */
async function tunnel(host: Host, rawSpec: unknown, opts: { stateDir: string; iface?: string; logger?: Logger }, apply: boolean): Promise<ReconcileResult> {
  const iface = opts.iface ?? DEFAULT_IFACE;
  validateIfaceName(iface);
  const logger = opts.logger ?? log();
  const spec = normalizeSpec(rawSpec); // a bad spec changes nothing, not even the key
  const key = apply ? await ensureKeyPair(host, opts.stateDir) : await keyForPlan(host, opts.stateDir);
  const desired = await wireguardDesired(host, spec, key, { stateDir: opts.stateDir, iface, logger });
  const before = await inspectWireguard(host, iface, { stateDir: opts.stateDir });
  const planned = planTunnel(desired, before);
  if (isRefusal(planned)) throw refusalError(planned);
  if (planned.actions.length === 0) logger.debug({ step: 'wireguard', iface }, 'WireGuard already as desired; nothing touched');
  if (apply) await applyWireguard(host, planned.actions, logger);
  return { publicKey: key.publicKey, actions: planned.actions, before };
}

/** Make sure the node key exists, inspect, plan, apply. */
export const reconcileWireguard = (host: Host, rawSpec: unknown, opts: { stateDir: string; iface?: string; logger?: Logger }) =>
  tunnel(host, rawSpec, opts, true);

/** Inspect and plan only (the `plan` command's view): nothing is written, not even the key. */
export const previewWireguard = (host: Host, rawSpec: unknown, opts: { stateDir: string; iface?: string; logger?: Logger }) =>
  tunnel(host, rawSpec, opts, false);
