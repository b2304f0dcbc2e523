import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Logging: pino JSON lines on stdout (journald captures them), or one readable
 * line per record when stdout is a TTY. pino transports run in worker threads
 * that cannot load inside a Node SEA, so the pretty format is done in-process
 * by `prettyLine` on the same synchronous destination.
 *
 * Secrets are removed twice:
 *  1. by key: any field named like a credential is replaced by "[REDACTED]";
 *  2. by value: every secret the agent learns (API key, bootstrap/edge/join
 *     token, WireGuard private key) is registered with `registerSecret`, and any
 *     occurrence of it in a finished line (messages, errors, stack traces) is
 *     replaced before the line is written.
 */

export const REDACTED = '[REDACTED]';

const SECRET_KEYS = [
  'apiKey', 'api_key', 'API_KEY', 'CASTAI_API_TOKEN', 'INITD_API_KEY', 'INITD_BOOTSTRAP_TOKEN', 'BOOTSTRAP_TOKEN',
  'token', 'edgeToken', 'joinToken', 'bootstrapToken', 'privateKey', 'private_key', 'password', 'secret',
  'authorization', 'Authorization', 'x-api-key', 'X-API-Key',
];
const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'headers.authorization', 'req.headers.authorization', 'req.headers["x-api-key"]',
];

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

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);

/** One readable line from a pino JSON record: `12:00:01 INFO  [4/6] wireguard: up key=value`. */
export function prettyLine(json: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 19) : '';
  const lvl = LEVELS[rec.level as number] ?? String(rec.level);
  const extras = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${prettyValue(k, v)}`)
    .join(' ');
  const paint = (s: string) => {
    if (!color) return s;
    const c = lvl === 'ERROR' || lvl === 'FATAL' ? 31 : lvl === 'WARN' ? 33 : lvl === 'DEBUG' || lvl === 'TRACE' ? 90 : 36;
    return `\u001b[${c}m${s}\u001b[0m`;
  };
  return `${t} ${paint(lvl.padEnd(5))} ${oneLine(String(rec.msg ?? ''))}${extras ? `  ${extras}` : ''}\n`;
}

/** Control characters (newlines in messages, stack traces) never break the one-line format. */
function oneLine(s: string): string {
  return s.replace(/\r?\n/g, ' \u21b5 ').replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** A value in the pretty line: bare when simple, quoted when it has spaces; errors as message + where. */
function prettyValue(key: string, v: unknown): string {
  if (v && typeof v === 'object' && (key === 'err' || key === 'error') && 'message' in v) {
    const e = v as { message?: unknown; stack?: unknown };
    const at = typeof e.stack === 'string' ? /\n\s+at (?:.*\()?([^()\s]+:\d+:\d+)\)?/.exec(e.stack)?.[1] : undefined;
    return `${JSON.stringify(oneLine(String(e.message)))}${at ? ` at=${at}` : ''}`;
  }
  if (typeof v === 'string') return /^[^\s"=]*$/.test(v) && v !== '' ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

export interface LoggerOptions {
  level?: string;
  pretty?: boolean; // default: stdout is a TTY
  /** Where lines go (default process.stdout). Tests pass a collector. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const pretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const dest: DestinationStream = {
    write(line: string) {
      write(pretty ? prettyLine(line, opts.write === undefined && Boolean(process.stdout.isTTY)) : line);
    },
  };
  return pino(
    {
      level: opts.level ?? process.env.INITD_LOG_LEVEL ?? 'info',
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: scrub },
      formatters: {
        level: (_label, number) => ({ level: number }),
        log: (obj) => redactDeep(obj) as Record<string, unknown>,
        bindings: (b) => redactDeep(b) as Record<string, unknown>,
      },
    },
    dest,
  );
}

let rootLogger: Logger | undefined;
export function log(): Logger {
  rootLogger ??= createLogger();
  return rootLogger;
}
export function setLogger(l: Logger): void {
  rootLogger = l;
}
