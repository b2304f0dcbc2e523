import type { Logger } from 'pino';
import type { Host } from '../host/host.ts';
import { log } from '../log/logger.ts';
import type { Subsystem } from '../subsystem.ts';
import { applyWireguard, wireguardDown } from './apply.ts';
import { inspectWireguard } from './inspect.ts';
import { ensureKeyPair, keyPaths, loadKeyPair, type KeyInfo } from './keys.ts';
import { ownerRecordPath } from './owner.ts';
import { planWireguard } from './plan.ts';
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

export { ensureKeyPair, loadKeyPair, publicKeyFromPrivate, isWireguardKey } from './keys.ts';
export { normalizeSpec, DEFAULT_IFACE, DEFAULT_LISTEN_PORT, DEFAULT_MTU, DEFAULT_KEEPALIVE } from './spec.ts';
export { wireguardStatus, reresolveEndpoints, statusFromDump, RERESOLVE_AFTER_S } from './health.ts';
export { inspectWireguard } from './inspect.ts';
export { planWireguard } from './plan.ts';
export { applyWireguard, wireguardDown, type DownResult } from './apply.ts';
export { judgeOwnership, ownerRecordPath, readOwnerRecord, LEGACY_IFACE, type OwnerRecord } from './owner.ts';
export type { WgAction, WireguardActual, WireguardDesired, WireguardStatus } from './types.ts';
export type { WireguardSpec, NormalizedSpec } from './spec.ts';

export function createWireguard(opts: { iface?: string; stateDir: string; logger?: Logger }): Subsystem<WireguardDesired, WireguardActual, WgAction> {
  const iface = opts.iface ?? DEFAULT_IFACE;
  validateIfaceName(iface);
  return {
    name: 'wireguard',
    inspect: (host) => inspectWireguard(host, iface, { stateDir: opts.stateDir }),
    plan: planWireguard,
    apply: (host, actions) => applyWireguard(host, actions, opts.logger ?? log()),
  };
}

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

/**
 * Validate the register response's `wireguard` object, make sure the node key
 * exists, inspect, plan, apply. `dryRun` stops after plan (the `plan` command).
 */
export async function reconcileWireguard(
  host: Host,
  rawSpec: unknown,
  opts: { stateDir: string; iface?: string; logger?: Logger; dryRun?: boolean },
): Promise<ReconcileResult> {
  const iface = opts.iface ?? DEFAULT_IFACE;
  validateIfaceName(iface);
  const logger = opts.logger ?? log();
  const spec = normalizeSpec(rawSpec);
  // A dry run (the `plan` command) must not write anything, not even the key.
  const key = opts.dryRun
    ? ((await loadKeyPair(host, opts.stateDir)) ?? { publicKey: '(generated on apply)', privateKeyPath: keyPaths(opts.stateDir).file, created: false })
    : await ensureKeyPair(host, opts.stateDir);
  if (key.created) logger.info({ step: 'wireguard', publicKey: key.publicKey }, 'generated the node WireGuard key');
  const desired = await resolveDesired(host, spec, key, iface, opts.stateDir);
  for (const p of desired.peers) {
    if (p.endpoint?.error)
      logger.warn({ step: 'wireguard', host: p.endpoint.host, error: p.endpoint.error }, `WireGuard endpoint ${p.endpoint.host} does not resolve`);
  }
  const before = await inspectWireguard(host, iface, { stateDir: opts.stateDir });
  const actions = planWireguard(desired, before); // throws the refusal for an interface that is not ours
  if (actions.length === 0) logger.debug({ step: 'wireguard', iface }, 'WireGuard already as desired; nothing touched');
  if (!opts.dryRun) await applyWireguard(host, actions, logger);
  return { publicKey: key.publicKey, actions, before };
}

export { wireguardDown as down };
