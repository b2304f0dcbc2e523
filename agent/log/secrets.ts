/**
 * Secret bookkeeping shared by the logger and by every error printer. No pino
 * here: commands that only validate or print (`config`, `version`) import this
 * module without loading the logger.
 */
export const REDACTED = '[REDACTED]';

/**
 * Key-based redaction at ANY depth (pino's `redact` paths only reach the
 * levels listed): a key is secret when, lower-cased and stripped of `-`/`_`,
 * it ends with one of these words (`edgeToken`, `WG_PRIVATE_KEY`, `X-API-Key`).
 */
const SECRET_KEY_SUFFIXES = ['token', 'apikey', 'privatekey', 'presharedkey', 'password', 'passwd', 'secret', 'authorization', 'cookie', 'credentials'];

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_KEY_SUFFIXES.some((w) => k.endsWith(w));
}

/**
 * A copy of `value` with every secret-named key replaced by "[REDACTED]", at
 * any depth, in objects and arrays. Errors and other class instances are kept
 * as they are (pino's serializers format them; value scrubbing covers them).
 */
export function redactDeep(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (Array.isArray(value)) {
    seen.add(value);
    return value.map((v) => redactDeep(v, seen));
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  seen.add(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactDeep(v, seen);
  return out;
}

/** Each registered secret, plus the forms it takes inside a JSON line (escaped quotes, backslashes, newlines). */
const secrets = new Set<string>();

/** Register a secret value (6+ characters); from now on it never appears in any log line. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 6) return;
  secrets.add(value);
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) secrets.add(escaped);
}

/** Replace every registered secret in `line` by "[REDACTED]" (longest first, so a secret containing another is fully removed). */
export function scrub(line: string): string {
  let out = line;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}
