import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { REDACTED, scrub } from '../../agent/log/logger.ts';
import { ConfigLoadError, loadConfig, requireForRegistration } from '../../agent/config/load.ts';
import { parseEnvFileText } from '../../agent/config/envfile.ts';
import { configError, problemsText } from '../helpers/config-error.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');


describe('loadConfig defaults', () => {
  it('an empty environment gives the defaults', async () => {
    const host = new FakeHost();
    const cfg = await loadConfig(host, { env: {} });
    expect(cfg).toEqual({
      apiUrl: 'https://api.cast.ai',
      stateDir: '/var/lib/castai-edge-initd',
      labels: {},
      taints: [],
      proxy: {},
      wireguardInterface: 'castai-wg',
      logLevel: 'info',
      sources: { API_URL: 'default', INITD_STATE_DIR: 'default', INITD_WIREGUARD_INTERFACE: 'default', INITD_LOG_LEVEL: 'default' },
      warnings: [],
    });
    expect(host.calls).toEqual([]);
  });

  it('empty values count as unset', async () => {
    const cfg = await loadConfig(new FakeHost(), { env: { ORG_ID: '', INITD_GPU_CONFIG: ' ', NVME_DEVICES: '', API_URL: '' } });
    expect(cfg.orgId).toBeUndefined();
    expect(cfg.gpu).toBeUndefined();
    expect(cfg.nvmeDevices).toBeUndefined();
    expect(cfg.apiUrl).toBe('https://api.cast.ai');
    expect(cfg.sources.ORG_ID).toBeUndefined();
  });
});

describe('precedence: environment, then the env file (the file wins)', () => {
  it('file values win, untouched environment values stay, sources say where', async () => {
    const host = new FakeHost().setFile('/etc/extra.env', 'ORG_ID=from-file\nINITD_KUBERNETES_LABELS=env=file\n', 0o600);
    const cfg = await loadConfig(host, {
      env: { ORG_ID: 'from-env', CLUSTER_ID: 'cluster-env', INITD_KUBERNETES_LABELS: 'env=envvar', INITD_EXTRA_ENV_FILE: '/etc/extra.env' },
    });
    expect(cfg.orgId).toBe('from-file');
    expect(cfg.clusterId).toBe('cluster-env');
    expect(cfg.labels).toEqual({ env: 'file' });
    expect(cfg.envFile).toBe('/etc/extra.env');
    expect(cfg.sources).toMatchObject({
      ORG_ID: 'env-file',
      CLUSTER_ID: 'environment',
      INITD_KUBERNETES_LABELS: 'env-file',
      API_URL: 'default',
      INITD_EXTRA_ENV_FILE: 'environment',
    });
  });

  it('--env-file (opts.envFile) wins over INITD_EXTRA_ENV_FILE', async () => {
    const host = new FakeHost().setFile('/a.env', 'ORG_ID=from-a\n').setFile('/b.env', 'ORG_ID=from-b\n');
    const cfg = await loadConfig(host, { env: { INITD_EXTRA_ENV_FILE: '/a.env' }, envFile: '/b.env' });
    expect(cfg.orgId).toBe('from-b');
    expect(cfg.envFile).toBe('/b.env');
    expect(cfg.sources.INITD_EXTRA_ENV_FILE).toBeUndefined();
  });

  it('an empty value in the file unsets the environment value', async () => {
    const host = new FakeHost().setFile('/x.env', 'INITD_KUBERNETES_TAINTS=\n');
    const cfg = await loadConfig(host, { env: { INITD_KUBERNETES_TAINTS: 'a:NoSchedule' }, envFile: '/x.env' });
    expect(cfg.taints).toEqual([]);
  });

  it('a missing env file is a ConfigError naming the path', async () => {
    const e = await configError(loadConfig(new FakeHost(), { env: { INITD_EXTRA_ENV_FILE: '/nope.env' } }));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]!.variable).toBe('INITD_EXTRA_ENV_FILE');
    expect(problemsText(e)).toContain('"/nope.env" does not exist');
    const e2 = await configError(loadConfig(new FakeHost(), { env: {}, envFile: 'rel/missing.env' }));
    expect(e2.problems[0]!.variable).toBe('--env-file');
    expect(problemsText(e2)).toContain('rel/missing.env');
  });

  it('an unreadable env file is a ConfigError naming the path and the cause', async () => {
    class Denied extends FakeHost {
      override async readFile(p: string): Promise<string | undefined> {
        if (p === '/secret.env') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
        return super.readFile(p);
      }
    }
    const e = await configError(loadConfig(new Denied(), { env: {}, envFile: '/secret.env' }));
    expect(problemsText(e)).toContain('"/secret.env": permission denied');
  });

  it('a line that is not KEY=value is an error with its line number (dotenv would skip it silently)', async () => {
    const host = new FakeHost().setFile('/x.env', '# comment\nORG_ID=a\nINITD_KUBERNETES_LABELS env=prod\n');
    const e = await configError(loadConfig(host, { env: {}, envFile: '/x.env' }));
    expect(problemsText(e)).toContain('/x.env line 3: "INITD_KUBERNETES_LABELS env=prod" is not KEY=value');
  });

  it('a bad line holding the token does not echo the token', async () => {
    const host = new FakeHost().setFile('/x.env', 'INITD_BOOTSTRAP_TOKEN FAKE-tok-very-secret-value\n');
    const e = await configError(loadConfig(host, { env: {}, envFile: '/x.env' }));
    expect(problemsText(e)).toContain('line 1');
    expect(JSON.stringify(e.problems)).not.toContain('very-secret');
  });

  it('dotenv details: quotes, export, comments, multi-line values, CRLF', () => {
    const c = parseEnvFileText('export ORG_ID="o-1"\r\nCLUSTER_ID=\'c-1\' # note\r\nINITD_GPU_CONFIG="{\n\\"mig\\":{}}"\nX=1\nX=2\n', 'f.env');
    expect(c.problems).toEqual([]);
    expect(c.vars.ORG_ID).toBe('o-1');
    expect(c.vars.CLUSTER_ID).toBe('c-1');
    expect(c.vars.X).toBe('2');
    expect(c.warnings.join('\n')).toContain('X is set twice in f.env (lines 5 and 6)');
    const open = parseEnvFileText('A="never closed\nB=1\n', 'g.env');
    expect(open.problems.map((p) => p.message).join('\n')).toContain('never closed');
  });
});

describe('proxies across case and sources', () => {
  it('HTTP_PROXY in the environment and a different http_proxy in the file is an error naming both', async () => {
    const host = new FakeHost().setFile('/x.env', 'http_proxy=http://b.example:3128\n');
    const e = await configError(loadConfig(host, { env: { HTTP_PROXY: 'http://a.example:3128' }, envFile: '/x.env' }));
    expect(e.problems).toHaveLength(1);
    expect(problemsText(e)).toContain('HTTP_PROXY="http://a.example:3128" and http_proxy="http://b.example:3128" are both set and differ');
  });
  it('equal values in both cases are fine; lower case alone works; source is recorded', async () => {
    const cfg = await loadConfig(new FakeHost(), {
      env: { HTTPS_PROXY: 'http://p:3128', https_proxy: 'http://p:3128', no_proxy: 'localhost,.svc' },
    });
    expect(cfg.proxy).toEqual({ httpsProxy: 'http://p:3128', noProxy: 'localhost,.svc' });
    expect(cfg.sources).toMatchObject({ HTTPS_PROXY: 'environment', NO_PROXY: 'environment' });
    expect(cfg.warnings).toEqual([]);
  });
  it('a proxy password is registered as a secret', async () => {
    await loadConfig(new FakeHost(), { env: { HTTPS_PROXY: 'http://user:Pr0xyPassw0rd@p:3128', NO_PROXY: 'localhost' } });
    expect(scrub('x Pr0xyPassw0rd y')).toBe(`x ${REDACTED} y`);
  });
  it('a proxy without NO_PROXY is fine (the k0s step adds the in-cluster entries itself)', async () => {
    const cfg = await loadConfig(new FakeHost(), { env: { HTTPS_PROXY: 'http://p:3128' } });
    expect(cfg.warnings).toEqual([]);
  });
});

describe('warnings: unknown variables with "did you mean"', () => {
  it('unknown INITD_* in the environment and any unknown name in the env file', async () => {
    const host = new FakeHost().setFile('/x.env', 'ORG_ID=o\nINITD_LABLES=a=b\nNVME_DEVICE=/dev/nvme0n1\n');
    const cfg = await loadConfig(host, {
      env: {
        INITD_KUBERNETES_TAINT: 'a:NoSchedule',
        INITD_GPU_CONFG: '{}',
        PATH: '/usr/bin',
        HOME: '/root',
        EDGE_LOCATIONID: 'x',
        http_proxy: '',
        INITD_INSTALL_WAIT_SECONDS: '5',
      },
      envFile: '/x.env',
    });
    const w = cfg.warnings.join('\n');
    expect(w).toContain('unknown variable INITD_KUBERNETES_TAINT in the environment is ignored; did you mean INITD_KUBERNETES_TAINTS?');
    expect(w).toContain('unknown variable INITD_GPU_CONFG in the environment is ignored; did you mean INITD_GPU_CONFIG?');
    expect(w).toContain('unknown variable INITD_LABLES in env file /x.env (line 2) is ignored; did you mean INITD_KUBERNETES_LABELS?');
    expect(w).toContain('unknown variable NVME_DEVICE in env file /x.env (line 3) is ignored; did you mean NVME_DEVICES?');
    expect(w).toContain('EDGE_LOCATIONID in the environment is not used by the agent; did you mean EDGE_LOCATION_ID?');
    expect(w).not.toContain('PATH');
    expect(w).not.toContain('HOME');
    expect(w).not.toContain('http_proxy');
    expect(w).not.toContain('INITD_INSTALL_WAIT_SECONDS');
    // Warnings, not errors: the config still loads.
    expect(cfg.orgId).toBe('o');
  });

  it('no near-miss warning for ordinary variables, nor when the intended one is set', async () => {
    const env = {
      INVOCATION_ID: 'x',
      JOURNAL_STREAM: 'x',
      NOTIFY_SOCKET: 'x',
      STATE_DIRECTORY: 'x',
      NODE_EXTRA_CA_CERTS: 'x',
      CLUSTER_NAME: 'x',
      USER_ID: 'x',
      CLUSTER_IP: '10.0.0.1',
      CLUSTER_ID: 'c',
    };
    expect((await loadConfig(new FakeHost(), { env })).warnings).toEqual([]);
    const typo = await loadConfig(new FakeHost(), { env: { CLUSTER_IP: '10.0.0.1' } });
    expect(typo.warnings).toEqual(['variable CLUSTER_IP in the environment is not used by the agent; did you mean CLUSTER_ID?']);
  });

  it('warnings ride along on the ConfigError when there are also errors', async () => {
    const e = await configError(loadConfig(new FakeHost(), { env: { INITD_KUBERNETES_LABEL: 'x=1', API_URL: 'http://x' } }));
    expect(e).toBeInstanceOf(ConfigLoadError);
    expect((e as ConfigLoadError).warnings.join('\n')).toContain('did you mean INITD_KUBERNETES_LABELS?');
  });

  it('a world-readable env file holding the token gives a chmod warning; 0600 does not', async () => {
    const body = 'INITD_BOOTSTRAP_TOKEN=FAKE-token-0123456789abcdef\n';
    const loose = await loadConfig(new FakeHost().setFile('/x.env', body, 0o644), { env: {}, envFile: '/x.env' });
    expect(loose.warnings.join('\n')).toContain('chmod 600 /x.env');
    const tight = await loadConfig(new FakeHost().setFile('/x.env', body, 0o600), { env: {}, envFile: '/x.env' });
    expect(tight.warnings).toEqual([]);
  });
});

describe('all problems at once; nothing changed', () => {
  it('collects every bad variable into one ConfigError', async () => {
    const host = new FakeHost();
    const e = await configError(
      loadConfig(host, {
        env: {
          API_URL: 'http://api',
          ORG_ID: 'a b',
          INITD_KUBERNETES_LABELS: 'Env=prod!',
          INITD_KUBERNETES_TAINTS: 'x=y',
          INITD_GPU_CONFIG: '{',
          NVME_DEVICES: '/dev/nvme0n1p1',
          INITD_LOG_LEVEL: 'loud',
          INITD_STATE_DIR: 'rel',
        },
      }),
    );
    const vars = new Set(e.problems.map((p) => p.variable));
    for (const v of [
      'API_URL',
      'ORG_ID',
      'INITD_KUBERNETES_LABELS',
      'INITD_KUBERNETES_TAINTS',
      'INITD_GPU_CONFIG',
      'NVME_DEVICES',
      'INITD_LOG_LEVEL',
      'INITD_STATE_DIR',
    ])
      expect(vars.has(v), v).toBe(true);
    expect(host.mutations()).toEqual([]);
  });

  it('problems from the env file say so', async () => {
    const host = new FakeHost().setFile('/x.env', 'ORG_ID=bad id\n');
    const e = await configError(loadConfig(host, { env: {}, envFile: '/x.env' }));
    expect(problemsText(e)).toContain('ORG_ID: "bad id" contains " "');
    expect(problemsText(e)).toContain('(in /x.env)');
  });
});

describe('INITD_CA_FILE', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  it('accepts a PEM file', async () => {
    const cfg = await loadConfig(new FakeHost().setFile('/etc/ca.pem', PEM), { env: { INITD_CA_FILE: '/etc/ca.pem' } });
    expect(cfg.caFile).toBe('/etc/ca.pem');
  });
  it('rejects a missing file and a non-PEM file', async () => {
    const e = await configError(loadConfig(new FakeHost(), { env: { INITD_CA_FILE: '/etc/none.pem' } }));
    expect(problemsText(e)).toContain('INITD_CA_FILE: "/etc/none.pem" does not exist');
    const e2 = await configError(loadConfig(new FakeHost().setFile('/etc/ca.der', 'binary'), { env: { INITD_CA_FILE: '/etc/ca.der' } }));
    expect(problemsText(e2)).toContain('holds no PEM certificate');
  });
});

describe('secrets', () => {
  it('the bootstrap token is registered with the logger', async () => {
    const token = 'FAKE-bootstrap-token-registered-42';
    const cfg = await loadConfig(new FakeHost(), { env: { INITD_BOOTSTRAP_TOKEN: token } });
    expect(cfg.bootstrapToken).toBe(token);
    expect(scrub(`Authorization: Bearer ${token}`)).toBe(`Authorization: Bearer ${REDACTED}`);
  });
  it('a ConfigError never carries the token', async () => {
    const token = 'FAKE bad token with spaces 9999';
    const e = await configError(loadConfig(new FakeHost(), { env: { INITD_BOOTSTRAP_TOKEN: token, ORG_ID: '!' } }));
    expect(JSON.stringify(e.problems)).not.toContain('bad token');
    expect(e.message).not.toContain('bad token');
  });
});

describe('fixtures', () => {
  it('example.env is valid and carries the seed examples', async () => {
    const host = new FakeHost().setFile('/fx/example.env', fixture('example.env'), 0o600);
    const cfg = await loadConfig(host, { env: {}, envFile: '/fx/example.env' });
    expect(cfg.taints).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'spot', effect: 'NoExecute' },
    ]);
    expect(cfg.gpu).toEqual({ mig: { partitionSizes: ['1g.5gb'] } });
    expect(cfg.labels.env).toBe('prod');
    expect(cfg.proxy.httpsProxy).toBe('http://proxy.example.internal:3128');
    expect(cfg.proxy.noProxy).toContain('.cluster.local');
    expect(cfg.nvmeDevices).toEqual(['/dev/nvme0n1', '/dev/nvme1n1']);
    for (const v of [cfg.orgId, cfg.clusterId, cfg.edgeLocationId, cfg.bootstrapToken]) expect(v).toMatch(/^\S+$/);
    expect(cfg.warnings).toEqual([]);
    expect(() => requireForRegistration(cfg)).not.toThrow();
  });

  it('bad.env names every bad variable', async () => {
    const host = new FakeHost().setFile('/fx/bad.env', fixture('bad.env'));
    const e = await configError(loadConfig(host, { env: {}, envFile: '/fx/bad.env' }));
    const vars = new Set(e.problems.map((p) => p.variable));
    for (const v of [
      'API_URL', 'ORG_ID', 'CLUSTER_ID', 'EDGE_LOCATION_ID', 'INITD_BOOTSTRAP_TOKEN', 'INITD_CA_FILE', 'INITD_STATE_DIR',
      'INITD_KUBERNETES_LABELS', 'INITD_KUBERNETES_TAINTS', 'INITD_GPU_CONFIG.mig.partitionSize', 'HTTP_PROXY', 'HTTPS_PROXY',
      'NO_PROXY', 'NVME_DEVICES', 'INITD_LOG_LEVEL',
    ])
      expect(vars.has(v), v).toBe(true);
    expect(host.mutations()).toEqual([]);
  });
});

describe('requireForRegistration', () => {
  it('lists every missing variable', async () => {
    const cfg = await loadConfig(new FakeHost(), { env: { ORG_ID: 'o' } });
    try {
      requireForRegistration(cfg);
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems.map((p) => p.variable)).toEqual(['CLUSTER_ID', 'EDGE_LOCATION_ID', 'INITD_BOOTSTRAP_TOKEN']);
    }
  });
});
