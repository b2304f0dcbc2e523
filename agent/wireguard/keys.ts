import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import path from 'node:path';
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { registerSecret } from '../log/secrets.ts';
import { KEY_DIR_NAME, KEY_FILE_NAME } from '../state/files.ts';

/**
 * WireGuard keys: X25519 via node:crypto. A WireGuard key is the raw 32-byte
 * X25519 key in standard base64 (44 chars, one '=' of padding).
 *
 * The private key is generated once, on the node, and stored in
 * `<stateDir>/wireguard/private.key`: the file is created 0600 (never chmod
 * after writing) in a 0700 directory. It is never logged (registerSecret),
 * never returned to callers, and never put in argv: `wg` reads it from that
 * 0600 file (see apply.ts and docs/decisions/0070).
 */

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** True when `s` is a canonical base64 encoding of exactly 32 bytes. */
export function isWireguardKey(s: string): boolean {
  if (!KEY_RE.test(s)) return false;
  const raw = Buffer.from(s, 'base64');
  return raw.length === 32 && raw.toString('base64') === s;
}

/** Clamp a raw X25519 scalar the way `wg genkey` does (RFC 7748 decodeScalar25519). */
export function clamp(raw: Buffer): Buffer {
  const k = Buffer.from(raw);
  k[0] = k[0]! & 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

/** Public key (base64) for a private key (base64), as `wg pubkey` computes it. */
export function publicKeyFromPrivate(privateKeyB64: string): string {
  if (!isWireguardKey(privateKeyB64)) throw new Error('not a WireGuard key: expected base64 of 32 bytes');
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410): fixed 16-byte prefix + the 32 key bytes.
  const der = Buffer.concat([PKCS8_X25519_PREFIX, Buffer.from(privateKeyB64, 'base64')]);
  const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const x = createPublicKey(priv).export({ format: 'jwk' }).x;
  if (!x) throw new Error('node:crypto returned no X25519 public key');
  return Buffer.from(x, 'base64url').toString('base64');
}

/** A fresh, clamped private key in base64. Only keys.ts calls this. */
export function generatePrivateKey(): string {
  return clamp(randomBytes(32)).toString('base64');
}

export interface KeyInfo {
  publicKey: string;
  /** The 0600 file holding the private key; `wg set <if> private-key <file>` reads it. */
  privateKeyPath: string;
  /** True when this call generated the key. */
  created: boolean;
}

export function keyPaths(stateDir: string): { dir: string; file: string } {
  const dir = path.join(stateDir, KEY_DIR_NAME);
  return { dir, file: path.join(dir, KEY_FILE_NAME) };
}

function modeStr(m: number): string {
  return `0${m.toString(8).padStart(3, '0')}`;
}

/**
 * Load the node's private key, or generate and store it once.
 * Errors (never silently replaces anything):
 *  - the file exists but is not a valid key (corrupt/truncated);
 *  - the file or its directory is readable by group/other;
 *  - the path is a symlink or not a regular file.
 */
export async function ensureKeyPair(host: Host, stateDir: string): Promise<KeyInfo> {
  const existing = await loadKeyPair(host, stateDir);
  if (existing) return existing;
  const { file } = keyPaths(stateDir);
  const key = generatePrivateKey();
  registerSecret(key);
  await host.writeFileAtomic(file, `${key}\n`, { mode: 0o600, dirMode: 0o700 });
  return { publicKey: publicKeyFromPrivate(key), privateKeyPath: file, created: true };
}

/**
 * Read-only variant for `plan`: the existing key (checked exactly like
 * ensureKeyPair), or undefined when none exists yet. Never writes.
 */
export async function loadKeyPair(host: Host, stateDir: string): Promise<KeyInfo | undefined> {
  const { dir, file } = keyPaths(stateDir);
  const dirStat = await host.stat(dir);
  if (dirStat) {
    if (!dirStat.isDirectory || dirStat.isSymlink) {
      throw new AgentError(`${dir} exists but is not a directory`, `move it away; the agent keeps its WireGuard key in this directory (mode 0700)`);
    }
    if ((dirStat.mode & 0o077) !== 0) {
      throw new AgentError(
        `WireGuard key directory ${dir} has mode ${modeStr(dirStat.mode)}; it must be 0700`,
        `chmod 700 ${dir}`,
      );
    }
  }
  const st = await host.stat(file);
  if (st) {
    if (!st.isFile || st.isSymlink) {
      throw new AgentError(`WireGuard private key ${file} is not a regular file`, `remove it (the agent then generates a new key and re-registers it)`);
    }
    if ((st.mode & 0o077) !== 0) {
      throw new AgentError(
        `WireGuard private key ${file} has mode ${modeStr(st.mode)}; it must be 0600 (the key may have been read by others)`,
        `chmod 600 ${file}, or remove it to have the agent generate a new key`,
      );
    }
    const text = (await host.readFile(file)) ?? '';
    const key = text.trim();
    if (!isWireguardKey(key)) {
      // Say what is wrong without echoing the content (it may be a real key with a typo).
      throw new AgentError(
        `WireGuard private key ${file} is corrupt: expected one line of base64 encoding 32 bytes, found ${text.length} bytes`,
        `restore it from backup, or remove it to have the agent generate a new key (the node then re-registers its new public key)`,
      );
    }
    registerSecret(key);
    return { publicKey: publicKeyFromPrivate(key), privateKeyPath: file, created: false };
  }
  return undefined;
}
