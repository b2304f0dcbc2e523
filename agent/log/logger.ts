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

export { isSecretKey, redactDeep, registerSecret, scrub, REDACTED } from './secrets.ts';
import { redactDeep, scrub, REDACTED } from './secrets.ts';
import { journalLine, textBody, type LogFormat, type WarnThrottle } from './journal.ts';

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


const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

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
  const paint = (s: string) => {
    if (!color) return s;
    const c = lvl === 'ERROR' || lvl === 'FATAL' ? 31 : lvl === 'WARN' ? 33 : lvl === 'DEBUG' || lvl === 'TRACE' ? 90 : 36;
    return `\u001b[${c}m${s}\u001b[0m`;
  };
  return `${t} ${paint(lvl.padEnd(5))} ${textBody(rec)}\n`;
}

export interface LoggerOptions {
  level?: string;
  pretty?: boolean; // default: stdout is a TTY
  /**
   * What to write (wins over `pretty`): pino JSON, the readable TTY line, or a journal line with
   * its syslog priority prefix (agent/log/journal.ts). Default: `pretty` ? 'pretty' : 'json'.
   */
  format?: LogFormat;
  /** Drop unchanged repeated warnings (the daemon: at most hourly, agent/log/journal.ts). */
  throttle?: WarnThrottle;
  /** Sees every JSON line that is written (scrubbed, before formatting): the startup-log shipper. */
  tap?: (json: string) => void;
  /** Where lines go (default process.stdout). Tests pass a collector. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const format: LogFormat = opts.format ?? ((opts.pretty ?? Boolean(process.stdout.isTTY)) ? 'pretty' : 'json');
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const dest: DestinationStream = {
    write(line: string) {
      if (opts.throttle?.suppress(line)) return;
      opts.tap?.(line);
      if (format === 'json') write(line);
      else if (format === 'pretty') write(prettyLine(line, opts.write === undefined && Boolean(process.stdout.isTTY)));
      else write(journalLine(line, format));
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
