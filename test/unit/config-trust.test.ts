/**
 * Issue 15 item 2: the root agent trusts only root's files (agent/config/trust.ts, wired into
 * loadConfig). FakeHost cases for every rule; the same through RealHost on real files (root: chown) is
 * test/integration/config-trust-real.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.ts';
import { trustFindings } from '../../agent/config/trust.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { configError, problemsText } from '../helpers/config-error.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('env file (INITD_EXTRA_ENV_FILE, --env-file)', () => {
  it("a file another user owns is refused, naming the path and the fix", async () => {
    const host = new FakeHost().setDir('/home/op', 0o755, 1000).setFile('/home/op/edge.env', 'API_URL=https://evil.example\n', 0o644, 1000);
    const e = await configError(loadConfig(host, { env: { INITD_EXTRA_ENV_FILE: '/home/op/edge.env' } }));
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]!.variable).toBe('INITD_EXTRA_ENV_FILE');
    const m = e.problems[0]!.message;
    expect(m).toMatch(/env file "\/home\/op\/edge.env" could be changed by someone other than root/);
    expect(m).toContain('/home/op/edge.env is owned by uid 1000, not root');
    expect(m).toContain('/home/op is owned by uid 1000, not root');
    expect(m).toContain('chown root:root /home/op/edge.env');
    expect(m).toContain('install -o root -g root -m 0600 /home/op/edge.env /etc/castai-edge-initd/edge.env');
    // Nothing of the file was used: not even read.
    expect(host.calls).toEqual([]);
  });

  it('a group-writable file is refused with chmod go-w; --env-file by root follows the same rule', async () => {
    const host = new FakeHost().setFile('/etc/edge.env', 'ORG_ID=x\n', 0o664);
    const e = await configError(loadConfig(host, { env: {}, envFile: '/etc/edge.env' }));
    expect(e.problems[0]!.variable).toBe('--env-file');
    expect(problemsText(e)).toContain('/etc/edge.env is writable by group (mode 0664)');
    expect(problemsText(e)).toContain('Fix: chmod go-w /etc/edge.env');
  });

  it('a writable directory above the file is refused (every parent, like OpenSSH StrictModes)', async () => {
    const host = new FakeHost().setDir('/srv', 0o777).setDir('/srv/cfg', 0o755).setFile('/srv/cfg/edge.env', 'ORG_ID=x\n', 0o600);
    const e = await configError(loadConfig(host, { env: { INITD_EXTRA_ENV_FILE: '/srv/cfg/edge.env' } }));
    expect(problemsText(e)).toContain('/srv is writable by group and others (mode 0777)');
    expect(problemsText(e)).toContain('chmod go-w /srv');
  });

  it('root 0600 in root 0700/0755 directories is accepted', async () => {
    const host = new FakeHost().setDir('/etc/castai-edge-initd', 0o700).setFile('/etc/castai-edge-initd/extra.env', 'ORG_ID=from-copy\n', 0o600);
    const cfg = await loadConfig(host, { env: { INITD_EXTRA_ENV_FILE: '/etc/castai-edge-initd/extra.env' } });
    expect(cfg.orgId).toBe('from-copy');
  });

  it("a non-root user's own command may read that user's files (the rule is for root)", async () => {
    const host = new FakeHost().setDir('/home/op', 0o775, 1000).setFile('/home/op/edge.env', 'ORG_ID=mine\n', 0o664, 1000);
    host.facts = { ...host.facts, uid: 1000 };
    expect((await loadConfig(host, { env: {}, envFile: '/home/op/edge.env' })).orgId).toBe('mine');
  });
});

describe('symlinks: the link, its directory, and its target', () => {
  it('a root-owned link in /etc to a file in a user\'s home is refused for the target', async () => {
    const host = new FakeHost()
      .setLink('/etc/castai-edge-initd/extra.env', '/home/op/edge.env')
      .setDir('/home/op', 0o700, 1000)
      .setFile('/home/op/edge.env', 'ORG_ID=x\n', 0o600, 1000);
    const e = await configError(loadConfig(host, { env: { INITD_EXTRA_ENV_FILE: '/etc/castai-edge-initd/extra.env' } }));
    expect(problemsText(e)).toContain('/home/op/edge.env is owned by uid 1000');
  });

  it('a link in a directory another user can write is refused for that directory (they could re-point it)', async () => {
    const host = new FakeHost()
      .setDir('/opt/shared', 0o775)
      .setLink('/opt/shared/ca.pem', '../../etc/ssl/corp-ca.pem')
      .setFile('/etc/ssl/corp-ca.pem', PEM, 0o644);
    const findings = await trustFindings(host, '/opt/shared/ca.pem', { uid: 0 });
    expect(findings.map((f) => `${f.path} ${f.problem}`)).toEqual(['/opt/shared is writable by group (mode 0775)']);
    const ok = await trustFindings(new FakeHost().setLink('/etc/ca.pem', 'ssl/corp-ca.pem').setFile('/etc/ssl/corp-ca.pem', PEM), '/etc/ca.pem', { uid: 0 });
    expect(ok).toEqual([]); // relative target resolved against the link's directory
  });

  it("a link another user owns is refused even when its target is root's", async () => {
    const host = new FakeHost().setLink('/etc/ca.pem', '/etc/ssl/corp-ca.pem', 1000).setFile('/etc/ssl/corp-ca.pem', PEM);
    expect((await trustFindings(host, '/etc/ca.pem', { uid: 0 })).map((f) => f.problem)).toEqual(['is owned by uid 1000, not root']);
  });

  it('a symlink loop ends (reading it fails later with ELOOP), and a chain longer than 40 hops is a finding', async () => {
    const loop = new FakeHost().setLink('/etc/a', '/etc/b').setLink('/etc/b', '/etc/a');
    expect(await trustFindings(loop, '/etc/a', { uid: 0 })).toEqual([]);
    const chain = new FakeHost();
    for (let i = 0; i < 45; i++) chain.setLink(`/etc/l${i}`, `/etc/l${i + 1}`);
    const f = await trustFindings(chain, '/etc/l0', { uid: 0 });
    expect(f.map((x) => x.problem)).toContain('has too many levels of symbolic links');
  });
});

describe('INITD_CA_FILE, INITD_STATE_DIR, /etc/castai-edge-initd', () => {
  it('a CA bundle a user can change is refused (it decides whom the agent trusts)', async () => {
    const host = new FakeHost().setDir('/home/op', 0o755, 1000).setFile('/home/op/ca.pem', PEM, 0o644, 1000);
    const e = await configError(loadConfig(host, { env: { INITD_CA_FILE: '/home/op/ca.pem' } }));
    expect(e.problems.map((p) => p.variable)).toEqual(['INITD_CA_FILE']);
    expect(problemsText(e)).toMatch(/CA bundle "\/home\/op\/ca.pem" could be changed by someone other than root/);
  });

  it('sticky, root-owned /tmp above a root file is fine; /tmp itself as the state directory is not', async () => {
    const host = new FakeHost().setDir('/tmp', 0o1777).setDir('/tmp/st', 0o700).setFile('/tmp/ca.pem', PEM, 0o644);
    expect(await trustFindings(host, '/tmp/ca.pem', { uid: 0 })).toEqual([]);
    expect((await loadConfig(host, { env: { INITD_STATE_DIR: '/tmp/st' } })).stateDir).toBe('/tmp/st');
    const e = await configError(loadConfig(host, { env: { INITD_STATE_DIR: '/tmp' } }));
    expect(problemsText(e)).toContain('INITD_STATE_DIR: state directory (or a file in it) "/tmp" could be changed');
    expect(problemsText(e)).toContain('/tmp is writable by group and others (mode 1777)');
  });

  it('a file inside the state directory that another user owns is refused, naming it', async () => {
    const host = new FakeHost()
      .setDir('/var/lib/castai-edge-initd', 0o700)
      .setFile('/var/lib/castai-edge-initd/k0s.json', '{}', 0o600, 1000)
      .setFile('/var/lib/castai-edge-initd/wireguard/private.key', 'k', 0o644);
    const e = await configError(loadConfig(host, { env: {} }));
    expect(problemsText(e)).toContain('/var/lib/castai-edge-initd/k0s.json is owned by uid 1000, not root');
    expect(problemsText(e)).not.toContain('private.key'); // 0644 is not writable by others: readable is the secrets audit's business
    expect(problemsText(e)).toContain('chown root:root /var/lib/castai-edge-initd/k0s.json');
  });

  it('a state directory not created yet is judged by its parents', async () => {
    const host = new FakeHost().setDir('/home/op', 0o755, 1000);
    const e = await configError(loadConfig(host, { env: { INITD_STATE_DIR: '/home/op/state' } }));
    expect(problemsText(e)).toContain('/home/op is owned by uid 1000');
  });

  it('a group-writable /etc/castai-edge-initd is refused', async () => {
    const host = new FakeHost().setDir('/etc/castai-edge-initd', 0o770).setFile('/etc/castai-edge-initd/castai-edge-initd.env', 'x', 0o600);
    const e = await configError(loadConfig(host, { env: {} }));
    expect(e.problems.map((p) => p.variable)).toEqual(['/etc/castai-edge-initd']);
    expect(problemsText(e)).toContain('chmod go-w /etc/castai-edge-initd');
  });
});
