import type { Action } from '../contract.ts';
import type { OwnerRecord, SeenInterface } from './owner.ts';
import type { Endpoint } from './spec.ts';

/** A peer as `wg show <if> dump` reports it. */
export interface PeerState {
  publicKey: string;
  hasPresharedKey: boolean;
  endpoint?: string; // "1.2.3.4:51840" / "[::1]:51840"; undefined = (none)
  allowedIPs: string[]; // canonical
  latestHandshake: number; // unix seconds; 0 = never
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number; // 0 = off
}

/** The device part of the dump. The private key column is dropped while parsing. */
export interface DeviceState {
  publicKey?: string; // undefined = no private key set
  listenPort: number;
  fwmark: string; // "off" or a number
  peers: PeerState[];
}

export interface RouteState {
  dst: string; // canonical CIDR
  protocol?: string; // "kernel", "boot", ...
}

/** What inspect() finds. Contains no secret. */
export interface WireguardActual {
  iface: string;
  exists: boolean;
  /** linkinfo.info_kind: "wireguard" (kernel) or "tun" (wireguard-go). */
  kind?: string;
  userspace: boolean;
  ifindex?: number;
  up: boolean;
  mtu?: number;
  addresses: string[]; // canonical "ip/prefix"; IPv6 link-local left out
  routes: RouteState[];
  device?: DeviceState;
  /** Read when inspect is given the state dir: our record of the interface we created, and this boot's id (owner.ts). */
  owner?: { record?: OwnerRecord; bootId: string };
  /**
   * Interfaces that may be ours from before, read only while our record does not name `iface`:
   * the record's interface (INITD_WIREGUARD_INTERFACE was changed) or the pre-issue-15 `wg0`.
   */
  previous?: SeenInterface[];
}

/** A peer of the desired state, its endpoint resolved to IPs (resolution happens before plan). */
export interface DesiredPeer {
  publicKey: string;
  endpoint?: Endpoint & { ips: string[]; error?: string };
  allowedIPs: string[];
  persistentKeepalive: number;
}

/** Input of plan(): the normalised register response + the node's key, endpoints resolved. */
export interface WireguardDesired {
  iface: string;
  publicKey: string; // derived from the local private key
  privateKeyPath: string; // 0600 file; the key itself never enters plan/actions
  ownerRecordPath: string; // <stateDir>/wireguard/interface.json (owner.ts)
  address: string;
  listenPort: number;
  mtu: number;
  peers: DesiredPeer[];
}

interface A<K extends string, D> extends Action {
  kind: K;
  iface: string;
  data: D;
}
export type WgAction =
  | A<'wireguard.link.delete', Record<string, never>>
  | A<'wireguard.link.create', { ownerRecordPath: string; publicKey: string; bootId: string }>
  | A<'wireguard.key.set', { privateKeyPath: string; publicKey: string }>
  | A<'wireguard.listenport.set', { port: number }>
  | A<'wireguard.peer.remove', { publicKey: string }>
  | A<'wireguard.peer.set', { publicKey: string; endpoint?: string; allowedIPs?: string[]; persistentKeepalive?: number }>
  | A<'wireguard.addr.del', { cidr: string }>
  | A<'wireguard.addr.add', { cidr: string }>
  | A<'wireguard.mtu.set', { mtu: number }>
  | A<'wireguard.link.up', Record<string, never>>
  | A<'wireguard.route.replace', { dst: string }>
  | A<'wireguard.route.del', { dst: string }>
  | A<'wireguard.owner.record', { ownerRecordPath: string; record: Omit<OwnerRecord, 'updatedAt'> }>;

export interface WireguardStatus {
  /** Age of the newest handshake over all peers, in seconds; null = never. */
  latestHandshakeSeconds: number | null;
  rxBytes: number;
  txBytes: number;
}
