import { canonicalIp } from '../net/cidr.ts';
import { refusalError, type Refusal } from '../contract.ts';
import { judgeOwnership, notOurs, ownerFacts } from './owner.ts';
import { formatHostPort, parseHostPort } from '../net/endpoint.ts';
import type { DesiredPeer, WgAction, WireguardActual, WireguardDesired } from './types.ts';

/**
 * plan(desired, actual): PURE. Returns the minimal actions that take the
 * actual interface to the desired one, in the order apply() must run them.
 * Equal → [] (touching a WireGuard config can interrupt traffic).
 *
 * - Key, listen port and peers: `wg set` (existing sessions survive; the
 *   interface is never recreated for a peer/key/endpoint change).
 * - Addresses, MTU, link state and routes: `ip` (wg syncconf ignores them).
 * - Endpoints: compared by resolved IP + port, never by name.
 * - Ownership (owner.ts, docs/decisions/0150): an existing interface that is not proven ours
 *   throws the refusal (nothing planned, nothing changed); an interface of ours from before (a
 *   renamed INITD_WIREGUARD_INTERFACE, the pre-issue-15 wg0) is deleted first; the record of the
 *   interface we own is kept current.
 */

/** True when the actual endpoint is one of the desired endpoint's resolved addresses, same port. */
export function endpointMatches(actual: string | undefined, want: NonNullable<DesiredPeer['endpoint']>): boolean {
  if (!actual) return false;
  const a = parseHostPort(actual);
  if (!a || a.isHostname || a.port !== want.port) return false;
  return want.ips.some((ip) => canonicalIp(ip) === a.host);
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

const short = (pk: string) => `${pk.slice(0, 8)}…`;

/** Pure: the typed refusal when the configured interface exists and is not proven ours (docs/decisions/0150). */
export function refuseForeign(desired: WireguardDesired, actual: WireguardActual): Refusal | undefined {
  if (!actual.exists) return undefined;
  const own = judgeOwnership(actual, ownerFacts(actual.owner, desired.publicKey));
  return own.ours ? undefined : notOurs(actual, own.why);
}

/** Pure: the actions (throws the refusal of refuseForeign; the step asks refuseForeign first). */
export function planWireguard(desired: WireguardDesired, actual: WireguardActual): WgAction[] {
  const iface = desired.iface;
  const out: WgAction[] = [];
  const facts = ownerFacts(actual.owner, desired.publicKey);
  const refused = refuseForeign(desired, actual);
  if (refused) throw refusalError(refused);
  for (const p of actual.previous ?? []) {
    const own = judgeOwnership(p, facts);
    if (!p.exists || !own.ours) continue; // someone else's: never touched
    out.push({
      kind: 'wireguard.link.delete',
      iface: p.iface,
      data: {},
      description: `delete castai-edge-initd's previous WireGuard interface ${p.iface}`,
      reason: `${own.why}; the agent's interface is now ${iface} (INITD_WIREGUARD_INTERFACE)`,
    });
  }
  if (!actual.exists) {
    out.push({
      kind: 'wireguard.link.create',
      iface,
      data: { ownerRecordPath: desired.ownerRecordPath, publicKey: desired.publicKey, bootId: facts.bootId },
      description: `create WireGuard interface ${iface} (kernel module, else wireguard-go), recorded as ours in ${desired.ownerRecordPath}`,
      reason: `${iface} does not exist`,
    });
  }
  const dev = actual.device;
  if (dev?.publicKey !== desired.publicKey) {
    out.push({
      kind: 'wireguard.key.set',
      iface,
      data: { privateKeyPath: desired.privateKeyPath, publicKey: desired.publicKey },
      description: `set the private key of ${iface} from ${desired.privateKeyPath} (public key ${desired.publicKey})`,
      reason: dev?.publicKey ? `interface public key is ${dev.publicKey}, the node's key is ${desired.publicKey}` : 'no private key set',
    });
  }
  if (dev?.listenPort !== desired.listenPort) {
    out.push({
      kind: 'wireguard.listenport.set',
      iface,
      data: { port: desired.listenPort },
      description: `listen on UDP ${desired.listenPort}`,
      reason: dev ? `listening on ${dev.listenPort}` : 'new interface',
    });
  }

  const wanted = new Map(desired.peers.map((p) => [p.publicKey, p]));
  const have = new Map((dev?.peers ?? []).map((p) => [p.publicKey, p]));
  for (const p of dev?.peers ?? []) {
    if (!wanted.has(p.publicKey)) {
      out.push({
        kind: 'wireguard.peer.remove',
        iface,
        data: { publicKey: p.publicKey },
        description: `remove peer ${p.publicKey}`,
        reason: 'the control plane no longer lists this peer',
      });
    }
  }
  for (const p of desired.peers) {
    const a = have.get(p.publicKey);
    const data: Extract<WgAction, { kind: 'wireguard.peer.set' }>['data'] = { publicKey: p.publicKey };
    const why: string[] = [];
    if (p.endpoint) {
      if (p.endpoint.ips.length === 0) {
        if (!a?.endpoint) why.push(`endpoint ${p.endpoint.host} does not resolve (${p.endpoint.error ?? 'no address'}); will retry`);
      } else if (!endpointMatches(a?.endpoint, p.endpoint)) {
        data.endpoint = formatHostPort(p.endpoint.ips[0]!, p.endpoint.port);
        why.push(
          a?.endpoint
            ? `endpoint ${a.endpoint} is not ${p.endpoint.isHostname ? `an address of ${p.endpoint.host}:${p.endpoint.port}` : data.endpoint}`
            : 'no endpoint set',
        );
      }
    }
    if (!a || !sameList(a.allowedIPs, p.allowedIPs)) {
      data.allowedIPs = p.allowedIPs;
      if (a) why.push(`allowed IPs ${a.allowedIPs.join(',') || '(none)'} → ${p.allowedIPs.join(',') || '(none)'}`);
    }
    if (!a || a.persistentKeepalive !== p.persistentKeepalive) {
      data.persistentKeepalive = p.persistentKeepalive;
      if (a) why.push(`persistent keepalive ${a.persistentKeepalive || 'off'} → ${p.persistentKeepalive || 'off'}`);
    }
    const changes = Object.keys(data).length > 1;
    if (!a || changes) {
      const parts = [
        data.endpoint ? `endpoint ${data.endpoint}` : '',
        data.allowedIPs ? `allowed-ips ${data.allowedIPs.join(',') || '(none)'}` : '',
        data.persistentKeepalive !== undefined ? `persistent-keepalive ${data.persistentKeepalive}` : '',
      ].filter(Boolean);
      out.push({
        kind: 'wireguard.peer.set',
        iface,
        data,
        description: `${a ? 'update' : 'add'} peer ${short(p.publicKey)}: ${parts.join(' ')}`,
        reason: a ? why.join('; ') : `new peer from the control plane${why.length ? ` (${why.join('; ')})` : ''}`,
      });
    }
  }

  for (const cidr of actual.addresses) {
    if (cidr !== desired.address) {
      out.push({
        kind: 'wireguard.addr.del',
        iface,
        data: { cidr },
        description: `remove address ${cidr} from ${iface}`,
        reason: `the node's tunnel address is ${desired.address}`,
      });
    }
  }
  if (!actual.addresses.includes(desired.address)) {
    out.push({
      kind: 'wireguard.addr.add',
      iface,
      data: { cidr: desired.address },
      description: `add address ${desired.address} to ${iface}`,
      reason: 'missing',
    });
  }
  if (actual.mtu !== desired.mtu) {
    out.push({
      kind: 'wireguard.mtu.set',
      iface,
      data: { mtu: desired.mtu },
      description: `set MTU of ${iface} to ${desired.mtu}`,
      reason: actual.mtu === undefined ? 'new interface' : `MTU is ${actual.mtu}`,
    });
  }
  if (!actual.up) {
    out.push({ kind: 'wireguard.link.up', iface, data: {}, description: `bring ${iface} up`, reason: actual.exists ? `${iface} is down` : 'new interface' });
  }

  const wantRoutes = [...new Set(desired.peers.flatMap((p) => p.allowedIPs))].sort();
  const haveRoutes = new Set(actual.routes.map((r) => r.dst));
  for (const r of actual.routes) {
    // Routes the kernel made for the interface's own prefix are not ours to remove.
    if (r.protocol === 'kernel' || wantRoutes.includes(r.dst)) continue;
    out.push({
      kind: 'wireguard.route.del',
      iface,
      data: { dst: r.dst },
      description: `remove route ${r.dst} dev ${iface}`,
      reason: 'not an allowed IP of any peer',
    });
  }
  for (const dst of wantRoutes) {
    if (haveRoutes.has(dst)) continue;
    out.push({
      kind: 'wireguard.route.replace',
      iface,
      data: { dst },
      description: `route ${dst} via ${iface}`,
      reason: 'allowed IP of a peer without a route',
    });
  }

  // Ours (judged above) but our record does not say so for this boot, ifindex and key: write it.
  const rec = facts.record;
  if (actual.exists && actual.owner && actual.ifindex !== undefined) {
    const record = { iface, publicKey: desired.publicKey, bootId: facts.bootId, ifindex: actual.ifindex };
    if (!rec || rec.iface !== iface || rec.publicKey !== record.publicKey || rec.bootId !== record.bootId || rec.ifindex !== record.ifindex) {
      out.push({
        kind: 'wireguard.owner.record',
        iface,
        data: { ownerRecordPath: desired.ownerRecordPath, record },
        description: `record ${iface} (ifindex ${actual.ifindex}) as the agent's interface in ${desired.ownerRecordPath}`,
        reason: rec
          ? `the record says ${rec.iface}, ifindex ${rec.ifindex ?? '(none yet)'}${rec.bootId === facts.bootId ? '' : ', another boot'}${rec.publicKey === record.publicKey ? '' : ', another key'}`
          : 'no record yet',
      });
    }
  }
  return out;
}
