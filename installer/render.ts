/**
 * Fills the installer template (installer/install.sh) with the values the
 * control plane bakes in. Used by the control-plane emulator, and by tests.
 *
 * Every @@NAME@@ placeholder must be given, and each value must pass ITS OWN
 * rule (INSTALLER_RULES: IDs, 64-hex sha256s, https URLs, the token's
 * character set, the version). Every rule admits only characters that are
 * inert in each quoting context a value lands in, so no value can break out:
 *   - `local X="…"` in the script (bash double quotes: no `"`, `\`, `` ` ``, `$`);
 *   - `X='…'` in the unit's env file, which root bash sources and systemd reads
 *     (single quotes: no `'`, no newline);
 *   - the curl header file `Authorization: Bearer …` (one line: no CR/LF);
 *   - messages and URLs given to curl (no whitespace or control characters).
 * docs/decisions/0163-installer-value-rules.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ID_RE, parseApiUrl } from '../agent/config/validate.ts';

export const INSTALLER_KEYS = [
  'API_URL', 'ORG_ID', 'CLUSTER_ID', 'EDGE_LOCATION_ID', 'BOOTSTRAP_TOKEN', 'AGENT_VERSION',
  'URL_AMD64_XZ', 'SHA256_AMD64_XZ', 'URL_AMD64_GZ', 'SHA256_AMD64_GZ',
  'URL_ARM64_XZ', 'SHA256_ARM64_XZ', 'URL_ARM64_GZ', 'SHA256_ARM64_GZ',
] as const;
export type InstallerKey = (typeof INSTALLER_KEYS)[number];
export type InstallerValues = Record<InstallerKey, string>;

/**
 * RFC 6750 §2.1 `b64token`: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" —
 * the bearer token syntax of the `Authorization: Bearer` header the installer sends.
 */
export const TOKEN_RE = /^[A-Za-z0-9._~+/-]{8,512}={0,2}$/;
export const SHA256_RE = /^[0-9a-f]{64}$/;
/** A build version: `0.1.0`, `0.1.0-g1a2b3c4`, `v1.2.3+build.5`. */
export const VERSION_RE = /^v?[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]{1,64})?$/;
/**
 * The characters an artifact URL may hold: RFC 3986 unreserved, gen-delims and the sub-delims
 * `& + , ; =`, and `%` for escapes. Left out on purpose: `'` `$` `!` `(` `)` `*` (sub-delims that
 * mean something to a shell), `"` `\` `` ` `` and every space or control character.
 */
const URL_CHARS_RE = /^[A-Za-z0-9._~:/?#[\]@&+,;=%-]+$/;

function httpsUrlError(v: string): string | undefined {
  if (!URL_CHARS_RE.test(v)) return 'must use only URL characters (letters, digits and ._~:/?#[]@&+,;=%-)';
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'https:') return 'must be an https:// URL';
  if (u.username || u.password) return 'must not carry credentials';
  if (!u.hostname) return 'has no host';
  return undefined;
}

/** Each value's own rule: undefined when valid, else what is wrong (never echoing a secret). */
export const INSTALLER_RULES: Record<InstallerKey, (v: string) => string | undefined> = {
  API_URL: (v) => {
    // What the agent accepts as API_URL (it normalizes `:443` and a trailing `/` itself).
    const r = parseApiUrl(v);
    if (!r.ok) return r.problems[0]!.message;
    return httpsUrlError(v);
  },
  ORG_ID: (v) => (ID_RE.test(v) ? undefined : "must be an ID: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"),
  CLUSTER_ID: (v) => INSTALLER_RULES.ORG_ID(v),
  EDGE_LOCATION_ID: (v) => INSTALLER_RULES.ORG_ID(v),
  BOOTSTRAP_TOKEN: (v) =>
    TOKEN_RE.test(v) ? undefined : 'must be an RFC 6750 bearer token: 8-512 characters of letters, digits and -._~+/, then at most two =; value hidden',
  AGENT_VERSION: (v) => (VERSION_RE.test(v) ? undefined : 'must be a version like 0.1.0 or 0.1.0-g1a2b3c4'),
  URL_AMD64_XZ: httpsUrlError,
  URL_AMD64_GZ: httpsUrlError,
  URL_ARM64_XZ: httpsUrlError,
  URL_ARM64_GZ: httpsUrlError,
  SHA256_AMD64_XZ: (v) => (SHA256_RE.test(v) ? undefined : 'must be a sha256: 64 lower-case hex characters'),
  SHA256_AMD64_GZ: (v) => INSTALLER_RULES.SHA256_AMD64_XZ(v),
  SHA256_ARM64_XZ: (v) => INSTALLER_RULES.SHA256_AMD64_XZ(v),
  SHA256_ARM64_GZ: (v) => INSTALLER_RULES.SHA256_AMD64_XZ(v),
};

const here = path.dirname(new URL(import.meta.url).pathname);

export function renderInstaller(values: InstallerValues, dir: string = here): string {
  let text = readFileSync(path.join(dir, 'install.sh'), 'utf8');
  const uninstall = readFileSync(path.join(dir, 'uninstall.sh'), 'utf8').replace(/\n$/, '');
  if (/^UNINSTALL$/m.test(uninstall)) throw new Error('uninstall.sh contains the heredoc terminator line UNINSTALL');
  text = text.replace('@@UNINSTALL_SCRIPT@@', () => uninstall);
  for (const k of INSTALLER_KEYS) {
    const v = values[k];
    if (typeof v !== 'string' || v === '') throw new Error(`installer value ${k} is missing`);
    const why = INSTALLER_RULES[k](v);
    if (why !== undefined) {
      const shown = k === 'BOOTSTRAP_TOKEN' ? '' : ` (${JSON.stringify(v.length > 80 ? `${v.slice(0, 79)}…` : v)})`;
      throw new Error(`installer value ${k}${shown} ${why}`);
    }
    text = text.split(`@@${k}@@`).join(v);
  }
  const left = /@@[A-Z0-9_]+@@/.exec(text);
  if (left) throw new Error(`installer placeholder ${left[0]} was not filled`);
  return text;
}
