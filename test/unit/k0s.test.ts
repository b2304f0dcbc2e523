import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import {
  applyK0s,
  argsDigest,
  inspectK0s,
  installArgs,
  K0S_BIN,
  K0S_TOKEN_FILE,
  planK0s,
  procStartTime,
  type K0sActual,
  type K0sDesired,
  type K0sRecorded,
} from '../../agent/k0s/k0s.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { encodeJoinToken } from '../control-plane/k0s-token.ts';

let caPem = '';
let caSha = '';
function token(user = 'kubelet-bootstrap', server = 'https://cp.example:8443'): string {
  return encodeJoinToken({ server, caPem, token: 'abcdef.0123456789abcdef', user });
}

beforeAll(() => {
  // The committed test CA (test/fixtures/k0s/make-fixtures.ts) and its sha256 as `openssl x509 -fingerprint -sha256` prints it,
  // without the colons: node:crypto, so the unit lane needs no apt tool.
  caPem = readFileSync(new URL('../fixtures/k0s/ca.pem', import.meta.url), 'utf8');
  caSha = new X509Certificate(caPem).fingerprint256.replace(/:/g, '').toLowerCase();
});

const baseArgs = installArgs({
  labels: { env: 'prod', 'omni.cast.ai/edge-id': 'e-1' },
  taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'spot', effect: 'NoExecute' }],
  nodeIp: '100.96.0.7',
  hostname: 'cast-1234',
  providerId: 'castai-omni://e-1',
});

function desired(over: Partial<K0sDesired> = {}): K0sDesired {
  return {
    version: 'v1.33.1+k0s.0',
    artifact: { url: 'https://dl.example/k0s', sha256: 'ab'.repeat(32) },
    joinToken: token(),
    konnectivity: { host: 'cp.example', port: 8132 },
    installArgs: baseArgs,
    downloadEnv: {},
    joinTimeoutMs: 2000,
    ...over,
  };
}

const joined = (d: K0sDesired): K0sActual => ({
  binarySha256: d.artifact.sha256,
  unitExists: true,
  unitActive: true,
  joined: true,
  recorded: { argsDigest: argsDigest(d.installArgs, d.version), version: d.version, sha256: d.artifact.sha256, installedAt: 'x' },
});

describe('k0s install arguments', () => {
  it('carries labels, taints and kubelet args exactly as k0s expects', () => {
    expect(baseArgs).toEqual([
      '--labels=env=prod,omni.cast.ai/edge-id=e-1',
      '--taints=dedicated=gpu:NoSchedule,spot:NoExecute',
      '--kubelet-extra-args=--node-ip=100.96.0.7 --hostname-override=cast-1234 --provider-id=castai-omni://e-1',
    ]);
  });

  it('extends NO_PROXY for k0sworker with cluster CIDRs, the WireGuard subnet, .svc and .cluster.local (in its env file, not in -e)', async () => {
    const { kubeletProxyEnv } = await import('../../agent/k0s/unit-config.ts');
    const env = kubeletProxyEnv({ httpsProxy: 'http://proxy:3128', noProxy: 'corp.local' }, ['10.244.0.0/16', '10.96.0.0/12', '100.96.0.0/16']);
    expect(env).toEqual({ HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'corp.local,10.244.0.0/16,10.96.0.0/12,100.96.0.0/16,.svc,.cluster.local,localhost,127.0.0.1' });
    expect(kubeletProxyEnv({ noProxy: 'corp.local' }, ['10.244.0.0/16'])).toEqual({});
  });
});

describe('k0s plan', () => {
  it('fresh node: verify, download, token, install, start, wait, record — in that order', () => {
    const d = desired();
    expect(planK0s(d, { unitExists: false, unitActive: false, joined: false }).map((a) => a.kind)).toEqual([
      'k0s.verify-join', 'k0s.download', 'k0s.write-token', 'k0s.install', 'k0s.start', 'k0s.wait-joined', 'k0s.record',
    ]);
  });

  it('joined and unchanged: nothing to do', () => {
    const d = desired();
    expect(planK0s(d, joined(d))).toEqual([]);
  });

  it('joined but stopped (e.g. after a reboot before the unit started): start only', () => {
    const d = desired();
    expect(planK0s(d, { ...joined(d), unitActive: false }).map((a) => a.kind)).toEqual(['k0s.start']);
  });

  it('changed kubelet args on a running node: stop, reinstall --force, start (never --force while running)', () => {
    const d = desired();
    const changed = desired({ installArgs: installArgs({ labels: { env: 'prod', 'omni.cast.ai/edge-id': 'e-1' }, taints: [], nodeIp: '100.96.0.8', hostname: 'cast-1234', providerId: 'castai-omni://e-1' }) });
    const kinds = planK0s(changed, joined(d)).map((a) => a.kind);
    expect(kinds).toEqual(['k0s.stop', 'k0s.reinstall', 'k0s.start', 'k0s.record']);
    expect(kinds.indexOf('k0s.stop')).toBeLessThan(kinds.indexOf('k0s.reinstall'));
  });

  it('changed labels or taints on a joined node: no stop, no reinstall, no restart (issue 14 item 3)', () => {
    // The kubelet applies --node-labels / register-with-taints only when it creates its Node, so a
    // restart would change nothing on the Node; the control plane patches it (re-registration).
    const d = desired();
    const changed = desired({ installArgs: installArgs({ labels: { env: 'staging' }, taints: [{ key: 'x', effect: 'NoExecute' }], nodeIp: '100.96.0.7', hostname: 'cast-1234', providerId: 'castai-omni://e-1' }) });
    expect(planK0s(changed, joined(d))).toEqual([]);
  });

  it('a k0s.json recorded before labels left the digest: accepted (no restart), then re-recorded', () => {
    const d = desired();
    const legacy = createHash('sha256').update(JSON.stringify([d.version, ...d.installArgs])).digest('hex').slice(0, 16);
    const a = { ...joined(d), recorded: { ...joined(d).recorded!, argsDigest: legacy } };
    expect(planK0s(d, a).map((x) => x.kind)).toEqual(['k0s.record']);
  });

  it('a crash between install and record converges: the unit is reinstalled with --force after a stop', () => {
    const d = desired();
    const { recorded: _r, ...a } = joined(d);
    expect(planK0s(d, a).map((x) => x.kind)).toEqual(['k0s.stop', 'k0s.reinstall', 'k0s.start', 'k0s.record']);
  });
});

describe('k0s apply', () => {
  function host(d: K0sDesired, tls: { authorized: boolean; chain?: string[] } = { authorized: true }) {
    const h = new FakeHost();
    h.tls.set('cp.example:8443', {
      connected: true,
      authorized: tls.authorized,
      chainSha256: tls.chain ?? ['11'.repeat(32), caSha],
      durationMs: 3,
      ...(tls.authorized ? {} : { error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    });
    h.tcp.set('cp.example:8132', { ok: true, durationMs: 1 });
    h.onExec('curl', {});
    h.onExec('sha256sum', { stdout: `${d.artifact.sha256}  ${K0S_BIN}.download\n` });
    h.onExec('chmod', {});
    h.onExec('mv', {});
    h.onExec('systemctl', {});
    h.onExec(K0S_BIN, () => {
      h.setFile(KUBELET_CONF, 'apiVersion: v1\n');
      return {};
    });
    return h;
  }

  it('joins a fresh node; the token goes to a 0600 file, never to argv', async () => {
    const d = desired();
    const h = host(d);
    let rec: K0sRecorded | undefined;
    await applyK0s(h, d, planK0s(d, { unitExists: false, unitActive: false, joined: false }), {
      writeRecorded: async (r) => void (rec = r),
      sleep: async () => {},
    });
    expect(h.files.get(K0S_TOKEN_FILE)).toEqual({ data: d.joinToken, mode: 0o600 });
    const lines = h.execLines();
    expect(lines).toContain(`${K0S_BIN} install worker --token-file ${K0S_TOKEN_FILE} ${baseArgs.join(' ')}`);
    expect(lines.indexOf('systemctl start k0sworker.service')).toBeGreaterThan(lines.findIndex((l) => l.startsWith(`${K0S_BIN} install`)));
    for (const c of h.calls) if (c.kind === 'exec') expect(c.args.join(' ')).not.toContain(d.joinToken);
    expect(rec?.argsDigest).toBe(argsDigest(d.installArgs, d.version));
  });

  it('downloads k0s over https only, redirects included (curl --proto =https --proto-redir =https)', async () => {
    const d = desired();
    const h = host(d);
    await applyK0s(h, d, planK0s(d, { unitExists: false, unitActive: false, joined: false }), { writeRecorded: async () => {}, sleep: async () => {} });
    const curl = h.execLines().find((l) => l.startsWith('curl '))!;
    expect(curl).toMatch(/ --proto =https --proto-redir =https /);
  });

  it('a CA mismatch on :8443 stops before any change and names both fingerprints', async () => {
    const d = desired();
    const h = host(d, { authorized: false, chain: ['22'.repeat(32), 'ee'.repeat(32)] });
    await expect(applyK0s(h, d, planK0s(d, { unitExists: false, unitActive: false, joined: false }), { writeRecorded: async () => {} })).rejects.toThrow(
      new RegExp(`token CA sha256 ${caSha}, presented chain ends in sha256 ${'ee'.repeat(32)}`),
    );
    expect(h.mutations(new Set(['sha256sum', 'systemctl']))).toEqual([]);
  });

  it('refuses a token whose user is not kubelet-bootstrap, changing nothing', async () => {
    const d = desired({ joinToken: token('controller-bootstrap') });
    const h = host(d);
    await expect(applyK0s(h, d, planK0s(d, { unitExists: false, unitActive: false, joined: false }), { writeRecorded: async () => {} })).rejects.toThrow(/kubelet-bootstrap/);
    expect(h.mutations(new Set(['sha256sum', 'systemctl']))).toEqual([]);
  });

  it('konnectivity unreachable is a clear error naming host and port', async () => {
    const d = desired();
    const h = host(d);
    h.tcp.set('cp.example:8132', { ok: false, error: 'ETIMEDOUT', durationMs: 5000 });
    await expect(applyK0s(h, d, planK0s(d, { unitExists: false, unitActive: false, joined: false }), { writeRecorded: async () => {} })).rejects.toThrow(/konnectivity cp.example:8132 is unreachable \(ETIMEDOUT\)/);
  });

  it('a checksum mismatch fails closed: the download is removed and k0s is not installed', async () => {
    const d = desired();
    const h = host(d);
    h.onExec('sha256sum', { stdout: `${'cd'.repeat(32)}  x\n` });
    await expect(applyK0s(h, d, planK0s(d, { unitExists: false, unitActive: false, joined: false }), { writeRecorded: async () => {} })).rejects.toThrow(/checksum mismatch/);
    expect(h.execLines().some((l) => l.startsWith('mv'))).toBe(false);
    expect(h.calls).toContainEqual({ kind: 'remove', path: `${K0S_BIN}.download` });
  });
});

describe('k0s inspect', () => {
  it('hashes the k0s binary once per process, and again only when its size or mtime changes', async () => {
    const h = new FakeHost().setFile(K0S_BIN, 'k0s-binary-v1');
    let n = 0;
    h.onExec('sha256sum', () => ({ exitCode: 0, stdout: `${String(++n).repeat(64).slice(0, 64)}  ${K0S_BIN}\n` }));
    h.onExec('systemctl show', { exitCode: 0, stdout: 'MainPID=0\nActiveState=active\n' });
    const none = async () => undefined;
    const a1 = await inspectK0s(h, none);
    const a2 = await inspectK0s(h, none);
    expect(a1.binarySha256).toBe('1'.repeat(64));
    expect(a2.binarySha256).toBe('1'.repeat(64));
    expect(h.execLines().filter((l) => l.startsWith('sha256sum'))).toHaveLength(1);
    h.setFile(K0S_BIN, 'k0s-binary-v2-longer');
    expect((await inspectK0s(h, none)).binarySha256).toBe('2'.repeat(64));
    expect(h.execLines().filter((l) => l.startsWith('sha256sum'))).toHaveLength(2);
    // another process (another Host) hashes for itself
    const other = new FakeHost().setFile(K0S_BIN, 'k0s-binary-v2-longer');
    other.onExec('sha256sum', { exitCode: 0, stdout: `${'f'.repeat(64)}  ${K0S_BIN}\n` });
    expect((await inspectK0s(other, none)).binarySha256).toBe('f'.repeat(64));
  });
});

describe('k0s inspect: is k0sworker active?', () => {
  const STAT = readFileSync(new URL('../fixtures/proc/stat-k0s.txt', import.meta.url), 'utf8'); // pid 31044, start 2381172
  const SHOW = 'systemctl show -p ActiveState -p MainPID k0sworker.service';
  const none = async () => undefined;

  it('reads the start time (field 22) of real /proc/<pid>/stat lines, also with spaces and ")" in the comm', () => {
    expect(procStartTime(STAT)).toBe('2381172');
    expect(procStartTime(readFileSync(new URL('../fixtures/proc/stat-comm-with-paren.txt', import.meta.url), 'utf8'))).toBe('2381203');
    expect(procStartTime(undefined)).toBeUndefined();
    expect(procStartTime('31044 (k0s) S 1 2')).toBeUndefined();
  });

  it('asks systemd once, then only checks that the same main process (pid + start time) lives', async () => {
    const h = new FakeHost().setFile('/proc/31044/stat', STAT);
    h.onExec(SHOW, { stdout: 'MainPID=31044\nActiveState=active\n' });
    expect((await inspectK0s(h, none)).unitActive).toBe(true);
    expect((await inspectK0s(h, none)).unitActive).toBe(true);
    expect((await inspectK0s(h, none)).unitActive).toBe(true);
    expect(h.execLines()).toEqual([SHOW]); // one process in three passes

    // the main process died (k0sworker stopped or restarting): systemd is asked again, and its answer counts
    h.files.delete('/proc/31044/stat');
    h.onExec(SHOW, { stdout: 'MainPID=0\nActiveState=activating\n' });
    expect((await inspectK0s(h, none)).unitActive).toBe(false);
    expect(h.execLines()).toEqual([SHOW, SHOW]);
    // …and keeps being asked until it names a live main process again
    expect((await inspectK0s(h, none)).unitActive).toBe(false);
    expect(h.execLines()).toHaveLength(3);
  });

  it('a reused pid (another start time) is not k0sworker', async () => {
    const h = new FakeHost().setFile('/proc/31044/stat', STAT);
    h.onExec(SHOW, { stdout: 'ActiveState=active\nMainPID=31044\n' });
    await inspectK0s(h, none);
    h.setFile('/proc/31044/stat', STAT.replace(' 2381172 ', ' 2399999 ')); // same pid, a later process
    h.onExec(SHOW, { exitCode: 0, stdout: 'ActiveState=failed\nMainPID=0\n' });
    expect((await inspectK0s(h, none)).unitActive).toBe(false);
    expect(h.execLines()).toEqual([SHOW, SHOW]);
  });

  it('inactive, failed, unknown unit or a failing systemctl: not active, nothing cached', async () => {
    for (const r of [
      { stdout: 'ActiveState=inactive\nMainPID=0\n' },
      { stdout: 'ActiveState=failed\nMainPID=0\n' },
      { exitCode: 1, stdout: '', stderr: 'Failed to connect to bus' },
      { stdout: 'ActiveState=deactivating\nMainPID=31044\n' },
    ]) {
      const h = new FakeHost().setFile('/proc/31044/stat', STAT);
      h.onExec(SHOW, r);
      expect((await inspectK0s(h, none)).unitActive, JSON.stringify(r)).toBe(false);
      await inspectK0s(h, none);
      expect(h.execLines(), JSON.stringify(r)).toEqual([SHOW, SHOW]);
    }
  });
});

describe('k0s teardown', () => {
  it('lists mounts strictly below /var/lib/k0s, deepest first, decoding escapes', async () => {
    const { mountsBelow } = await import('../../agent/k0s/teardown.ts');
    const mi = [
      '22 1 252:0 / / rw,relatime - ext4 /dev/vda rw',
      '40 22 253:0 / /var/lib/k0s rw,noatime - xfs /dev/mapper/castai--edge-k0s rw',
      '41 40 0:50 / /var/lib/k0s/kubelet/pods/abc/volumes/kubernetes.io~empty-dir/x rw - tmpfs tmpfs rw',
      '42 40 252:0 /etc /var/lib/k0s/kubelet/pods/abc/volumes/host\\040etc rw - ext4 /dev/vda rw',
      '43 22 0:51 / /var/lib/k0sx rw - tmpfs tmpfs rw',
    ].join('\n');
    expect(mountsBelow(mi, '/var/lib/k0s')).toEqual([
      '/var/lib/k0s/kubelet/pods/abc/volumes/kubernetes.io~empty-dir/x',
      '/var/lib/k0s/kubelet/pods/abc/volumes/host etc',
    ]);
  });

  it('stops k0sworker, unmounts pod mounts, then k0s reset; retries once after a busy mount', async () => {
    const { teardownK0s } = await import('../../agent/k0s/teardown.ts');
    const h = new FakeHost();
    h.setFile('/etc/systemd/system/k0sworker.service', '[Unit]\n');
    h.setFile(K0S_BIN, 'bin', 0o755);
    h.setFile(K0S_TOKEN_FILE, 'secret-token', 0o600);
    h.setFile(
      '/proc/self/mountinfo',
      '40 22 253:0 / /var/lib/k0s rw - xfs /dev/dm-0 rw\n42 40 252:0 /etc /var/lib/k0s/kubelet/pods/p/volumes/etc rw - ext4 /dev/vda rw\n',
    );
    h.onExec('systemctl', {});
    h.onExec('umount', {});
    let resets = 0;
    h.onExec(K0S_BIN, () => (++resets === 1 ? { exitCode: 1, stderr: 'failed to remove /var/lib/k0s/kubelet: device or resource busy' } : {}));
    const steps = await teardownK0s(h);
    expect(h.execLines()).toEqual([
      'systemctl stop k0sworker.service',
      'umount /var/lib/k0s/kubelet/pods/p/volumes/etc',
      `${K0S_BIN} reset`,
      'umount /var/lib/k0s/kubelet/pods/p/volumes/etc',
      `${K0S_BIN} reset`,
    ]);
    expect(steps.at(-1)).toEqual({ what: `remove ${K0S_TOKEN_FILE}`, ok: true });
    expect(h.files.has(K0S_TOKEN_FILE)).toBe(false);
    // never a recursive delete of anything
    expect(h.execLines().some((l) => /\brm\b/.test(l))).toBe(false);
  });
});
