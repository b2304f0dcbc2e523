/**
 * The agent's log lines when systemd's journal reads its stdout (docs/decisions/0182-journal-lines.md).
 *
 * systemd sets JOURNAL_STREAM=<dev>:<inode> for a service whose stdout/stderr is a journal stream
 * (systemd.exec(5)); the stream is ours only when that is the device and inode of our stdout. Then
 * every line starts with its syslog priority, `<N>` (sd-daemon(3): SD_ERR <3>, SD_WARNING <4>,
 * SD_INFO <6>, SD_DEBUG <7>), which journald strips and stores as PRIORITY, so
 * `journalctl -u castai-edge-initd -p warning` shows warnings and errors only. The text after it
 * is the human message and its fields as key=value (journald adds the time and the unit):
 *
 *   <6>[5/6] wireguard: up, handshake 0.4s (0.41s)  step=wireguard durationMs=412 changed=true
 *
 * INITD_LOG_FORMAT=json keeps pino's JSON object after the priority prefix instead.
 */
import { fstatSync } from 'node:fs';

/** What the operator chose (INITD_LOG_FORMAT). */
export const LOG_FORMAT_CHOICES = ['auto', 'json', 'text'] as const;
export type LogFormatChoice = (typeof LOG_FORMAT_CHOICES)[number];

/** What the logger writes. */
export type LogFormat = 'json' | 'pretty' | 'journal' | 'journal-json';

/** pino level → syslog priority (sd-daemon(3)). */
export function syslogPriority(level: number): number {
  return level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7;
}

/** syslog priority → pino level (for reading the journal back). */
export function pinoLevel(priority: number): number {
  return priority <= 2 ? 60 : priority === 3 ? 50 : priority <= 5 ? 40 : priority === 6 ? 30 : 20;
}

/** True when our stdout is the journal stream systemd named in JOURNAL_STREAM. */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** The format for this process: INITD_LOG_FORMAT, then where stdout goes. */
export function resolveLogFormat(
  choice: LogFormatChoice = 'auto',
  where: { journal: boolean; tty: boolean } = { journal: stdoutIsJournal(), tty: Boolean(process.stdout.isTTY) },
): LogFormat {
  if (choice === 'json') return where.journal ? 'journal-json' : 'json';
  if (where.journal) return 'journal';
  if (choice === 'text' || where.tty) return 'pretty';
  return 'json';
}

const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v']);

/** Control characters (newlines in messages, stack traces) never break the one-line format. */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/\r?\n/g, ' \u21b5 ').replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** A value in a text line: bare when simple, JSON otherwise; errors as message + where. */
export function textValue(key: string, v: unknown): string {
  if (v && typeof v === 'object' && (key === 'err' || key === 'error') && 'message' in v) {
    const e = v as { message?: unknown; stack?: unknown };
    const at = typeof e.stack === 'string' ? /\n\s+at (?:.*\()?([^()\s]+:\d+:\d+)\)?/.exec(e.stack)?.[1] : undefined;
    return `${JSON.stringify(oneLine(String(e.message)))}${at ? ` at=${at}` : ''}`;
  }
  if (typeof v === 'string') return /^[^\s"=[{]*$/.test(v) && v !== '' && !/^(true|false|null|-?\d[\d.e+-]*)$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** A record's `msg`: pino's is a string; anything else is shown as JSON, never as [object Object]. */
function msgText(v: unknown): string {
  return typeof v === 'string' ? v : v == null ? '' : JSON.stringify(v);
}

/** `message  key=value key2="two words"`: the record's message and fields on one line. */
export function textBody(rec: Record<string, unknown>): string {
  const extras = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${textValue(k, v)}`)
    .join(' ');
  return `${oneLine(msgText(rec.msg))}${extras ? `  ${extras}` : ''}`;
}

/** One pino JSON line (with its newline) as the journal line for `format`. */
export function journalLine(json: string, format: 'journal' | 'journal-json'): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `<6>${oneLine(json.trimEnd())}\n`;
  }
  const p = syslogPriority(typeof rec.level === 'number' ? rec.level : 30);
  return `<${p}>${format === 'journal-json' ? json.trimEnd() : textBody(rec)}\n`;
}

/** Parses one JSON value starting at s[i]; returns its end index (exclusive) or -1. */
function jsonEnd(s: string, i: number): number {
  const open = s[i];
  if (open === '"') {
    for (let j = i + 1; j < s.length; j++) {
      if (s[j] === '\\') j++;
      else if (s[j] === '"') return j + 1;
    }
    return -1;
  }
  if (open === '{' || open === '[') {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const c = s[j];
      if (c === '"') {
        j = jsonEnd(s, j) - 1;
        if (j < 0) return -1;
      } else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return -1;
  }
  return -1;
}

/** `key=value key2="x y"` → fields, or undefined when the text is not exactly that. */
function parseFields(s: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let i = 0;
  while (i < s.length) {
    const k = /^([A-Za-z_][\w.-]*)=/.exec(s.slice(i));
    if (!k) return undefined;
    i += k[0].length;
    let raw: string;
    if (s[i] === '"' || s[i] === '{' || s[i] === '[') {
      const end = jsonEnd(s, i);
      if (end < 0) return undefined;
      raw = s.slice(i, end);
      i = end;
    } else {
      const end = s.indexOf(' ', i);
      raw = s.slice(i, end < 0 ? s.length : end);
      i = end < 0 ? s.length : end;
    }
    let v: unknown = raw;
    if (/^["{[]/.test(raw) || /^(true|false|null|-?\d[\d.e+-]*)$/.test(raw)) {
      try {
        v = JSON.parse(raw);
      } catch {
        return undefined;
      }
    }
    out[k[1]!] = v;
    if (i < s.length) {
      if (s[i] !== ' ') return undefined;
      i++;
    }
  }
  return out;
}

/** The inverse of `textBody`: the message and the fields of a text line (for readers of the journal). */
export function parseTextBody(text: string): { msg: string; fields: Record<string, unknown> } {
  for (let at = text.indexOf('  '); at >= 0; at = text.indexOf('  ', at + 1)) {
    const fields = parseFields(text.slice(at + 2));
    if (fields) return { msg: text.slice(0, at), fields };
  }
  return { msg: text, fields: {} };
}

/**
 * Repeats an unchanged warning only when it changes, or once an hour. A warning's topic is its
 * `check` (preflight) or `step` field with its message; the same topic with a new message is
 * printed at once. An info line about the same `check` ("ok again") forgets the topic, so a
 * warning that comes back is printed again.
 */
export class WarnThrottle {
  private readonly last = new Map<string, { msg: string; at: number }>();
  suppressed = 0;
  private readonly everyMs: number;
  private readonly now: () => number;
  constructor(everyMs = 3_600_000, now: () => number = Date.now) {
    this.everyMs = everyMs;
    this.now = now;
  }

  /** True when this pino JSON line should not be written. */
  suppress(json: string): boolean {
    const lvl = /^\{"level":(\d+)/.exec(json)?.[1];
    if (lvl !== '40' && !(lvl === '30' && json.includes('"check":'))) return false;
    let rec: { msg?: unknown; check?: unknown; step?: unknown };
    try {
      rec = JSON.parse(json) as typeof rec;
    } catch {
      return false;
    }
    const msg = msgText(rec.msg);
    const topic = typeof rec.check === 'string' ? `check:${rec.check}` : `msg:${msg}`;
    if (lvl === '30') {
      this.last.delete(topic);
      return false;
    }
    const prev = this.last.get(topic);
    const t = this.now();
    if (prev && prev.msg === msg && t - prev.at < this.everyMs) {
      this.suppressed++;
      return true;
    }
    this.last.set(topic, { msg, at: t });
    return false;
  }
}

/** INITD_LOG_FORMAT: auto (default), json or text, any case. */
export function parseLogFormat(raw: string): import('../config/validate.ts').Parsed<LogFormatChoice> {
  const v = raw.trim().toLowerCase();
  if (v === '') return { ok: true, value: 'auto' };
  if ((LOG_FORMAT_CHOICES as readonly string[]).includes(v)) return { ok: true, value: v as LogFormatChoice };
  return {
    ok: false,
    problems: [
      {
        variable: 'INITD_LOG_FORMAT',
        item: raw.trim(),
        message: `${JSON.stringify(raw.trim())} is not a log format (one of ${LOG_FORMAT_CHOICES.join(', ')}; auto: readable lines with a priority in the journal, on a terminal readable lines, elsewhere JSON)`,
      },
    ],
  };
}
