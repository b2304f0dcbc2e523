/**
 * Fuzz targets: k0s join tokens (agent/k0s/token.ts) and the YAML subset
 * parser under them: random bytes, random base64, gzip of random YAML,
 * gzip of mutated real kubeconfigs, and text-mutated real tokens.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { AgentError } from '../../../agent/errors.ts';
import { decodeJoinToken } from '../../../agent/k0s/token.ts';
import { parseYamlSubset, YamlSubsetError } from '../../../agent/k0s/yaml-subset.ts';
import { read } from '../fixtures.ts';
import { assert, isInt, parseWith, target, type FuzzTarget } from '../harness.ts';
import { lineSoup, mutatedText, noise, tokensOf } from '../mutate.ts';

const tokens = ['worker-token.txt', 'worker-token-ipv6.txt', 'worker-token-kubectl-style.txt', 'controller-token.txt'].map((f) => read(`k0s/${f}`));
const kubeconfigs = tokens.map((t) => gzipUnwrap(t));

function gzipUnwrap(t: string): string {
  // The fixtures are base64(gzip(kubeconfig)); decode them with node, not with the code under test.
  return (require_gunzip())(Buffer.from(t.trim(), 'base64')).toString('utf8');
}
function require_gunzip(): (b: Buffer) => Buffer {
  return process.getBuiltinModule('node:zlib').gunzipSync;
}

const wrap = (yaml: string) => gzipSync(Buffer.from(yaml, 'utf8'), { level: 1 }).toString('base64');

const yamlTokens = [
  ...tokensOf(kubeconfigs),
  '-',
  '- ',
  ':',
  ': ',
  '  ',
  '    ',
  '"',
  "'",
  '#',
  '{}',
  '[]',
  '[a, b]',
  '|',
  '>',
  '&a',
  '*a',
  '!!str',
  '---',
  '__proto__:',
  'constructor:',
  'null',
  '~',
];
const yamlInputs = fc.oneof(
  { weight: 6, arbitrary: mutatedText(kubeconfigs) },
  { weight: 2, arbitrary: lineSoup(yamlTokens, [' ', '', ': ', '  ']) },
  { weight: 1, arbitrary: noise },
);

const tokenInputs = fc.oneof(
  { weight: 5, arbitrary: yamlInputs.map(wrap) }, // gzip of mutated/random YAML: reaches the kubeconfig checks
  { weight: 3, arbitrary: mutatedText(tokens) }, // mutated base64 of real tokens
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('base64')) }, // random base64
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => gzipSync(Buffer.from(b)).toString('base64')) }, // gzip of random bytes
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => {
      const z = gzipSync(Buffer.from(b));
      return z.subarray(0, Math.max(2, z.length - 5)).toString('base64');
    }),
  }, // truncated gzip
  { weight: 1, arbitrary: noise },
);

/** Rejections are AgentErrors "k0s join token: …" that name the kubeconfig field or the encoding layer. */
const names = (e: Error) =>
  e instanceof AgentError && e.message.startsWith('k0s join token: ') && /token|base64|gzip|kubeconfig|YAML|field|user|clusters|users|contexts|server|certificate/.test(e.message) && e.remediation ? 'k0s.joinToken' : false;

export const k0sTargets: FuzzTarget[] = [
  target({
    name: 'k0s.join-token',
    parser: 'decodeJoinToken (k0s.joinToken from the control plane)',
    arbitrary: tokenInputs,
    check: (t) =>
      parseWith(() => decodeJoinToken(t), (k) => {
        assert(k.user === 'kubelet-bootstrap', 'token: accepted a non-worker user');
        assert(/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(k.bootstrapToken) && k.tokenId === k.bootstrapToken.slice(0, 6), 'token: bad bootstrap token');
        assert(k.server.startsWith('https:') && isInt(k.port, 1) && k.port <= 65535 && /^[0-9a-f]{64}$/.test(k.caSha256), 'token: server/port/CA');
      }, [AgentError], names, 'join-token'),
  }),
  target({
    name: 'k0s.yaml-subset',
    parser: 'parseYamlSubset (the kubeconfig inside a join token)',
    arbitrary: yamlInputs,
    check: (y) =>
      parseWith(() => parseYamlSubset(y), (v) => {
        const ok = (x: unknown): boolean =>
          x === null ||
          typeof x === 'string' ||
          typeof x === 'boolean' ||
          (Array.isArray(x) ? x.every(ok) : typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype && Object.values(x).every(ok));
        assert(ok(v), 'yaml: value outside the subset (or a changed prototype)');
      }, [YamlSubsetError], (e) => (e.message.length > 5 ? 'yaml' : false), 'yaml'),
  }),
];
