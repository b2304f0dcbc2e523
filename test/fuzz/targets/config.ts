/**
 * Fuzz targets: the configuration (agent/config/*). The validators get
 * mutations of valid values; the env-file target runs whole dotenv files
 * through `loadConfig` on a FakeHost and checks that nothing is ever
 * written or executed, that every problem names a known variable, and that
 * the bootstrap token never appears in a problem or warning.
 * (Semantic round-trip properties live in test/unit/config-properties.test.ts.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parse as dotenvParse } from 'dotenv';
import { ConfigError } from '../../../agent/errors.ts';
import { FakeHost } from '../../../agent/host/fake.ts';
import { KNOWN_NAMES } from '../../../agent/config/known.ts';
import { loadConfig } from '../../../agent/config/load.ts';
import {
  parseApiUrl,
  parseGpuConfig,
  parseId,
  parseLabels,
  parseLogLevel,
  parseNvmeDevices,
  parseProxy,
  parseStateDir,
  parseTaints,
  parseToken,
  type Parsed,
} from '../../../agent/config/validate.ts';
import { read } from '../fixtures.ts';
import { assert, fail, isStr, target, type FuzzTarget, type Outcome } from '../harness.ts';
import { mutatedJsonText, mutatedText, NASTY, noise } from '../mutate.ts';
import { LABEL_VALUE, QUALIFIED_NAME } from '../../helpers/kube-names.ts';

const VALID = {
  labels: [
    'env=prod,example.com/rack=r12,node.kubernetes.io/instance-type=gpu-h100',
    'a=,b=c',
    'kubernetes.io/arch=amd64',
    'node-role.kubernetes.io/worker=',
    'Env=prod!,env:prod,dup=a,dup=b',
  ],
  taints: [
    'dedicated=gpu:NoSchedule,spot:NoExecute',
    'a=b:PreferNoSchedule',
    'dedicated=gpu:noschedule,spot:NoExecut,gpu=true',
    'example.com/x:NoSchedule,example.com/x:NoExecute',
  ],
  gpu: [
    '{"mig":{"partitionSizes":["1g.5gb"]}}',
    '{"mig":{"partitionSizes":["3g.40gb","2g.20gb","1g.10gb+me"]}}',
    '{"mig":{"partitionSize":["1g.5gb"]}}',
    '{"mig":{"partitionSizes":[]}}',
    "{'mig':{}}",
  ],
  proxy: ['http://proxy.example.internal:3128', 'http://user:p%40ss@proxy:3128', 'https://[fd00::1]:8443', 'proxy.example.internal:3128', 'socks5://p:1080'],
  noProxy: ['localhost,127.0.0.1,.svc,.cluster.local,10.0.0.0/8,192.168.0.0/16', '*', '*.example.com,[fd00::1]:443,fd00::/8', 'http://example.com,10.0.0.0/33'],
  nvme: [
    '/dev/nvme0n1 /dev/nvme1n1',
    '/dev/disk/by-id/nvme-SAMSUNG_S64HNE0T500001',
    '/dev/nvme0n1p1 /dev/nvme1n1 /dev/nvme1n1 nvme2n1',
    '/dev/nvme0n1,/dev/nvme1n1',
    '/dev/mapper/x /dev/nvme0 /dev/../dev/sda',
  ],
  apiUrl: ['https://api.cast.ai', 'https://api.example.test:8443/base/', 'http://api.cast.ai', 'https://u:p@x/?q#f', 'api.cast.ai'],
  id: ['3f1c2b9e-6a41-4d2f-9a51-0c7d5e8f1a22', 'my org!', '-x', 'a'.repeat(129)],
  token: ['FAKE-bootstrap-token-not-real-0000', '"quoted"', 'has space'],
  stateDir: ['/var/lib/castai-edge-initd', '/', 'relative/dir', '/a//b/../c/'],
  logLevel: ['info', 'DEBUG', 'verbose', 'warning', 'x'],
};

/** Mutations of valid and known-bad values, plus nasty and random strings. */
const values = (seeds: string[]) =>
  fc.oneof(
    { weight: 6, arbitrary: mutatedText(seeds, 4) },
    { weight: 1, arbitrary: fc.constantFrom(...NASTY) },
    { weight: 1, arbitrary: noise },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...seeds), { maxLength: 4 }).map((v) => v.join(',')) },
  );

/** A validator result: a rejection whose problems all name `variable` (or a field path under it). */
function judged<T>(r: Parsed<T>, variables: readonly string[], onValue: (v: T) => void): Outcome {
  if (r.ok) {
    onValue(r.value);
    return 'accepted';
  }
  assert(r.problems.length > 0, 'rejected without problems');
  for (const p of r.problems) {
    assert(
      variables.some((v) => p.variable === v || p.variable.startsWith(`${v}.`) || p.variable.startsWith(`${v}[`)),
      `problem names ${JSON.stringify(p.variable)}, expected one of ${variables.join(', ')}`,
    );
    assert(isStr(p.item) && isStr(p.message) && p.message.length > 10, `problem without a useful message: ${JSON.stringify(p)}`);
  }
  return 'rejected';
}

/** Variables a loadConfig problem may name. */
const CONFIG_VARIABLES = [...KNOWN_NAMES, 'http_proxy', 'https_proxy', 'no_proxy', '--env-file'];

const ENV_FILE = '/etc/castai-edge-initd/extra.env';

/** The text of agent/config/*.ts: examples and fixed wording that messages quote. */
const CONFIG_SOURCE = (() => {
  const dir = path.resolve(import.meta.dirname, '../../../agent/config');
  return readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8')).join('\n');
})();

/** One dotenv line from a known (or misspelt) name and a value for it. */
const envLine = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...KNOWN_NAMES, 'http_proxy', 'no_proxy') },
      {
        weight: 1,
        arbitrary: fc.constantFrom('INITD_KUBERNETES_LABEL', 'initd_log_level', 'NVME_DEVICE', 'EXPORT', 'export API_URL', ' API_URL ', 'A.B-C', ''),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
    ),
    fc.constantFrom('=', '=', '=', ': ', ' = ', '=\t'),
    fc.oneof(
      values([
        ...VALID.labels,
        ...VALID.taints,
        ...VALID.gpu,
        ...VALID.proxy,
        ...VALID.noProxy,
        ...VALID.nvme,
        ...VALID.apiUrl,
        ...VALID.id,
        ...VALID.stateDir,
      ]),
      fc.constantFrom('"a b"', "'x'", '"unterminated', '`tick`', '"multi\nline"', '# comment', '"${API_URL}"', '\\n'),
    ),
  )
  .map(([k, op, v]) => `${k}${op}${v}`);

const envFileText = fc.oneof(
  { weight: 5, arbitrary: mutatedText([read('example.env'), read('bad.env')], 6) },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.oneof(
          { weight: 8, arbitrary: envLine },
          { weight: 1, arbitrary: fc.constantFrom('', '# c', '   ', 'garbage line', 'export', '=x', '\uFEFFAPI_URL=x') },
        ),
        { maxLength: 20 },
      )
      .map((ls) => ls.join('\n')),
  },
  { weight: 1, arbitrary: noise },
);

interface EnvCase {
  text: string;
  mode: number;
  viaFlag: boolean;
  env: Record<string, string>;
  caFile?: string;
}

const envCase: fc.Arbitrary<EnvCase> = fc.record(
  {
    text: envFileText,
    mode: fc.constantFrom(0o600, 0o644, 0o640),
    viaFlag: fc.boolean(),
    env: fc.dictionary(
      fc.constantFrom('API_URL', 'ORG_ID', 'INITD_STATE_DIR', 'HTTPS_PROXY', 'https_proxy', 'INITD_KUBERNETS_LABELS', 'NVME_DEVICES', 'PATH'),
      values([...VALID.apiUrl, ...VALID.proxy, ...VALID.nvme]),
      { maxKeys: 3 },
    ),
    caFile: fc.constantFrom('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'not a pem'),
  },
  { requiredKeys: ['text', 'mode', 'viaFlag', 'env'] },
);

/** What loadConfig shows the operator (problems, items, warnings) for a case. */
async function shownFor(c: EnvCase): Promise<string[]> {
  const host = new FakeHost();
  host.setFile(ENV_FILE, c.text, c.mode);
  if (c.caFile !== undefined) host.setFile('/etc/ssl/certs/corp-ca.pem', c.caFile);
  try {
    return (
      await loadConfig(host, { env: c.viaFlag ? { ...c.env } : { ...c.env, INITD_EXTRA_ENV_FILE: ENV_FILE }, ...(c.viaFlag ? { envFile: ENV_FILE } : {}) })
    ).warnings;
  } catch (e) {
    return e instanceof ConfigError ? [e.message, ...e.problems.map((p) => p.item), ...((e as { warnings?: string[] }).warnings ?? [])] : [];
  }
}

async function checkEnvFile(c: EnvCase): Promise<Outcome> {
  const host = new FakeHost();
  host.setFile(ENV_FILE, c.text, c.mode);
  if (c.caFile !== undefined) host.setFile('/etc/ssl/certs/corp-ca.pem', c.caFile);
  const env = c.viaFlag ? { ...c.env } : { ...c.env, INITD_EXTRA_ENV_FILE: ENV_FILE };
  // The token the file sets (as dotenv reads it), to check it never leaks into a message.
  const token = (dotenvParse(c.text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n')).INITD_BOOTSTRAP_TOKEN ?? '').trim();
  // A token that is a piece of the validators' own text (an example quoted in a message) proves nothing.
  const secretCheckable = token.length >= 12 && c.text.split(token).length === 2 && !CONFIG_SOURCE.includes(token);
  let outcome: Outcome;
  let shown: string[];
  try {
    const cfg = await loadConfig(host, { env, ...(c.viaFlag ? { envFile: ENV_FILE } : {}) });
    for (const [k, v] of Object.entries(cfg.labels)) assert(QUALIFIED_NAME.test(k) && LABEL_VALUE.test(v), `loadConfig accepted label ${k}=${v}`);
    for (const t of cfg.taints)
      assert(
        QUALIFIED_NAME.test(t.key) && ['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect),
        `loadConfig accepted taint ${JSON.stringify(t)}`,
      );
    assert(cfg.stateDir.startsWith('/') && cfg.stateDir !== '/', `stateDir ${cfg.stateDir}`);
    assert(cfg.apiUrl.startsWith('https://'), `apiUrl ${cfg.apiUrl}`);
    for (const d of cfg.nvmeDevices ?? []) assert(d.startsWith('/dev/'), `nvme ${d}`);
    shown = cfg.warnings;
    outcome = 'accepted';
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    assert(e.problems.length > 0, 'ConfigError without problems');
    for (const p of e.problems) {
      assert(
        CONFIG_VARIABLES.some((v) => p.variable === v || p.variable.startsWith(`${v}.`) || p.variable.startsWith(`${v}[`)),
        `problem names unknown variable ${JSON.stringify(p.variable)}`,
      );
      assert(p.message.length > 10, `problem without a useful message: ${JSON.stringify(p)}`);
    }
    shown = [e.message, ...e.problems.map((p) => p.item), ...((e as { warnings?: string[] }).warnings ?? [])];
    outcome = 'rejected';
  }
  if (secretCheckable && shown.some((s) => s.includes(token))) {
    // Not a leak when the same text shows up with the token replaced (e.g. it equals an example quoted in a message).
    const masked = await shownFor({ ...c, text: c.text.split(token).join('Z'.repeat(token.length)) });
    if (masked.some((s) => s.includes(token))) return outcome;
    fail('the bootstrap token appears in a problem or warning');
  }
  const changes = host.mutations();
  if (changes.length || host.calls.some((x) => x.kind === 'exec'))
    fail(`loadConfig changed the host or ran a command: ${JSON.stringify(host.calls.filter((x) => x.kind !== 'resolve'))}`);
  return outcome;
}

const one = <T,>(
  name: string,
  parser: string,
  variable: string,
  seeds: string[],
  fn: (s: string) => Parsed<T>,
  onValue: (v: T) => void = () => {},
): FuzzTarget => target({ name: `config.${name}`, parser, arbitrary: values(seeds), check: (s: string) => judged(fn(s), [variable], onValue) });

export const configTargets: FuzzTarget[] = [
  target({
    name: 'config.env-file',
    parser: 'loadConfig + dotenv env file (INITD_EXTRA_ENV_FILE / --env-file) on a FakeHost',
    arbitrary: envCase,
    check: checkEnvFile,
    cost: 2,
  }),
  one('labels', 'parseLabels (INITD_KUBERNETES_LABELS)', 'INITD_KUBERNETES_LABELS', VALID.labels, parseLabels, (l) => {
    for (const [k, v] of Object.entries(l)) assert(QUALIFIED_NAME.test(k) && LABEL_VALUE.test(v) && v.length <= 63, `label ${k}=${v}`);
  }),
  one('taints', 'parseTaints (INITD_KUBERNETES_TAINTS)', 'INITD_KUBERNETES_TAINTS', VALID.taints, parseTaints, (ts) => {
    for (const t of ts) assert(QUALIFIED_NAME.test(t.key) && (t.value === undefined || LABEL_VALUE.test(t.value)), `taint ${JSON.stringify(t)}`);
  }),
  target({
    name: 'config.gpu',
    parser: 'parseGpuConfig (INITD_GPU_CONFIG)',
    arbitrary: fc.oneof({ weight: 3, arbitrary: mutatedJsonText(VALID.gpu.slice(0, 4)) }, { weight: 1, arbitrary: values(VALID.gpu) }),
    check: (s: string) =>
      judged(parseGpuConfig(s), ['INITD_GPU_CONFIG'], (g) =>
        assert(!g?.mig || (g.mig.partitionSizes.length > 0 && g.mig.partitionSizes.every((x) => /^\d+g\.\d+gb(\+me)?$/.test(x))), 'gpu sizes'),
      ),
  }),
  target({
    name: 'config.proxy',
    parser: 'parseProxy (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, both cases)',
    arbitrary: fc.dictionary(
      fc.constantFrom('HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'),
      fc.oneof(values(VALID.proxy), values(VALID.noProxy)),
      { maxKeys: 6 },
    ),
    check: (vars: Record<string, string>) =>
      judged(parseProxy(vars), ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'], (p) => {
        for (const u of [p.httpProxy, p.httpsProxy]) if (u) assert(/^https?:\/\//i.test(u), `proxy ${u}`);
      }),
  }),
  one('nvme-devices', 'parseNvmeDevices (NVME_DEVICES)', 'NVME_DEVICES', VALID.nvme, parseNvmeDevices, (d) => {
    if (d) assert(d.every((x) => x.startsWith('/dev/')) && new Set(d).size === d.length, `nvme ${d.join(' ')}`);
  }),
  target({
    name: 'config.scalars',
    parser: 'parseApiUrl, parseId, parseToken, parseStateDir, parseLogLevel',
    arbitrary: fc.tuple(
      fc.constantFrom('API_URL', 'ORG_ID', 'INITD_BOOTSTRAP_TOKEN', 'INITD_STATE_DIR', 'INITD_LOG_LEVEL'),
      values([...VALID.apiUrl, ...VALID.id, ...VALID.token, ...VALID.stateDir, ...VALID.logLevel]),
    ),
    check: ([v, s]: [string, string]) => {
      const r: Parsed<unknown> =
        v === 'API_URL'
          ? parseApiUrl(s)
          : v === 'ORG_ID'
            ? parseId(s, v)
            : v === 'INITD_BOOTSTRAP_TOKEN'
              ? parseToken(s)
              : v === 'INITD_STATE_DIR'
                ? parseStateDir(s)
                : parseLogLevel(s);
      const out = judged(r, [v], () => {});
      if (v === 'INITD_BOOTSTRAP_TOKEN' && !r.ok && s.trim().length >= 6)
        for (const p of r.problems) assert(!p.message.includes(s.trim()) && !p.item.includes(s.trim()), 'token echoed in a problem');
      return out;
    },
  }),
];
