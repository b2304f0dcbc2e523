import { describe, expect, it } from 'vitest';
import { REDACTED, createLogger, isSecretKey, prettyLine, redactDeep, registerSecret, scrub } from '../../agent/log/logger.ts';

function collect(pretty: boolean, level = 'trace') {
  const lines: string[] = [];
  const log = createLogger({ pretty, level, write: (s) => lines.push(s) });
  return { log, lines, text: () => lines.join('') };
}

describe('logger: JSON lines', () => {
  it('writes one JSON object per line with numeric level, time and msg, no pid/hostname', () => {
    const { log, lines } = collect(false);
    log.info({ step: 'storage', disks: 2 }, 'mounted');
    log.warn('plain');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l.endsWith('\n') && !l.slice(0, -1).includes('\n')).toBe(true);
    const a = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(a).toMatchObject({ level: 30, msg: 'mounted', step: 'storage', disks: 2 });
    expect(typeof a.time).toBe('number');
    expect(a).not.toHaveProperty('pid');
    expect(a).not.toHaveProperty('hostname');
    expect(JSON.parse(lines[1]!)).toMatchObject({ level: 40, msg: 'plain' });
  });

  it('honours the level', () => {
    const { log, lines } = collect(false, 'warn');
    log.info('hidden');
    log.error('shown');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
  });

  it('serialises errors with type, message and stack', () => {
    const { log, lines } = collect(false);
    log.error({ err: new Error('disk busy') }, 'storage failed');
    const rec = JSON.parse(lines[0]!) as { err: { type: string; message: string; stack: string } };
    expect(rec.err).toMatchObject({ type: 'Error', message: 'disk busy' });
    expect(rec.err.stack).toContain('logger.test.ts');
  });
});

describe('logger: pretty one-line format', () => {
  it('prints time, padded level, message and key=value extras on ONE line', () => {
    const { log, lines } = collect(true);
    log.info({ step: 'wireguard', peers: 2, note: 'two words' }, 'up');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}up {2}step=wireguard peers=2 note="two words"\n$/);
  });

  it('keeps multi-line messages and errors on one line', () => {
    const { log, lines } = collect(true);
    log.error({ err: new Error('line one\nline two') }, 'failed:\nsee above');
    expect(lines).toHaveLength(1);
    const l = lines[0]!;
    expect(l.slice(0, -1)).not.toMatch(/[\n\r]/);
    expect(l).toMatch(/ERROR failed: ↵ see above {2}err="line one ↵ line two" at=\S+logger\.test\.ts:\d+:\d+\n$/);
  });

  it('prettyLine passes through non-JSON untouched and names every level', () => {
    expect(prettyLine('not json')).toBe('not json');
    const lv = (n: number) => prettyLine(JSON.stringify({ level: n, time: 0, msg: 'm' })).split(' ')[1];
    expect([10, 20, 30, 40, 50, 60].map(lv)).toEqual(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL']);
  });

  it('colours the level only when asked', () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: 'x' });
    expect(prettyLine(line, true)).toContain('\u001b[31mERROR');
    expect(prettyLine(line, false)).not.toContain('\u001b[');
  });
});

describe('logger: secrets never reach the output', () => {
  // Distinct, greppable secret values.
  const S = {
    apiKey: 'AKEY-1a2b3c4d5e6f',
    token: 'TOKEN-0f9e8d7c6b5a',
    privateKey: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=',
    authorization: 'Bearer AUTHZ-77665544',
    deep: 'DEEP-TOKEN-31415926',
    header: 'HDR-KEY-27182818',
    child: 'CHILD-TOKEN-1618033',
    arr: 'ARRAY-TOKEN-1414213',
    psk: 'PSK-SECRET-5772156',
  };

  it.each([false, true])('redacts by key at any depth (pretty=%s)', (pretty) => {
    const { log, text } = collect(pretty);
    log.info(
      {
        apiKey: S.apiKey,
        token: S.token,
        privateKey: S.privateKey,
        authorization: S.authorization,
        register: { response: { edge: { edgeToken: S.deep } } },
        req: { headers: { 'X-API-Key': S.header } },
        peers: [{ name: 'p', presharedKey: S.psk, wg_private_key: S.arr }],
        publicKey: 'PUBLIC-visible-1',
      },
      'registered',
    );
    log.child({ joinToken: S.child, step: 'k0s' }).info('joined');
    const out = text();
    for (const v of Object.values(S)) expect(out).not.toContain(v);
    expect(out).toContain(REDACTED);
    expect(out).toContain('PUBLIC-visible-1'); // only secrets are removed
    expect(out).toContain('registered');
    expect(out).toContain('step');
    if (!pretty) {
      const [first] = out.split('\n');
      const rec = JSON.parse(first!) as {
        register: { response: { edge: { edgeToken: string } } };
        req: { headers: Record<string, string> };
        peers: [{ wg_private_key: string }];
      };
      expect(rec.register.response.edge.edgeToken).toBe(REDACTED);
      expect(rec.req.headers['X-API-Key']).toBe(REDACTED);
      expect(rec.peers[0].wg_private_key).toBe(REDACTED);
    }
  });

  it.each([false, true])('scrubs registered secret VALUES from messages, err.message, err.stack and nested objects (pretty=%s)', (pretty) => {
    const secret = `VALUE-SECRET-${pretty ? 'p' : 'j'}-8f14e45fceea167a`;
    registerSecret(secret);
    const { log, text } = collect(pretty);
    const err = new Error(`request failed for key ${secret}`);
    log.error({ err, where: { a: { b: { c: [`x${secret}y`] } } }, innocent: 'field' }, `cannot register with ${secret}`);
    log.info(`plain ${secret}`);
    log.child({ ctx: secret }).warn('child');
    const out = text();
    expect(err.stack).toContain(secret); // the stack really carried it...
    expect(out).not.toContain(secret); // ...and it never reached the output
    expect(out.split(REDACTED).length - 1).toBeGreaterThanOrEqual(pretty ? 4 : 5);
    expect(out).toContain('innocent');
  });

  it('scrubs secrets that JSON escapes (quotes, backslashes, newlines)', () => {
    const tricky = 'tr"ic\\ky\nsecret-42';
    registerSecret(tricky);
    const { log, text } = collect(false);
    log.info({ v: tricky }, `msg ${tricky}`);
    const out = text();
    expect(out).not.toContain(JSON.stringify(tricky).slice(1, -1));
    expect(out).not.toContain('secret-42');
    expect(JSON.parse(out)).toMatchObject({ v: REDACTED, msg: `msg ${REDACTED}` });
  });

  it('a secret containing another registered secret is removed entirely', () => {
    registerSecret('SHORTSECRET');
    registerSecret('SHORTSECRET-AND-MORE');
    expect(scrub('x SHORTSECRET-AND-MORE y')).toBe(`x ${REDACTED} y`);
  });

  it('ignores values too short to be secrets (would shred ordinary words)', () => {
    registerSecret('abc');
    registerSecret(undefined);
    registerSecret('');
    expect(scrub('abc def')).toBe('abc def');
  });

  it('isSecretKey / redactDeep', () => {
    for (const k of [
      'apiKey',
      'API_KEY',
      'x-api-key',
      'token',
      'edgeToken',
      'BOOTSTRAP_TOKEN',
      'privateKey',
      'private_key',
      'password',
      'Authorization',
      'clientSecret',
      'PresharedKey',
    ])
      expect(isSecretKey(k), k).toBe(true);
    for (const k of ['publicKey', 'tokenFile', 'name', 'endpoint', 'keys']) expect(isSecretKey(k), k).toBe(false);
    const cyc: Record<string, unknown> = { token: 'zzzzzzzz' };
    cyc.self = cyc;
    expect(redactDeep(cyc)).toEqual({ token: REDACTED, self: '[Circular]' });
    const e = new Error('x');
    expect((redactDeep({ err: e }) as { err: Error }).err).toBe(e); // errors are left to the serializer
  });
});
