import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../agent/errors.ts';
import { didYouMean, editDistance } from '../../agent/config/suggest.ts';
import {
  dns1123SubdomainErrors,
  formatLabels,
  formatTaints,
  isKubeletAllowedLabel,
  isReservedLabelKey,
  labelValueErrors,
  maskUrlPassword,
  noProxyItemErrors,
  parseAbsolutePath,
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
  qualifiedNameErrors,
  type Parsed,
} from '../../agent/config/validate.ts';

function value<T>(r: Parsed<T>): T {
  if (!r.ok) throw new Error(`expected ok, got problems:\n${r.problems.map((p) => `${p.variable}: ${p.message}`).join('\n')}`);
  return r.value;
}
function problems<T>(r: Parsed<T>): ConfigProblem[] {
  if (r.ok) throw new Error(`expected problems, got value ${JSON.stringify(r.value)}`);
  return r.problems;
}

describe('Kubernetes name rules', () => {
  it.each([
    ['env', true],
    ['a', true],
    ['A_b.c-9', true],
    ['example.com/rack', true],
    ['a.b-c.d/x', true],
    ['x'.repeat(63), true],
    [`${'a'.repeat(253)}/n`, true],
    ['x'.repeat(64), false],
    [`${'a'.repeat(254)}/n`, false],
    ['-env', false],
    ['env-', false],
    ['_env', false],
    ['Example.com/rack', false],
    ['/name', false],
    ['example.com/', false],
    ['a/b/c', false],
    ['exa_mple.com/x', false],
    ['ex..ample.com/x', false],
    ['en v', false],
    ['', false],
  ])('qualified name %j valid=%s', (key, valid) => {
    expect(qualifiedNameErrors(key).length === 0).toBe(valid);
  });

  it.each([
    ['', true],
    ['prod', true],
    ['a.b_c-D9', true],
    ['v'.repeat(63), true],
    ['v'.repeat(64), false],
    ['prod!', false],
    ['-prod', false],
    ['prod.', false],
    ['with space', false],
    ['a/b', false],
  ])('label value %j valid=%s', (v, valid) => {
    expect(labelValueErrors(v).length === 0).toBe(valid);
  });

  it('DNS-1123 subdomain: lowercase suggestion, 253 limit', () => {
    expect(dns1123SubdomainErrors('example.com')).toEqual([]);
    expect(dns1123SubdomainErrors('Example.COM')[0]).toContain('write "example.com"');
    expect(dns1123SubdomainErrors(`${'a'.repeat(250)}.com`)[0]).toContain('at most 253');
  });

  it.each([
    ['kubernetes.io/hostname', true, true],
    ['kubernetes.io/arch', true, true],
    ['kubernetes.io/os', true, true],
    ['beta.kubernetes.io/arch', true, true],
    ['beta.kubernetes.io/os', true, true],
    ['beta.kubernetes.io/instance-type', true, true],
    ['failure-domain.beta.kubernetes.io/region', true, true],
    ['failure-domain.beta.kubernetes.io/zone', true, true],
    ['topology.kubernetes.io/zone', true, true],
    ['topology.kubernetes.io/region', true, true],
    ['node.kubernetes.io/instance-type', true, true],
    ['node.kubernetes.io/anything', true, true],
    ['kubelet.kubernetes.io/anything', true, true],
    ['foo.node.kubernetes.io/x', true, true],
    ['foo.kubelet.kubernetes.io/x', true, true],
    ['node-role.kubernetes.io/worker', true, false],
    ['node-restriction.kubernetes.io/x', true, false],
    ['kubernetes.io/foo', true, false],
    ['k8s.io/foo', true, false],
    ['sub.k8s.io/foo', true, false],
    ['topology.kubernetes.io/rack', true, false],
    ['example.com/x', false, true],
    ['notkubernetes.io/x', false, true],
    ['env', false, true],
  ])('label key %j: reserved=%s, kubelet may set=%s', (key, reserved, allowed) => {
    expect(isReservedLabelKey(key)).toBe(reserved);
    expect(!reserved || isKubeletAllowedLabel(key)).toBe(allowed);
  });
});

describe('parseLabels', () => {
  it.each<[string, Record<string, string>]>([
    ['', {}],
    ['env=prod', { env: 'prod' }],
    ['env=prod,example.com/rack=r12', { env: 'prod', 'example.com/rack': 'r12' }],
    [' env = prod , tier=web ,', { env: 'prod', tier: 'web' }],
    ['empty=', { empty: '' }],
    ['a=1,,b=2', { a: '1', b: '2' }],
    ['kubernetes.io/arch=amd64,node.kubernetes.io/instance-type=big', { 'kubernetes.io/arch': 'amd64', 'node.kubernetes.io/instance-type': 'big' }],
    ['topology.kubernetes.io/zone=eu-1a', { 'topology.kubernetes.io/zone': 'eu-1a' }],
  ])('parses %j', (raw, want) => {
    expect(value(parseLabels(raw))).toEqual(want);
  });

  it('round-trips through formatLabels', () => {
    const l = value(parseLabels('env=prod,example.com/rack=r12,e='));
    expect(value(parseLabels(formatLabels(l)))).toEqual(l);
  });
});

describe('parseTaints (seed examples)', () => {
  it('parses dedicated=gpu:NoSchedule,spot:NoExecute', () => {
    expect(value(parseTaints('dedicated=gpu:NoSchedule,spot:NoExecute'))).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'spot', effect: 'NoExecute' },
    ]);
  });
  it.each<[string, unknown]>([
    ['', []],
    ['a=b:PreferNoSchedule', [{ key: 'a', value: 'b', effect: 'PreferNoSchedule' }]],
    ['example.com/gpu=true:NoSchedule', [{ key: 'example.com/gpu', value: 'true', effect: 'NoSchedule' }]],
    [' k : NoExecute ', [{ key: 'k', effect: 'NoExecute' }]],
    ['k=:NoSchedule', [{ key: 'k', effect: 'NoSchedule' }]],
    // Same key with different effects is allowed (the API server keys taints by key+effect).
    ['k=v:NoSchedule,k=v:NoExecute', [{ key: 'k', value: 'v', effect: 'NoSchedule' }, { key: 'k', value: 'v', effect: 'NoExecute' }]],
  ])('parses %j', (raw, want) => {
    expect(value(parseTaints(raw))).toEqual(want);
  });
  it('round-trips through formatTaints', () => {
    const t = value(parseTaints('dedicated=gpu:NoSchedule,spot:NoExecute'));
    expect(formatTaints(t)).toBe('dedicated=gpu:NoSchedule,spot:NoExecute');
  });
});

describe('parseGpuConfig', () => {
  it.each<[string, unknown]>([
    ['', undefined],
    ['   ', undefined],
    ['{"mig":{"partitionSizes":["1g.5gb"]}}', { mig: { partitionSizes: ['1g.5gb'] } }],
    [
      '{"mig":{"partitionSizes":["1g.5gb","1g.5gb","3g.40gb","1g.10gb+me","7g.80gb"]}}',
      { mig: { partitionSizes: ['1g.5gb', '1g.5gb', '3g.40gb', '1g.10gb+me', '7g.80gb'] } },
    ],
    ['{}', {}],
  ])('parses %j', (raw, want) => {
    expect(value(parseGpuConfig(raw))).toEqual(want);
  });
});

describe('parseProxy', () => {
  it('accepts upper or lower case, and both when equal', () => {
    expect(value(parseProxy({ https_proxy: 'http://p:3128' }))).toEqual({ httpsProxy: 'http://p:3128' });
    expect(value(parseProxy({ HTTP_PROXY: 'http://p:3128', http_proxy: 'http://p:3128' }))).toEqual({ httpProxy: 'http://p:3128' });
    expect(value(parseProxy({ HTTPS_PROXY: 'https://u:pw@p.example.com:8443/' }))).toEqual({ httpsProxy: 'https://u:pw@p.example.com:8443/' });
    expect(value(parseProxy({ NO_PROXY: ' localhost, .svc ,10.0.0.0/8,[::1]:8080,*.corp,fd00::/8,host:443,::1,' }))).toEqual({
      noProxy: 'localhost,.svc,10.0.0.0/8,[::1]:8080,*.corp,fd00::/8,host:443,::1',
    });
    expect(value(parseProxy({ no_proxy: '*' }))).toEqual({ noProxy: '*' });
    expect(value(parseProxy({}))).toEqual({});
    expect(value(parseProxy({ HTTP_PROXY: '', http_proxy: 'http://p:1' }))).toEqual({ httpProxy: 'http://p:1' });
  });
  it('NO_PROXY items', () => {
    for (const ok of ['localhost', '.example.com', '*.example.com', '10.1.2.3', '10.0.0.0/8', 'host:8080', '[fd00::1]:443', '*', 'under_score.local'])
      expect(noProxyItemErrors(ok), ok).toEqual([]);
    for (const bad of ['10.0.0.0/33', 'host:0', 'host:99999', 'a b', 'https://x', 'bad!host', '1.2.3.4/x'])
      expect(noProxyItemErrors(bad).length, bad).toBe(1);
  });
  it('masks proxy passwords', () => {
    expect(maskUrlPassword('http://user:s3cret@proxy:3128')).toBe('http://user:****@proxy:3128');
    expect(maskUrlPassword('http://proxy:3128')).toBe('http://proxy:3128');
  });
});

describe('parseNvmeDevices', () => {
  it.each<[string, string[] | undefined]>([
    ['', undefined],
    ['/dev/nvme0n1', ['/dev/nvme0n1']],
    ['/dev/nvme0n1 /dev/nvme1n1', ['/dev/nvme0n1', '/dev/nvme1n1']],
    ['  /dev/nvme0n1\t/dev/nvme1n1\n', ['/dev/nvme0n1', '/dev/nvme1n1']],
    ['/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1234', ['/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_AWS1234']],
    ['/dev/nvme10n2', ['/dev/nvme10n2']],
  ])('parses %j', (raw, want) => {
    expect(value(parseNvmeDevices(raw))).toEqual(want);
  });
});

describe('scalars', () => {
  it('API_URL', () => {
    expect(value(parseApiUrl(''))).toBe('https://api.cast.ai');
    expect(value(parseApiUrl('https://api.cast.ai/'))).toBe('https://api.cast.ai');
    expect(value(parseApiUrl('https://127.0.0.1:8443/base/'))).toBe('https://127.0.0.1:8443/base');
    expect(value(parseApiUrl(' https://API.example.com '))).toBe('https://api.example.com');
  });
  it('IDs', () => {
    expect(value(parseId('', 'ORG_ID'))).toBeUndefined();
    expect(value(parseId('3f1c2b9e-6a41-4d2f-9a51-0c7d5e8f1a22', 'ORG_ID'))).toBe('3f1c2b9e-6a41-4d2f-9a51-0c7d5e8f1a22');
    expect(value(parseId('loc_1.a', 'EDGE_LOCATION_ID'))).toBe('loc_1.a');
  });
  it('token, paths, log level', () => {
    expect(value(parseToken(' FAKE-token.abc~123 \n'))).toBe('FAKE-token.abc~123');
    expect(value(parseToken(''))).toBeUndefined();
    expect(value(parseStateDir(''))).toBe('/var/lib/castai-edge-initd');
    expect(value(parseStateDir('/srv/initd//state/'))).toBe('/srv/initd/state');
    expect(value(parseAbsolutePath('/etc/ssl/ca.pem', 'INITD_CA_FILE', 'x'))).toBe('/etc/ssl/ca.pem');
    expect(value(parseLogLevel(''))).toBe('info');
    expect(value(parseLogLevel('DEBUG'))).toBe('debug');
    expect(value(parseLogLevel('trace'))).toBe('trace');
  });
});

describe('did you mean', () => {
  it('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
  it.each([
    ['INITD_KUBERNETES_LABEL', 'INITD_KUBERNETES_LABELS'],
    ['INITD_KUBERNETES_TAINT', 'INITD_KUBERNETES_TAINTS'],
    ['INITD_LABELS', 'INITD_KUBERNETES_LABELS'],
    ['INITD_LABLES', 'INITD_KUBERNETES_LABELS'],
    ['INITD_TAINTS', 'INITD_KUBERNETES_TAINTS'],
    ['INITD_GPU_CONFG', 'INITD_GPU_CONFIG'],
    ['initd_log_level', 'INITD_LOG_LEVEL'],
    ['INITD_BOOTSTRAP_TOKNE', 'INITD_BOOTSTRAP_TOKEN'],
    ['INITD_STATEDIR', 'INITD_STATE_DIR'],
  ])('%s -> %s', (input, want) => {
    const names = [
      'INITD_KUBERNETES_LABELS',
      'INITD_KUBERNETES_TAINTS',
      'INITD_GPU_CONFIG',
      'INITD_LOG_LEVEL',
      'INITD_BOOTSTRAP_TOKEN',
      'INITD_STATE_DIR',
      'INITD_CA_FILE',
    ];
    expect(didYouMean(input, names)).toBe(want);
  });
  it('no suggestion for something unrelated', () => {
    expect(didYouMean('INITD_COMPLETELY_DIFFERENT_THING', ['INITD_GPU_CONFIG', 'INITD_CA_FILE'])).toBeUndefined();
  });
});

/**
 * Bad inputs: each names the variable (problem.variable), the offending item
 * (in the message) and a hint at what would be valid.
 */
type Bad = { name: string; run: () => Parsed<unknown>; variable: string; item: string; hint: string };
const L = (raw: string) => () => parseLabels(raw);
const T = (raw: string) => () => parseTaints(raw);
const G = (raw: string) => () => parseGpuConfig(raw);
const N = (raw: string) => () => parseNvmeDevices(raw);
const P = (vars: Record<string, string>) => () => parseProxy(vars);

const BAD: Bad[] = [
  // labels
  { name: 'label value with !', run: L('Env=prod!'), variable: 'INITD_KUBERNETES_LABELS', item: '"Env=prod!"', hint: 'contains "!"' },
  { name: 'label without =', run: L('env'), variable: 'INITD_KUBERNETES_LABELS', item: '"env"', hint: 'written "env="' },
  { name: 'label with : instead of =', run: L('env:prod'), variable: 'INITD_KUBERNETES_LABELS', item: '"env:prod"', hint: 'write "env=prod"' },
  { name: 'label empty key', run: L('=prod'), variable: 'INITD_KUBERNETES_LABELS', item: '"=prod"', hint: 'empty key' },
  { name: 'label key too long', run: L(`${'k'.repeat(64)}=v`), variable: 'INITD_KUBERNETES_LABELS', item: 'kkkk', hint: 'at most 63' },
  { name: 'label value too long', run: L(`k=${'v'.repeat(64)}`), variable: 'INITD_KUBERNETES_LABELS', item: '"k=vvvv', hint: 'at most 63' },
  {
    name: 'label key starts with -',
    run: L('-env=prod'),
    variable: 'INITD_KUBERNETES_LABELS',
    item: '"-env=prod"',
    hint: 'starting and ending with a letter or digit',
  },
  {
    name: 'label uppercase prefix',
    run: L('Example.com/rack=1'),
    variable: 'INITD_KUBERNETES_LABELS',
    item: '"Example.com/rack=1"',
    hint: 'write "example.com"',
  },
  { name: 'label two slashes', run: L('a/b/c=1'), variable: 'INITD_KUBERNETES_LABELS', item: '"a/b/c=1"', hint: 'at most one' },
  { name: 'label empty prefix', run: L('/rack=1'), variable: 'INITD_KUBERNETES_LABELS', item: '"/rack=1"', hint: 'empty prefix' },
  {
    name: 'label node-role',
    run: L('node-role.kubernetes.io/worker='),
    variable: 'INITD_KUBERNETES_LABELS',
    item: 'node-role.kubernetes.io/worker',
    hint: 'from the control plane',
  },
  {
    name: 'label reserved kubernetes.io',
    run: L('kubernetes.io/foo=bar'),
    variable: 'INITD_KUBERNETES_LABELS',
    item: '"kubernetes.io/foo=bar"',
    hint: 'node.kubernetes.io/',
  },
  {
    name: 'label reserved k8s.io subdomain',
    run: L('x.k8s.io/foo=bar'),
    variable: 'INITD_KUBERNETES_LABELS',
    item: 'x.k8s.io/foo',
    hint: 'reserved k8s.io prefix',
  },
  {
    name: 'label node-restriction',
    run: L('node-restriction.kubernetes.io/pool=a'),
    variable: 'INITD_KUBERNETES_LABELS',
    item: 'node-restriction.kubernetes.io/pool',
    hint: 'only the control plane',
  },
  { name: 'label duplicate key', run: L('env=a,env=b'), variable: 'INITD_KUBERNETES_LABELS', item: '"env=b"', hint: 'given twice' },
  { name: 'label space inside value', run: L('env=pr od'), variable: 'INITD_KUBERNETES_LABELS', item: '"env=pr od"', hint: 'contains " "' },
  // taints
  {
    name: 'taint lowercase effect',
    run: T('dedicated=gpu:noschedule'),
    variable: 'INITD_KUBERNETES_TAINTS',
    item: '"dedicated=gpu:noschedule"',
    hint: 'write "NoSchedule"',
  },
  { name: 'taint effect typo', run: T('spot:NoExecut'), variable: 'INITD_KUBERNETES_TAINTS', item: '"spot:NoExecut"', hint: 'did you mean "NoExecute"' },
  {
    name: 'taint unknown effect',
    run: T('a=b:Never'),
    variable: 'INITD_KUBERNETES_TAINTS',
    item: '"a=b:Never"',
    hint: 'NoSchedule, PreferNoSchedule, NoExecute',
  },
  {
    name: 'taint missing effect',
    run: T('dedicated=gpu'),
    variable: 'INITD_KUBERNETES_TAINTS',
    item: '"dedicated=gpu"',
    hint: 'write "dedicated=gpu:NoSchedule"',
  },
  { name: 'taint empty effect', run: T('a=b:'), variable: 'INITD_KUBERNETES_TAINTS', item: '"a=b:"', hint: 'empty effect' },
  { name: 'taint empty key', run: T('=b:NoSchedule'), variable: 'INITD_KUBERNETES_TAINTS', item: '"=b:NoSchedule"', hint: 'empty key' },
  { name: 'taint bad value', run: T('a=b c:NoSchedule'), variable: 'INITD_KUBERNETES_TAINTS', item: '"a=b c:NoSchedule"', hint: 'contains " "' },
  { name: 'taint bad key', run: T('a!:NoSchedule'), variable: 'INITD_KUBERNETES_TAINTS', item: '"a!:NoSchedule"', hint: 'contains "!"' },
  {
    name: 'taint duplicate key+effect',
    run: T('a=1:NoSchedule,a=2:NoSchedule'),
    variable: 'INITD_KUBERNETES_TAINTS',
    item: '"a=2:NoSchedule"',
    hint: 'may appear once',
  },
  // GPU
  {
    name: 'gpu unknown key with typo',
    run: G('{"mig":{"partitionSize":["1g.5gb"]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSize',
    item: 'unknown key',
    hint: 'did you mean "partitionSizes"?',
  },
  { name: 'gpu unknown top key', run: G('{"migs":{}}'), variable: 'INITD_GPU_CONFIG.migs', item: 'unknown key', hint: 'did you mean "mig"?' },
  { name: 'gpu invalid JSON', run: G('{"mig":{"partitionSizes":["1g.5gb"]}'), variable: 'INITD_GPU_CONFIG', item: 'invalid JSON', hint: 'position' },
  {
    name: 'gpu trailing comma (V8 gives no position; we find it)',
    run: G('{"mig":{"partitionSizes":["1g.5gb",]}}'),
    variable: 'INITD_GPU_CONFIG',
    item: 'position 35',
    hint: '"1g.5gb",⟨here⟩]}}',
  },
  { name: 'gpu truncated', run: G('{"mig":{"partitionSizes":["1g.5gb"]}'), variable: 'INITD_GPU_CONFIG', item: 'invalid JSON', hint: 'ends too early' },
  { name: 'gpu single quotes', run: G("{'mig':{}}"), variable: 'INITD_GPU_CONFIG', item: 'invalid JSON', hint: 'double quotes' },
  { name: 'gpu not an object', run: G('["1g.5gb"]'), variable: 'INITD_GPU_CONFIG', item: 'must be a JSON object', hint: 'got an array' },
  {
    name: 'gpu empty array',
    run: G('{"mig":{"partitionSizes":[]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes',
    item: 'is empty',
    hint: 'unset INITD_GPU_CONFIG',
  },
  {
    name: 'gpu bad size',
    run: G('{"mig":{"partitionSizes":["1g.5gb","big"]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes[1]',
    item: '"big"',
    hint: '<n>g.<m>gb',
  },
  {
    name: 'gpu uppercase size',
    run: G('{"mig":{"partitionSizes":["1G.5GB"]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes[0]',
    item: '"1G.5GB"',
    hint: 'write "1g.5gb"',
  },
  {
    name: 'gpu size without gb',
    run: G('{"mig":{"partitionSizes":["1g.5"]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes[0]',
    item: '"1g.5"',
    hint: '"1g.5gb"',
  },
  {
    name: 'gpu size unsupported suffix',
    run: G('{"mig":{"partitionSizes":["1g.5gb+gfx"]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes[0]',
    item: '"1g.5gb+gfx"',
    hint: '+me',
  },
  {
    name: 'gpu size not a string',
    run: G('{"mig":{"partitionSizes":[7]}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes[0]',
    item: '7',
    hint: 'not a size string',
  },
  {
    name: 'gpu partitionSizes not array',
    run: G('{"mig":{"partitionSizes":"1g.5gb"}}'),
    variable: 'INITD_GPU_CONFIG.mig.partitionSizes',
    item: 'got a string',
    hint: 'must be an array',
  },
  { name: 'gpu mig not object', run: G('{"mig":true}'), variable: 'INITD_GPU_CONFIG.mig', item: 'got a boolean', hint: '{"partitionSizes":["1g.5gb"]}' },
  { name: 'gpu mig without sizes', run: G('{"mig":{}}'), variable: 'INITD_GPU_CONFIG.mig.partitionSizes', item: 'is missing', hint: 'partitionSizes' },
  // proxies
  {
    name: 'proxy case conflict',
    run: P({ HTTP_PROXY: 'http://a:1', http_proxy: 'http://b:2' }),
    variable: 'HTTP_PROXY',
    item: 'http_proxy="http://b:2"',
    hint: 'set only one',
  },
  {
    name: 'proxy case conflict masks password',
    run: P({ HTTPS_PROXY: 'http://u:topsecret1@a:1', https_proxy: 'http://b:2' }),
    variable: 'HTTPS_PROXY',
    item: 'http://u:****@a:1',
    hint: 'both set and differ',
  },
  { name: 'no_proxy case conflict', run: P({ NO_PROXY: 'a', no_proxy: 'b' }), variable: 'NO_PROXY', item: 'no_proxy="b"', hint: 'set only one' },
  {
    name: 'proxy without scheme',
    run: P({ HTTPS_PROXY: 'proxy.corp:3128' }),
    variable: 'HTTPS_PROXY',
    item: '"proxy.corp:3128"',
    hint: 'write "http://proxy.corp:3128"',
  },
  { name: 'proxy socks', run: P({ https_proxy: 'socks5://p:1080' }), variable: 'https_proxy', item: '"socks5://p:1080"', hint: 'only http:// and https://' },
  {
    name: 'proxy with path',
    run: P({ HTTP_PROXY: 'http://p:3128/x?y' }),
    variable: 'HTTP_PROXY',
    item: '"http://p:3128/x?y"',
    hint: 'scheme://[user:password@]host[:port]',
  },
  { name: 'proxy bad URL', run: P({ HTTP_PROXY: 'http://' }), variable: 'HTTP_PROXY', item: '"http://"', hint: 'http://host:port' },
  {
    name: 'no_proxy URL item',
    run: P({ NO_PROXY: 'localhost,https://x.example.com/' }),
    variable: 'NO_PROXY',
    item: '"https://x.example.com/"',
    hint: 'give the host only ("x.example.com")',
  },
  { name: 'no_proxy bad CIDR', run: P({ NO_PROXY: '10.0.0.0/40' }), variable: 'NO_PROXY', item: '"10.0.0.0/40"', hint: 'CIDR like 10.0.0.0/8' },
  { name: 'no_proxy space-separated', run: P({ NO_PROXY: 'a b' }), variable: 'NO_PROXY', item: '"a b"', hint: 'separate items with commas' },
  // NVMe
  { name: 'nvme partition', run: N('/dev/nvme0n1p1'), variable: 'NVME_DEVICES', item: '"/dev/nvme0n1p1"', hint: 'whole disks only, e.g. "/dev/nvme0n1"' },
  { name: 'nvme duplicate', run: N('/dev/nvme0n1 /dev/nvme0n1'), variable: 'NVME_DEVICES', item: '"/dev/nvme0n1"', hint: 'listed twice' },
  { name: 'nvme relative', run: N('nvme0n1'), variable: 'NVME_DEVICES', item: '"nvme0n1"', hint: 'write "/dev/nvme0n1"' },
  {
    name: 'nvme comma separated',
    run: N('/dev/nvme0n1,/dev/nvme1n1'),
    variable: 'NVME_DEVICES',
    item: '"/dev/nvme0n1,/dev/nvme1n1"',
    hint: 'write "/dev/nvme0n1 /dev/nvme1n1"',
  },
  { name: 'nvme controller', run: N('/dev/nvme0'), variable: 'NVME_DEVICES', item: '"/dev/nvme0"', hint: '"/dev/nvme0n1"' },
  { name: 'nvme not under /dev', run: N('/tmp/disk.img'), variable: 'NVME_DEVICES', item: '"/tmp/disk.img"', hint: 'under /dev/' },
  {
    name: 'nvme by-id partition',
    run: N('/dev/disk/by-id/nvme-X-part2'),
    variable: 'NVME_DEVICES',
    item: '"/dev/disk/by-id/nvme-X-part2"',
    hint: '"/dev/disk/by-id/nvme-X"',
  },
  { name: 'nvme dot-dot', run: N('/dev/../etc/passwd'), variable: 'NVME_DEVICES', item: '"/dev/../etc/passwd"', hint: 'normalized' },
  { name: 'nvme mapper', run: N('/dev/mapper/vg-lv'), variable: 'NVME_DEVICES', item: '"/dev/mapper/vg-lv"', hint: 'not a disk' },
  { name: 'sd partition', run: N('/dev/sda1'), variable: 'NVME_DEVICES', item: '"/dev/sda1"', hint: '"/dev/sda"' },
  // scalars
  {
    name: 'api url http',
    run: () => parseApiUrl('http://api.cast.ai'),
    variable: 'API_URL',
    item: '"http://api.cast.ai"',
    hint: 'write "https://api.cast.ai"',
  },
  { name: 'api url no scheme', run: () => parseApiUrl('api.cast.ai'), variable: 'API_URL', item: '"api.cast.ai"', hint: 'write "https://api.cast.ai"' },
  {
    name: 'api url credentials',
    run: () => parseApiUrl('https://u:pw@api.cast.ai'),
    variable: 'API_URL',
    item: '"https://u:****@api.cast.ai"',
    hint: 'never put secrets in URLs',
  },
  { name: 'api url query', run: () => parseApiUrl('https://api.cast.ai/?x=1'), variable: 'API_URL', item: '"https://api.cast.ai/?x=1"', hint: 'base URL only' },
  { name: 'api url ftp', run: () => parseApiUrl('ftp://api.cast.ai'), variable: 'API_URL', item: '"ftp://api.cast.ai"', hint: 'https://' },
  { name: 'org id with space', run: () => parseId('my org', 'ORG_ID'), variable: 'ORG_ID', item: '"my org"', hint: 'letters, digits' },
  { name: 'cluster id leading dash', run: () => parseId('-x', 'CLUSTER_ID'), variable: 'CLUSTER_ID', item: '"-x"', hint: 'start with a letter or digit' },
  { name: 'edge id with slash', run: () => parseId('a/../b', 'EDGE_LOCATION_ID'), variable: 'EDGE_LOCATION_ID', item: '"a/../b"', hint: 'contains "/"' },
  { name: 'id too long', run: () => parseId('a'.repeat(129), 'ORG_ID'), variable: 'ORG_ID', item: 'aaaa', hint: 'at most 128' },
  { name: 'token with space', run: () => parseToken('abc def-ghij'), variable: 'INITD_BOOTSTRAP_TOKEN', item: 'position 4', hint: 'copy it again' },
  { name: 'token quoted', run: () => parseToken('"abcdefgh"'), variable: 'INITD_BOOTSTRAP_TOKEN', item: 'quote', hint: 'remove the quotes' },
  { name: 'state dir relative', run: () => parseStateDir('var/lib/x'), variable: 'INITD_STATE_DIR', item: '"var/lib/x"', hint: '"/var/lib/x"' },
  { name: 'state dir root', run: () => parseStateDir('/'), variable: 'INITD_STATE_DIR', item: '"/"', hint: '/var/lib/castai-edge-initd' },
  {
    name: 'ca file relative',
    run: () => parseAbsolutePath('ca.pem', 'INITD_CA_FILE', 'the CA bundle'),
    variable: 'INITD_CA_FILE',
    item: '"ca.pem"',
    hint: 'absolute path',
  },
  { name: 'log level verbose', run: () => parseLogLevel('verbose'), variable: 'INITD_LOG_LEVEL', item: '"verbose"', hint: 'did you mean "debug"' },
  { name: 'log level typo', run: () => parseLogLevel('inf'), variable: 'INITD_LOG_LEVEL', item: '"inf"', hint: 'did you mean "info"' },
];

describe(`bad inputs (${BAD.length})`, () => {
  it('has at least 30 cases', () => expect(BAD.length).toBeGreaterThanOrEqual(30));
  it.each(BAD)('$name', ({ run, variable, item, hint }) => {
    const ps = problems(run());
    const p = ps.find((x) => x.variable === variable);
    expect(p, `no problem for ${variable}; got ${JSON.stringify(ps)}`).toBeDefined();
    const text = `${p!.variable}: ${p!.message}`;
    expect(text).toContain(item);
    expect(text).toContain(hint);
  });
});

describe('secrets never echoed by validators', () => {
  it('a bad token is not in any problem', () => {
    const secret = 'FAKE secret-token-with-space-1234';
    const ps = problems(parseToken(secret));
    expect(JSON.stringify(ps)).not.toContain('secret-token');
  });
  it('a proxy password is not in any problem', () => {
    const ps = problems(parseProxy({ HTTPS_PROXY: 'socks5://user:hunter2hunter2@p:1' }));
    expect(JSON.stringify(ps)).not.toContain('hunter2');
  });
});
