/**
 * The k0s TEST DOUBLE (test/doubles/k0s-test-double.sh) on this host, without
 * systemd: K0S_TEST_DOUBLE_ROOT prefixes every path and `start` runs the worker
 * as a background process. The worker joins the emulator's kube listener over
 * TLS pinned to the CA inside the join token.
 */
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterResponse } from '../../agent/api/types.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';
import { encodeJoinToken } from '../control-plane/k0s-token.ts';
import { KUBELET_CLIENT_PEM, kubeletConfText } from '../control-plane/pki.ts';
import { registerEdge } from '../helpers/api.ts';
import { K0S_DOUBLE, k0sDouble, rootWithToken, waitFor } from '../helpers/k0s-double.ts';
import { itNeeding, missingTools } from '../helpers/needs.ts';

const run = promisify(execFile);
const shellcheckMissing = missingTools(['shellcheck'], 'make deps: apt shellcheck');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
let dir: string;
let emu: ControlPlaneEmulator;

const k0s = k0sDouble;

const register = (): Promise<RegisterResponse> => registerEdge(emu, { hostname: 'vm-1' });

const newRoot = (token: string): string => rootWithToken(dir, token);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'k0s-double-'));
  emu = new ControlPlaneEmulator({ stateDir: path.join(dir, 'state') });
  await emu.start();
});

afterAll(async () => {
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('k0s test double', () => {
  itNeeding('is shellcheck-clean', shellcheckMissing, async () => {
    const r = await run('shellcheck', [K0S_DOUBLE]).then(() => 0, (e: { code: number; stdout: string }) => e.stdout);
    expect(r).toBe(0);
  });

  it('says it is a test double', async () => {
    const v = await k0s(dir, 'version');
    expect(v.stdout.trim()).toBe('v1.34.10+k0s.0 (k0s-test-double)');
    expect(readFileSync(K0S_DOUBLE, 'utf8')).toMatch(/k0s-test-double -- NOT k0s/);
  });

  it('install worker writes the k0sworker unit like k0s, refuses to overwrite without --force', async () => {
    const root = newRoot('token');
    const args = ['install', 'worker', '--token-file', '/etc/k0s/k0stoken', '--labels=env=prod,team=a', '--taints=dedicated=gpu:NoSchedule',
      '--kubelet-extra-args=--node-ip=100.96.0.2 --hostname-override=cast-1 --provider-id=castai-omni://e1', '-e', 'HTTPS_PROXY=http://p:3128', '-e', 'NO_PROXY=10.0.0.0/8,.svc'];
    expect((await k0s(root, ...args)).code).toBe(0);
    const unit = readFileSync(path.join(root, 'etc/systemd/system/k0sworker.service'), 'utf8');
    // k0s's order (flags sorted by name), cmdEscape (spaces as \x20), raw Environment="…" lines.
    expect(unit).toContain(
      'ExecStart=/usr/local/bin/k0s worker --kubelet-extra-args=--node-ip=100.96.0.2\\x20--hostname-override=cast-1\\x20--provider-id=castai-omni://e1 --labels=env=prod,team=a --taints=dedicated=gpu:NoSchedule --token-file=/etc/k0s/k0stoken\nEnvironment="HTTPS_PROXY=http://p:3128"\nEnvironment="NO_PROXY=10.0.0.0/8,.svc"\n\nRestartSec=10\n',
    );
    expect(unit).toContain('Restart=always');
    expect(unit).toContain('WantedBy=multi-user.target');
    const again = await k0s(root, 'install', 'worker', '--token-file', '/etc/k0s/k0stoken', '--labels=env=dev');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('Error: failed to install worker service: Init already exists: /etc/systemd/system/k0sworker.service');
    expect(readFileSync(path.join(root, 'etc/systemd/system/k0sworker.service'), 'utf8')).toBe(unit);
    expect((await k0s(root, 'install', 'worker', '--token-file', '/etc/k0s/k0stoken', '--labels=env=dev', '--force')).code).toBe(0);
    expect(readFileSync(path.join(root, 'etc/systemd/system/k0sworker.service'), 'utf8')).toContain('--labels=env=dev');
  });

  it('refuses unknown flags, positional arguments and other install roles, as k0s (cobra/pflag) does', async () => {
    const root = newRoot('token');
    const bad = async (...args: string[]) => {
      const r = await k0s(root, 'install', 'worker', '--token-file', '/etc/k0s/k0stoken', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(existsSync(path.join(root, 'etc/systemd/system/k0sworker.service')), args.join(' ')).toBe(false);
      return r.stderr;
    };
    expect(await bad('--bogus')).toContain('Error: unknown flag: --bogus');
    expect(await bad('-x')).toContain("Error: unknown shorthand flag: 'x' in -x");
    expect(await bad('--start')).toContain('Error: unknown flag: --start'); // k0s ≥ 1.35 only
    expect(await bad('extra')).toContain('Error: unknown command "extra" for "k0s install worker"');
    expect(await bad('--labels')).toContain('Error: flag needs an argument: --labels');
    expect(await bad('--labels=novalue')).toContain('malformed pair, expect string=string');
    expect(await bad('--force=maybe')).toContain('invalid argument "maybe" for "--force" flag');
    // Flags k0s accepts that the double cannot honour are refused, never silently ignored.
    expect(await bad('--profile=gpu')).toContain('k0s-test-double does not implement --profile');
    expect(await bad('-l', 'kubelet=3')).toContain('k0s-test-double does not implement -l');
    expect((await k0s(root, 'install', 'controller')).stderr).toContain('only implements "install worker"');
  });

  it('install worker does not read the token file (k0s only renders its absolute path); the worker fails on it as k0s does', async () => {
    const root = newRoot('token');
    const r = await k0s(root, 'install', 'worker', '--token-file', '/etc/k0s/missing');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'etc/systemd/system/k0sworker.service'), 'utf8')).toContain(' --token-file=/etc/k0s/missing\n');
    const w = await k0s(root, 'worker', '--token-file=/etc/k0s/missing');
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('token file "/etc/k0s/missing" not found: obtain a new token via "k0s token create ..."');
    writeFileSync(path.join(root, 'etc/k0s/empty'), '');
    expect((await k0s(root, 'worker', '--token-file=/etc/k0s/empty')).stderr).toContain('token file "/etc/k0s/empty" is empty');
  });

  it('writes -e values RAW into Environment="…" (no %% or $$ escaping), and `-e NAME` as given (k0s v1.34)', async () => {
    const root = newRoot('token');
    const value = 'http://edge:p%40ss$w0rd#1@proxy.lab:3128';
    expect(
      (await k0s(root, 'install', 'worker', '--token-file=/etc/k0s/k0stoken', '-e', `HTTPS_PROXY=${value}`, `-eA=1`, '--env=B=2', '-e', 'NAMEONLY')).code,
    ).toBe(0);
    const unit = readFileSync(path.join(root, 'etc/systemd/system/k0sworker.service'), 'utf8');
    expect(unit.split('\n').filter((l) => l.startsWith('Environment='))).toEqual([
      `Environment="HTTPS_PROXY=${value}"`,
      'Environment="A=1"',
      'Environment="B=2"',
      'Environment="NAMEONLY"',
    ]);
  });

  it.skipIf(!hasAnalyze)("systemd's own parser (systemd-analyze verify) drops the raw %40 proxy line: the bug k0s's -e has", async () => {
    const root = newRoot('token');
    const value = 'http://edge:p%40ss$w0rd%23x@proxy.lab:3128';
    expect((await k0s(root, 'install', 'worker', '--token-file=/etc/k0s/k0stoken', '-e', `HTTPS_PROXY=${value}`, '-e', 'NO_PROXY=10.0.0.0/8')).code).toBe(0);
    const unitFile = path.join(root, 'etc/systemd/system/k0sworker.service');
    const dir = mkdtempSync(path.join(tmpdir(), 'k0s-unit-'));
    // verify needs the ExecStart binary to exist; point it at /bin/true, keep everything else as written.
    writeFileSync(path.join(dir, 'k0sworker.service'), readFileSync(unitFile, 'utf8').replace(/^ExecStart=\S+/m, 'ExecStart=/bin/true').replace(/^ConditionFileIsExecutable=.*$/m, ''));
    const v = spawnSync('systemd-analyze', ['verify', path.join(dir, 'k0sworker.service')], {
      encoding: 'utf8',
      env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' },
    });
    rmSync(dir, { recursive: true, force: true });
    expect(v.stderr).toMatch(/Failed to resolve specifiers in HTTPS_PROXY=http:\/\/edge:p%40ss\$w0rd%23x@proxy\.lab:3128, ignoring/);
    expect(v.stderr).not.toMatch(/NO_PROXY/);
  });

  it('start → joins the emulator with labels/taints/node-ip/provider-id, heartbeats; status; reset refused while running; stop; reset', async () => {
    const reg = await register();
    const root = newRoot(reg.k0s.joinToken);
    const extra = `--node-ip=100.96.0.9 --hostname-override=${reg.node.name} --provider-id=${reg.node.providerID}`;
    expect(
      (
        await k0s(
          root,
          'install',
          'worker',
          '--token-file',
          '/etc/k0s/k0stoken',
          '--labels=env=prod,omni.cast.ai/csp=custom',
          '--taints=dedicated=gpu:NoSchedule,spot:NoExecute',
          `--kubelet-extra-args=${extra}`,
        )
      ).code,
    ).toBe(0);
    const st = await k0s(root, 'start');
    expect(st.code, st.stderr).toBe(0);
    try {
      await waitFor(() => emu.nodes.has(reg.node.name) && (emu.nodes.get(reg.node.name)!.heartbeats ?? 0) >= 2);
      const node = emu.nodes.get(reg.node.name)!;
      expect(node).toMatchObject({
        nodeName: reg.node.name,
        nodeIP: '100.96.0.9',
        providerID: reg.node.providerID,
        edgeId: reg.edge.id,
        labels: { env: 'prod', 'omni.cast.ai/csp': 'custom' },
        taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'spot', effect: 'NoExecute' }],
        k0sVersion: 'v1.34.10+k0s.0',
        joins: 1,
      });
      // The kubelet's files, where and how a real node has them.
      const kubeconf = path.join(root, 'var/lib/k0s/kubelet.conf');
      expect(statSync(kubeconf).mode & 0o777).toBe(0o600);
      expect(readFileSync(kubeconf, 'utf8')).toBe(kubeletConfText(emu.clusterCaPem, emu.kubeApi));
      const pki = path.join(root, 'var/lib/k0s/kubelet/pki');
      const current = path.join(root, KUBELET_CLIENT_PEM);
      expect(lstatSync(current).isSymbolicLink()).toBe(true);
      expect(readlinkSync(current)).toMatch(new RegExp(`^${pki}/kubelet-client-\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-\\d{2}\\.pem$`));
      expect(statSync(current).mode & 0o777).toBe(0o600);
      const pem = readFileSync(current, 'utf8');
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\n[\s\S]+-----END EC PRIVATE KEY-----\n$/);
      const cert = new X509Certificate(pem);
      expect(cert.subject.split('\n').sort()).toEqual([`CN=system:node:${reg.node.name}`, 'O=system:nodes']);
      expect(cert.checkIssued(new X509Certificate(emu.clusterCaPem))).toBe(true);
      expect(existsSync(path.join(pki, 'kubelet-client.key.tmp'))).toBe(false);

      const status = await k0s(root, 'status');
      expect(status.stdout).toMatch(/Process ID: \d+/);
      expect(status.stdout).toContain('Role: worker');
      expect(status.stdout).toContain('Kube-api probing successful: true');

      const reset = await k0s(root, 'reset');
      expect(reset.code).toBe(1);
      expect(reset.stderr).toContain('another k0s process is still running, please stop k0s before reset');

      // the join request carried the k8s bootstrap token, never the API's credentials
      const joins = emu.requests.filter((r) => r.endpoint === 'kube-join');
      expect(joins.at(-1)).toMatchObject({ status: 201, credential: 'k8s-bootstrap-token', credentialValid: true });
      expect(emu.requests.some((r) => r.endpoint === 'kube-heartbeat' && r.credential === 'node-certificate' && r.credentialValid)).toBe(true);
    } finally {
      expect((await k0s(root, 'stop')).code).toBe(0);
    }
    expect((await k0s(root, 'status')).code).toBe(1);

    // once joined the token is ignored: a restart does not join again
    const restart = await k0s(root, 'start');
    expect(restart.code, restart.stderr).toBe(0);
    const hb = emu.nodes.get(reg.node.name)!.heartbeats;
    await waitFor(() => emu.nodes.get(reg.node.name)!.heartbeats > hb);
    expect(emu.nodes.get(reg.node.name)!.joins).toBe(1);
    expect((await k0s(root, 'stop')).code).toBe(0);

    expect((await k0s(root, 'reset')).code).toBe(0);
    expect(existsSync(path.join(root, 'etc/systemd/system/k0sworker.service'))).toBe(false);
    expect(existsSync(path.join(root, 'var/lib/k0s'))).toBe(false);
    expect(existsSync(path.join(root, 'run/k0s'))).toBe(false);
    expect(existsSync(path.join(root, 'etc/k0s/k0stoken'))).toBe(true); // the agent's file, not k0s's
  });

  it('an expired join token makes the worker fail with a clear message', async () => {
    const reg = await register();
    emu.expire('join-tokens');
    const root = newRoot(reg.k0s.joinToken);
    const w = await k0s(root, 'worker', '--token-file=/etc/k0s/k0stoken', `--kubelet-extra-args=--hostname-override=${reg.node.name}`);
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('bootstrap token in the join token expired');
    expect(existsSync(path.join(root, 'var/lib/k0s/kubelet.conf'))).toBe(false);
    expect(existsSync(path.join(root, 'run/k0s/k0s.pid'))).toBe(false);
  });

  it('refuses a controller token and garbage tokens', async () => {
    const ctl = encodeJoinToken({ server: emu.kubeApi, caPem: emu.clusterCaPem, token: 'abcdef.0123456789abcdef', user: 'controller-bootstrap' });
    const w1 = await k0s(newRoot(ctl), 'worker', '--token-file=/etc/k0s/k0stoken');
    expect(w1.code).toBe(1);
    expect(w1.stderr).toContain('wrong token type controller-bootstrap, expected type: kubelet-bootstrap');
    const w2 = await k0s(newRoot('definitely not a token'), 'worker', '--token-file=/etc/k0s/k0stoken');
    expect(w2.code).toBe(1);
    expect(w2.stderr).toContain('not base64(gzip(kubeconfig))');
  });

  it('does not trust a server whose certificate is not from the token CA', async () => {
    const wrong = encodeJoinToken({ server: emu.kubeApi, caPem: emu.caPem /* the API CA, not the cluster CA */, token: 'abcdef.0123456789abcdef' });
    const w = await k0s(newRoot(wrong), 'worker', '--token-file=/etc/k0s/k0stoken');
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('cannot reach');
  });
});
