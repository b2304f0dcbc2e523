import path from 'node:path';
import { refusal, type Refusal } from '../contract.ts';
import { EXIT } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { keyPaths } from './keys.ts';
import { DEFAULT_IFACE } from './spec.ts';
import type { DeviceState } from './types.ts';
import { OWNER_FILE_NAME } from '../state/files.ts';
import { BOOT_ID_FILE } from '../host/paths.ts';

/**
 * Which WireGuard interface is ours (issue 15 item 1, docs/decisions/0150). The agent records the
 * interface it creates in `<stateDir>/wireguard/interface.json` (0600) and changes or deletes an
 * interface only when this proves it ours:
 *
 *   (a) it holds the node's key: its public key is the node's, or the one we recorded (a key
 *       rotation in flight). Only a holder of our private key can make that so — proof in any boot;
 *   (b) we created it in this boot and set no key yet: our record names it, with this boot's
 *       boot_id and its ifindex, and it has no private key;
 *   (c) we were creating it in this boot when the agent stopped: the record is the intent written
 *       just before `ip link add` (no ifindex yet), and the interface is blank (no key, no peer,
 *       no address).
 *
 * Anything else of that name — no record, another boot's record, another ifindex, another key —
 * is someone else's: refused with an error naming it, never changed or deleted. After a reboot a
 * kernel (or wireguard-go) interface is gone, so the agent simply creates its own again; one that
 * already exists at boot is ours only by (a).
 *
 * The steady state costs no extra process: the ifindex comes from the `ip -j -d -batch` read, the
 * public key from `wg show dump`, the record and boot_id are two file reads.
 */

/** The name every agent before issue 15 used; an interface of that name that holds our key is ours to migrate. */
export const LEGACY_IFACE = 'wg0';
/** A fresh random id per boot (random(4)); an ifindex means something only within one boot. */

export interface OwnerRecord {
  iface: string;
  /** The public key of the private key we set (or are about to set) on it. */
  publicKey: string;
  /** boot_id of the boot it was created (or last proven ours) in. */
  bootId: string;
  /** Absent = intent: written just before `ip link add`, the interface may or may not exist. */
  ifindex?: number;
  updatedAt?: string;
}

export function ownerRecordPath(stateDir: string): string {
  return path.join(keyPaths(stateDir).dir, OWNER_FILE_NAME);
}

/** The record, or undefined when there is none or it is not ours to believe (unparsable, wrong shape, not 0600). */
export async function readOwnerRecord(host: Host, file: string): Promise<OwnerRecord | undefined> {
  const text = await host.readFile(file);
  if (text === undefined) return undefined;
  const st = await host.stat(file);
  if (!st?.isFile || st.isSymlink || (st.mode & 0o022) !== 0) return undefined; // someone else could have written it
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = v as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || typeof o.iface !== 'string' || typeof o.publicKey !== 'string' || typeof o.bootId !== 'string') return undefined;
  if (o.ifindex !== undefined && !(typeof o.ifindex === 'number' && Number.isInteger(o.ifindex) && o.ifindex > 0)) return undefined;
  return {
    iface: o.iface,
    publicKey: o.publicKey,
    bootId: o.bootId,
    ...(typeof o.ifindex === 'number' ? { ifindex: o.ifindex } : {}),
    ...(typeof o.updatedAt === 'string' ? { updatedAt: o.updatedAt } : {}),
  };
}

export async function writeOwnerRecord(host: Host, file: string, r: Omit<OwnerRecord, 'updatedAt'>): Promise<void> {
  const rec: OwnerRecord = { ...r, updatedAt: new Date().toISOString() };
  await host.writeFileAtomic(file, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
}

export async function readBootId(host: Host): Promise<string> {
  return ((await host.readFile(BOOT_ID_FILE).catch(() => undefined)) ?? '').trim();
}

/** What ownership is judged on: one interface as inspect read it. */
export interface SeenInterface {
  iface: string;
  exists: boolean;
  ifindex?: number;
  kind?: string;
  /** undefined = not read (a previous interface: only its key and ifindex are read). */
  addresses?: string[];
  device?: DeviceState;
}

export interface OwnerFacts {
  record?: OwnerRecord;
  bootId: string;
  /** The node's public key (undefined when there is none yet). */
  nodePublicKey?: string;
}

export type Ownership = { ours: true; why: string } | { ours: false; why: string };

/** The facts inspect read (record, boot id) plus the node's public key, when there is one. */
export function ownerFacts(owner: { record?: OwnerRecord; bootId: string } | undefined, nodePublicKey: string | undefined): OwnerFacts {
  return { ...(owner?.record ? { record: owner.record } : {}), bootId: owner?.bootId ?? '', ...(nodePublicKey ? { nodePublicKey } : {}) };
}

/** Pure: whether `i` is the agent's (rules (a)-(c) above). Only meaningful when `i.exists`. */
export function judgeOwnership(i: SeenInterface, f: OwnerFacts): Ownership {
  const key = i.device?.publicKey;
  const rec = f.record?.iface === i.iface ? f.record : undefined;
  if (key && key === f.nodePublicKey) return { ours: true, why: 'it holds the node key' };
  if (key && rec && key === rec.publicKey) return { ours: true, why: 'it holds the key the agent recorded for it' };
  const thisBoot = rec !== undefined && f.bootId !== '' && rec.bootId === f.bootId;
  if (thisBoot && !key && rec.ifindex !== undefined && rec.ifindex === i.ifindex)
    return { ours: true, why: `the agent created it in this boot (ifindex ${rec.ifindex}), no key set yet` };
  if (thisBoot && !key && rec.ifindex === undefined && (i.device?.peers.length ?? 0) === 0 && i.addresses?.length === 0) {
    return { ours: true, why: 'the agent was creating it in this boot when it stopped (blank: no key, peer or address)' };
  }
  const why = !f.record
    ? 'castai-edge-initd has no record of creating an interface'
    : f.record.iface !== i.iface
      ? `castai-edge-initd's record names ${f.record.iface}, not ${i.iface}`
      : !thisBoot
        ? `castai-edge-initd's record is from another boot (ifindex${f.record.ifindex === undefined ? ' not recorded' : ` ${f.record.ifindex}`})`
        : f.record.ifindex !== undefined && f.record.ifindex !== i.ifindex
          ? `castai-edge-initd created ifindex ${f.record.ifindex}, this is ifindex ${i.ifindex ?? '?'}`
          : 'its key is not the node key';
  return { ours: false, why };
}

/** What a foreign interface looks like, for the error (no secret: public key, counts, addresses). */
export function describeInterface(i: SeenInterface): string {
  const d = i.device;
  const parts = [
    `${i.kind === 'tun' ? 'wireguard-go (tun)' : (i.kind ?? 'WireGuard')} interface`,
    ...(i.ifindex !== undefined ? [`ifindex ${i.ifindex}`] : []),
    d?.publicKey ? `public key ${d.publicKey}` : 'no private key',
    ...(d ? [`listen port ${d.listenPort || '(none)'}`, `${d.peers.length} peer${d.peers.length === 1 ? '' : 's'}`] : []),
    ...(i.addresses ? [`addresses ${i.addresses.join(', ') || '(none)'}`] : []),
  ];
  return parts.join(', ');
}

/** The refusal: names the interface, what was found, why it is not ours, and the fix. Exit 2, like a storage refusal. */
export function notOurs(i: SeenInterface, why: string): Refusal {
  const other = i.iface === DEFAULT_IFACE ? 'edge-tun0' : DEFAULT_IFACE;
  return refusal(
    `WireGuard interface ${i.iface} exists and was not created by castai-edge-initd (${why}): found ${describeInterface(i)}; the agent does not touch it, nothing was changed`,
    `set INITD_WIREGUARD_INTERFACE to a name no other interface uses (e.g. ${other}; the default is ${DEFAULT_IFACE}) in the agent's env file and restart castai-edge-initd; only if ${i.iface} is a leftover of castai-edge-initd, remove it yourself: ip link del ${i.iface}`,
    EXIT.CONFIG,
  );
}
