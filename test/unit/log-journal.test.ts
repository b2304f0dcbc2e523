import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  journalLine,
  parseLogFormat,
  parseTextBody,
  pinoLevel,
  resolveLogFormat,
  stdoutIsJournal,
  syslogPriority,
  textBody,
  WarnThrottle,
} from '../../agent/log/journal.ts';
import { createLogger, registerSecret } from '../../agent/log/logger.ts';

/** Issue 18 item 5: a journal a person can read (docs/decisions/0182). */
function collect(format: 'journal' | 'journal-json', throttle?: WarnThrottle) {
  const lines: string[] = [];
  const taps: string[] = [];
  const log = createLogger({ level: 'trace', format, write: (s) => lines.push(s), tap: (s) => taps.push(s), ...(throttle ? { throttle } : {}) });
  return { log, lines, taps };
}

describe('journal lines: syslog priority prefix (sd-daemon(3)) and a readable message', () => {
  it('each level gets its priority: error <3>, warn <4>, info <6>, debug/trace <7>, fatal <2>', () => {
    const { log, lines } = collect('journal');
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.fatal('f');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<7>', '<7>', '<6>', '<4>', '<3>', '<2>']);
    expect([10, 20, 30, 40, 50, 60].map(syslogPriority)).toEqual([7, 7, 6, 4, 3, 2]);
    expect([7, 6, 4, 3, 2].map(pinoLevel)).toEqual([20, 30, 40, 50, 60]);
  });

  it('the human message first, its fields after it as key=value; no JSON, no time (journald has it)', () => {
    const { log, lines } = collect('journal');
    log.info({ step: 'wireguard', durationMs: 412, changed: true, note: 'two words' }, '[5/6] wireguard: up, handshake 0.4s (0.41s)');
    expect(lines).toEqual(['<6>[5/6] wireguard: up, handshake 0.4s (0.41s)  step=wireguard durationMs=412 changed=true note="two words"\n']);
  });

  it('INITD_LOG_FORMAT=json: pino JSON after the priority, with every structured field', () => {
    const { log, lines } = collect('journal-json');
    log.warn({ check: 'swap' }, 'preflight swap: swap is on');
    expect(lines[0]!.startsWith('<4>{"level":40,')).toBe(true);
    expect(JSON.parse(lines[0]!.slice(3))).toMatchObject({ level: 40, check: 'swap', msg: 'preflight swap: swap is on' });
  });

  it('the startup-log tap still sees the JSON line', () => {
    const { log, taps } = collect('journal');
    log.info({ step: 'k0s' }, 'joined');
    expect(JSON.parse(taps[0]!)).toMatchObject({ level: 30, step: 'k0s', msg: 'joined' });
  });

  it('a text body reads back as the message and its fields (what the e2e tests read from journalctl)', () => {
    const rec = { level: 30, time: 1, msg: 'a  message with  double spaces', step: 's', n: 3, b: false, o: { a: [1, 'x y'] }, s: 'x=y', t: 'true', e: '' };
    const back = parseTextBody(textBody(rec));
    expect(back).toEqual({ msg: rec.msg, fields: { step: 's', n: 3, b: false, o: { a: [1, 'x y'] }, s: 'x=y', t: 'true', e: '' } });
    expect(parseTextBody('plain message')).toEqual({ msg: 'plain message', fields: {} });
  });

  it('secrets are redacted in both journal formats, by key and by value', () => {
    registerSecret('JRNL-SECRET-0xdeadbeef');
    for (const f of ['journal', 'journal-json'] as const) {
      const { log, lines } = collect(f);
      log.warn({ edgeToken: 'JRNL-KEYED-12345678', deep: { apiKey: 'JRNL-DEEP-87654321' } }, 'leaked JRNL-SECRET-0xdeadbeef here');
      const out = lines.join('');
      expect(out, f).not.toMatch(/JRNL-SECRET|JRNL-KEYED|JRNL-DEEP/);
      expect(out, f).toContain('[REDACTED]');
    }
  });

  it('a line that is not JSON still gets a priority and stays on one line', () => {
    expect(journalLine('oops\nsecond', 'journal')).toBe('<6>oops ↵ second\n');
  });
});

describe('when stdout is the journal', () => {
  it('JOURNAL_STREAM must name the device and inode of our stdout', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jrnl-'));
    const fd = openSync(path.join(dir, 'out'), 'w');
    try {
      const st = fstatSync(fd);
      expect(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(true);
      expect(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }, fd)).toBe(false); // inherited by a child whose stdout is elsewhere
      expect(stdoutIsJournal({}, fd)).toBe(false);
      expect(stdoutIsJournal({ JOURNAL_STREAM: 'garbage' }, fd)).toBe(false);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('auto: journal lines in the journal, readable lines on a terminal, JSON elsewhere; json and text on request', () => {
    expect(resolveLogFormat('auto', { journal: true, tty: false })).toBe('journal');
    expect(resolveLogFormat('auto', { journal: false, tty: true })).toBe('pretty');
    expect(resolveLogFormat('auto', { journal: false, tty: false })).toBe('json');
    expect(resolveLogFormat('json', { journal: true, tty: false })).toBe('journal-json');
    expect(resolveLogFormat('json', { journal: false, tty: true })).toBe('json');
    expect(resolveLogFormat('text', { journal: false, tty: false })).toBe('pretty');
  });

  it('INITD_LOG_FORMAT is validated, naming the variable and the choices', () => {
    expect(parseLogFormat('')).toEqual({ ok: true, value: 'auto' });
    expect(parseLogFormat(' JSON ')).toEqual({ ok: true, value: 'json' });
    const bad = parseLogFormat('yaml');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems[0]).toMatchObject({ variable: 'INITD_LOG_FORMAT', item: 'yaml' });
  });
});

describe('an unchanged warning is repeated only when it changes, or at most hourly', () => {
  it('same warning on every 60 s pass: printed once an hour; a changed one at once; back after "ok again"', () => {
    let t = 0;
    const th = new WarnThrottle(3_600_000, () => t);
    const { log, lines } = collect('journal', th);
    const pass = (msg: string) => log.warn({ check: 'swap', remediation: 'swapoff -a' }, msg);
    for (let i = 0; i < 60; i++, t += 60_000) pass('preflight swap: swap is on (2048 MiB)');
    expect(lines.length).toBe(1);
    pass('preflight swap: swap is on (2048 MiB)'); // 60 min later
    expect(lines.length).toBe(2);
    pass('preflight swap: swap is on (4096 MiB)'); // changed
    expect(lines.length).toBe(3);
    log.info({ check: 'swap' }, 'preflight swap: ok again');
    pass('preflight swap: swap is on (4096 MiB)'); // back
    expect(lines.length).toBe(5);
    log.warn('another warning');
    log.warn('another warning');
    expect(lines.length).toBe(6);
    log.error('errors are never throttled');
    log.error('errors are never throttled');
    expect(lines.length).toBe(8);
    expect(th.suppressed).toBe(60);
  });
});
