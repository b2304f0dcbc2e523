import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { REGISTRIES_DROPIN, HOSTS_DIR, loadRegistries, parseRegistries, registryFiles, tomlString } from '../../agent/k0s/registries.ts';
import { applyPrereqs, planPrereqs as planOrRefuse, type PrereqContext } from '../../agent/k0s/prereqs.ts';
import { orThrow } from '../helpers/outcome.ts';

const planPrereqs = async (c: PrereqContext) => orThrow(await planOrRefuse(c));
import { createLogger } from '../../agent/log/logger.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { StateStore } from '../../agent/state/store.ts';

/** Issue 18 item 3: registries.yaml (k3s format) → k0s's containerd (docs/decisions/0184). */

// The "With TLS / With Authentication" example of docs.k3s.io/installation/private-registry.
const K3S_EXAMPLE = `mirrors:
  docker.io:
    endpoint:
      - "https://registry.example.com:5000"
configs:
  "registry.example.com:5000":
    auth:
      username: xxxxxx # this is the registry username
      password: "pa\\"ss\\\\word"
    tls:
      cert_file: /etc/ssl/reg/client.pem
      key_file: /etc/ssl/reg/client.key
      ca_file: /etc/ssl/reg/ca.pem
`;

const file = (fs: ReturnType<typeof registryFiles>, p: string) => fs.find((f) => f.path === p);

describe('parse and translate', () => {
  it('the k3s example: a hosts.toml per registry (mirror first, the registry last) and a 0600 CRI drop-in with config_path and the credentials', () => {
    const r = parseRegistries(K3S_EXAMPLE);
    expect(r.mirrors).toEqual({ 'docker.io': ['https://registry.example.com:5000'] });
    expect(r.configs['registry.example.com:5000']!.auth).toEqual({ username: 'xxxxxx', password: 'pa"ss\\word' });
    const fs = registryFiles(r, '/etc/ssl/corp-ca.pem', '/etc/castai-edge-initd/registries.yaml');
    expect(fs.map((f) => f.path).sort()).toEqual(
      [REGISTRIES_DROPIN, `${HOSTS_DIR}/_default/hosts.toml`, `${HOSTS_DIR}/docker.io/hosts.toml`, `${HOSTS_DIR}/registry.example.com:5000/hosts.toml`].sort(),
    );
    expect(file(fs, `${HOSTS_DIR}/docker.io/hosts.toml`)!.content.split('\n').slice(1).join('\n')).toBe(
      [
        'server = "https://registry-1.docker.io"',
        'ca = ["/etc/ssl/corp-ca.pem"]',
        '',
        '[host."https://registry.example.com:5000"]',
        '  capabilities = ["pull", "resolve"]',
        '  ca = ["/etc/ssl/reg/ca.pem", "/etc/ssl/corp-ca.pem"]',
        '  client = [["/etc/ssl/reg/client.pem", "/etc/ssl/reg/client.key"]]',
        '',
      ].join('\n'),
    );
    expect(file(fs, `${HOSTS_DIR}/_default/hosts.toml`)!.content).toContain('\nca = ["/etc/ssl/corp-ca.pem"]\n');
    // A registry without mirrors gets an explicit [host] entry: containerd 1.6 rejects a hosts.toml without one.
    expect(file(fs, `${HOSTS_DIR}/registry.example.com:5000/hosts.toml`)!.content).toContain('\n[host."https://registry.example.com:5000"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = ["/etc/ssl/reg/ca.pem", "/etc/ssl/corp-ca.pem"]\n');
    const drop = file(fs, REGISTRIES_DROPIN)!;
    expect(drop).toMatchObject({ mode: 0o600, secret: true });
    expect(drop.content.split('\n').slice(1).join('\n')).toBe(
      [
        'version = 2',
        '',
        '[plugins."io.containerd.grpc.v1.cri".registry]',
        `  config_path = "${HOSTS_DIR}"`,
        '',
        '[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.example.com:5000".auth]',
        '  username = "xxxxxx"',
        '  password = "pa\\"ss\\\\word"',
        '',
      ].join('\n'),
    );
    for (const f of fs.filter((x) => x.path !== REGISTRIES_DROPIN)) expect(f.content, f.path).not.toContain('pa"ss');
  });

  it('"*" is containerd\'s _default; http endpoints, a /v2 suffix, insecure_skip_verify', () => {
    const fs = registryFiles(
      parseRegistries(`mirrors:\n  "*":\n    endpoint:\n      - http://cache.lan:5000/v2\nconfigs:\n  "*":\n    tls:\n      insecure_skip_verify: true\n`),
      undefined,
    );
    expect(file(fs, `${HOSTS_DIR}/_default/hosts.toml`)!.content.split('\n').slice(1).join('\n')).toBe(
      ['skip_verify = true', '', '[host."http://cache.lan:5000/v2"]', '  capabilities = ["pull", "resolve"]', '  skip_verify = true', ''].join('\n'),
    );
    expect(file(fs, REGISTRIES_DROPIN)!.secret).toBeUndefined();
  });

  it('INITD_CA_FILE alone still reaches containerd (every registry: _default)', () => {
    const fs = registryFiles(undefined, '/root/corp-ca.pem');
    expect(fs.map((f) => f.path)).toEqual([`${HOSTS_DIR}/_default/hosts.toml`, REGISTRIES_DROPIN]);
    expect(registryFiles(undefined, undefined)).toEqual([]);
  });

  it.each([
    ['mirrors:\n  docker.io:\n    endpoint: ["https://m:5000"]\n    rewrite:\n      "^rancher/(.*)": "x/$1"\n', /mirrors\."docker\.io"\.rewrite: rewrites are a k3s patch/],
    ['configs:\n  m:5000:\n    auth:\n      token: abcdefgh\n', /configs\."m:5000"\.auth\.token: containerd’s CRI registry configuration has no bearer-token field/],
    ['mirrors:\n  docker.io:\n    endpoint: ["ftp://m"]\n', /endpoint\[0\]: "ftp:\/\/m": only http and https/],
    ['mirrors:\n  docker.io:\n    endpoint: ["https://u:secretpw@m"]\n', /carries credentials/],
    ['configs:\n  m:\n    tls:\n      cert_file: /c.pem\n', /cert_file and key_file go together/],
    ['configs:\n  m:\n    tls:\n      insecure_skip_verify: "yes"\n', /insecure_skip_verify: expected true or false/],
    ['mirror:\n  docker.io: {}\n', /INITD_REGISTRIES_FILE: mirror: unknown key \(valid: mirrors, configs\)/],
    ['configs:\n  "bad host!":\n    auth:\n      username: u\n      password: p\n', /is not a host\[:port\]/],
  ])('refuses %j naming the variable and the field', (text, re) => {
    expect(() => parseRegistries(text)).toThrow(re);
    try {
      parseRegistries(text);
    } catch (e) {
      expect((e as Error).message).not.toContain('secretpw');
    }
  });

  it('TOML strings escape quotes, backslashes and control characters', () => {
    expect(tomlString('a"b\\c\nd\u0001')).toBe('"a\\"b\\\\c\\nd\\u0001"');
  });
});

describe('trust only root’s files', () => {
  const yaml = 'configs:\n  m:5000:\n    auth:\n      username: u\n      password: hunter2-registry\n';
  it('the registries file must be root’s, not writable by others, and 0600 when it holds credentials', async () => {
    const h = new FakeHost();
    h.files.set('/etc/r.yaml', { data: yaml, mode: 0o600, uid: 1000 });
    await expect(loadRegistries(h, '/etc/r.yaml')).rejects.toThrow(/owned by uid 1000/);
    h.files.set('/etc/r.yaml', { data: yaml, mode: 0o644 });
    await expect(loadRegistries(h, '/etc/r.yaml')).rejects.toThrow(/holds registry credentials but is readable by other users \(mode 0644\)/);
    h.files.set('/etc/r.yaml', { data: yaml, mode: 0o600 });
    await expect(loadRegistries(h, '/etc/r.yaml')).resolves.toMatchObject({ configs: { 'm:5000': { auth: { username: 'u' } } } });
  });

  it('a client key readable by others is refused; a TLS file that does not exist too', async () => {
    const h = new FakeHost();
    h.setFile('/etc/r.yaml', 'configs:\n  m:\n    tls:\n      cert_file: /k/c.pem\n      key_file: /k/c.key\n      ca_file: /k/ca.pem\n', 0o600);
    h.setFile('/k/c.pem', 'CERT', 0o644);
    h.setFile('/k/c.key', 'KEY', 0o644);
    await expect(loadRegistries(h, '/etc/r.yaml')).rejects.toThrow(/ca_file: \/k\/ca.pem does not exist/);
    h.setFile('/k/ca.pem', 'CA', 0o644);
    await expect(loadRegistries(h, '/etc/r.yaml')).rejects.toThrow(/key_file: \/k\/c.key is a private key readable by others/);
  });

  it('a bad file is a configuration error (exit 2) naming INITD_REGISTRIES_FILE; the password never shows', async () => {
    const h = new FakeHost();
    h.setFile(
      '/etc/r.yaml',
      'configs:\n  m:\n    auth:\n      username: u\n      password: sup3r-s3cret-pw\nmirrors:\n  docker.io:\n    endpoint: []\n',
      0o600,
    );
    const err = await loadConfig(h, { env: { INITD_REGISTRIES_FILE: '/etc/r.yaml' } }).catch((e: unknown) => e as Error);
    expect(String((err as Error).message)).toMatch(/INITD_REGISTRIES_FILE/);
    expect(String((err as Error).message)).toMatch(/endpoint: expected a non-empty list/);
    expect(JSON.stringify(err)).not.toContain('sup3r-s3cret-pw');
  });
});

describe('in the k0s step', () => {
  function ctx(host: FakeHost, cfg: Record<string, unknown>): StepContext {
    return {
      host,
      cfg: { stateDir: '/state', labels: {}, taints: [], proxy: {}, ...cfg },
      store: new StateStore(host, '/state'),
      log: createLogger({ write: () => {}, pretty: false }),
      signal: new AbortController().signal,
      shared: { extraLabels: {} },
    } as unknown as StepContext;
  }

  it('plan shows every file, credentials never; apply writes them recorded as ours; a changed drop-in restarts a running k0sworker', async () => {
    const h = new FakeHost();
    for (const d of ['/etc', '/etc/modules-load.d', '/etc/sysctl.d', '/sys/module/overlay', '/sys/module/br_netfilter']) h.dirs.set(d, 0o755);
    const registries = parseRegistries(K3S_EXAMPLE);
    const c = ctx(h, { registries, registriesFile: '/etc/castai-edge-initd/registries.yaml', caFile: '/etc/ssl/corp-ca.pem' });
    h.onExec('systemctl', { exitCode: 3 }); // k0sworker not active yet
    const p = await planPrereqs(c);
    expect(p.lines.join('\n')).toContain(`${REGISTRIES_DROPIN} (0600): credentials, not shown`);
    expect(p.lines.join('\n')).toContain('[host."https://registry.example.com:5000"]');
    expect(p.lines.join('\n')).not.toContain('pa"ss');
    expect(p.restartK0sworker).toBe(false);
    await applyPrereqs(c, p);
    expect(h.files.get(REGISTRIES_DROPIN)!.mode).toBe(0o600);
    expect(h.dirs.get('/etc/k0s')).toBe(0o700); // created by us, root-only like k0s's own
    expect((await planPrereqs(c)).registries).toEqual([]);

    // A new password while k0sworker runs: rewrite the drop-in and restart k0sworker.
    h.onExec('systemctl', { exitCode: 0 });
    const again = await planPrereqs(
      ctx(h, {
        registries: parseRegistries(K3S_EXAMPLE.replace('pa\\"ss\\\\word', 'new-password')),
        registriesFile: '/etc/castai-edge-initd/registries.yaml',
        caFile: '/etc/ssl/corp-ca.pem',
      }),
    );
    expect(again.registries.map((a) => a.description)).toEqual([
      `rewrite ${REGISTRIES_DROPIN} (0600): k0s containerd drop-in: the hosts directory and registry credentials`,
    ]);
    expect(again.restartK0sworker).toBe(true);
  });

  it('another drop-in that already sets the CRI registry is refused (k0s would merge both)', async () => {
    const h = new FakeHost();
    h.setFile('/etc/k0s/containerd.d/mine.toml', 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n');
    await expect(planPrereqs(ctx(h, { registries: parseRegistries(K3S_EXAMPLE) }))).rejects.toThrow(/\/etc\/k0s\/containerd.d\/mine.toml already configures containerd's registries/);
  });
});
