import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { decodeJoinToken, unwrapJoinToken } from '../../agent/k0s/token.ts';
import { parseYamlSubset } from '../../agent/k0s/yaml-subset.ts';
import { scrub } from '../../agent/log/logger.ts';
import { encodeJoinToken, encodeRawKubeconfig, joinTokenKubeconfig, newBootstrapToken } from '../control-plane/k0s-token.ts';

const FIX = path.join(import.meta.dirname, '../fixtures/k0s');
const fixture = (name: string) => readFileSync(path.join(FIX, name), 'utf8');
const caPem = fixture('ca.pem');
// What `openssl x509 -noout -fingerprint -sha256` prints, without the colons (node:crypto: no apt tool in the unit lane).
const caSha256 = new X509Certificate(caPem).fingerprint256.replace(/:/g, '').toLowerCase();

function decodeError(token: string): AgentError {
  try {
    decodeJoinToken(token);
  } catch (e) {
    expect(e).toBeInstanceOf(AgentError);
    return e as AgentError;
  }
  throw new Error('expected decodeJoinToken to throw');
}

describe('k0s join token decoding', () => {
  it('decodes the worker-token fixture (k0s token create --role=worker layout)', () => {
    const t = decodeJoinToken(fixture('worker-token.txt'));
    expect(t).toEqual({
      server: 'https://cp.example.test:8443',
      host: 'cp.example.test',
      port: 8443,
      caPem,
      caSha256,
      user: 'kubelet-bootstrap',
      bootstrapToken: 'abcdef.0123456789abcdef',
      tokenId: 'abcdef',
    });
  });

  it('unwraps to exactly the kubeconfig fixture', () => {
    expect(unwrapJoinToken(fixture('worker-token.txt'))).toBe(fixture('worker-token.kubeconfig.yaml'));
  });

  it('follows current-context in a kubectl-style kubeconfig (indented lists, quotes, comments, other clusters)', () => {
    const t = decodeJoinToken(fixture('worker-token-kubectl-style.txt'));
    expect(t.server).toBe('https://10.0.0.1:8443');
    expect(t.host).toBe('10.0.0.1');
    expect(t.bootstrapToken).toBe('0a1b2c.0123456789abcdef');
    expect(t.caSha256).toBe(caSha256);
  });

  it('handles an IPv6 server address', () => {
    const t = decodeJoinToken(fixture('worker-token-ipv6.txt'));
    expect(t.host).toBe('fd00::10');
    expect(t.port).toBe(8443);
  });

  it('defaults the port to 443 when the server URL has none', () => {
    const t = decodeJoinToken(encodeJoinToken({ server: 'https://cp.example.test', caPem, token: 'abcdef.0123456789abcdef' }));
    expect(t.port).toBe(443);
  });

  it('refuses a controller token, saying it is not a worker token', () => {
    const e = decodeError(fixture('controller-token.txt'));
    expect(e.message).toContain('user is "controller-bootstrap", expected "kubelet-bootstrap"');
    expect(e.remediation).toContain('worker token');
  });

  it('gives a clear error for base64, gzip and YAML problems', () => {
    expect(decodeError('').message).toContain('the token is empty');
    expect(decodeError('not base64!!').message).toContain('not base64');
    expect(decodeError(Buffer.from('plain text kubeconfig').toString('base64')).message).toContain('not gzip data');
    const gz = gzipSync(Buffer.from(joinTokenKubeconfig({ server: 'https://h:8443', caPem, token: 'abcdef.0123456789abcdef' })));
    expect(decodeError(gz.subarray(0, gz.length - 20).toString('base64')).message).toContain('gzip payload is corrupt or truncated');
    expect(decodeError(encodeRawKubeconfig('clusters:\n  - a: b\n   c: d\n')).message).toMatch(/not valid YAML: line \d+/);
    expect(decodeError(encodeRawKubeconfig('key: |\n  block\n')).message).toContain('block scalars');
  });

  it('names the missing kubeconfig field', () => {
    const noServer = joinTokenKubeconfig({ server: 'https://h:8443', caPem, token: 'abcdef.0123456789abcdef' }).replace(/^ +server: .*\n/m, '');
    expect(decodeError(encodeRawKubeconfig(noServer)).message).toContain('clusters[].cluster.server');
    const noCa = joinTokenKubeconfig({ server: 'https://h:8443', caPem, token: 'abcdef.0123456789abcdef' }).replace(/^ +certificate-authority-data: .*\n/m, '');
    expect(decodeError(encodeRawKubeconfig(noCa)).message).toContain('certificate-authority-data');
  });

  it('refuses http servers, non-PEM CA data and malformed bootstrap tokens', () => {
    expect(decodeError(encodeJoinToken({ server: 'http://h:8443', caPem, token: 'abcdef.0123456789abcdef' })).message).toContain('must be https');
    expect(decodeError(encodeJoinToken({ server: 'https://h:8443', caPem: 'not a cert', token: 'abcdef.0123456789abcdef' })).message).toContain('does not hold a PEM certificate');
    expect(decodeError(encodeJoinToken({ server: 'https://h:8443', caPem, token: 'ABCDEF.short' })).message).toContain('not a Kubernetes bootstrap token');
  });

  it('registers the bootstrap token as a secret (scrubbed from log lines)', () => {
    const token = newBootstrapToken();
    decodeJoinToken(encodeJoinToken({ server: 'https://h:8443', caPem, token }));
    expect(scrub(`joining with ${token}`)).toBe('joining with [REDACTED]');
  });

  it('round-trips any server/token the encoder produces (property)', () => {
    fc.assert(
      fc.property(
        fc.domain(),
        fc.integer({ min: 1, max: 65535 }),
        fc.stringMatching(/^[a-z0-9]{6}$/),
        fc.stringMatching(/^[a-z0-9]{16}$/),
        (host, port, id, sec) => {
          const t = decodeJoinToken(encodeJoinToken({ server: `https://${host}:${port}`, caPem, token: `${id}.${sec}` }));
          expect(t.host).toBe(new URL(`https://${host}`).hostname);
          expect(t.port).toBe(port);
          expect(t.bootstrapToken).toBe(`${id}.${sec}`);
          expect(t.tokenId).toBe(id);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('YAML subset parser', () => {
  it('parses nested maps, same-indent and indented sequences, scalars', () => {
    expect(
      parseYamlSubset(`a: 1\nlist:\n- x\n- 'y z'\nnested:\n  - k: v\n    m:\n      n: "q\\"r"\nempty: {}\nnone: []\nflag: true\nnothing: ~\nflow: [a, b]\n`),
    ).toEqual({ a: '1', list: ['x', 'y z'], nested: [{ k: 'v', m: { n: 'q"r' } }], empty: {}, none: [], flag: true, nothing: null, flow: ['a', 'b'] });
  });

  it('keeps # inside quotes and URLs with colons', () => {
    expect(parseYamlSubset(`u: https://h:8443/p # comment\nq: "a # b"\n`)).toEqual({ u: 'https://h:8443/p', q: 'a # b' });
  });

  it('refuses duplicate keys, tabs, anchors and multiple documents with line numbers', () => {
    expect(() => parseYamlSubset('a: 1\na: 2\n')).toThrow('line 2: duplicate key "a"');
    expect(() => parseYamlSubset('a:\n\tb: 1\n')).toThrow('line 2: tab used for indentation');
    expect(() => parseYamlSubset('a: &x 1\n')).toThrow('anchors');
    expect(() => parseYamlSubset('a: 1\n---\nb: 2\n')).toThrow('multiple YAML documents');
    expect(() => parseYamlSubset('')).toThrow('empty');
  });
});
