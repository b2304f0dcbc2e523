import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { ConfigError } from '../../agent/errors.ts';
import { CHECKS, CHECK_NAMES, READ_ONLY_COMMANDS, inspect, plan } from '../../agent/preflight/preflight.ts';
import { listeningPorts } from '../../agent/preflight/checks.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { AgentError } from '../../agent/errors.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { preflightStep } from '../../agent/reconcile/steps/preflight.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { parseEndpoint } from '../../agent/preflight/runner.ts';
import { proxyFor } from '../../agent/preflight/proxy.ts';
import { renderTable } from '../../agent/preflight/render.ts';
import type { CheckDef, CheckResult, PreflightInput, PreflightReport } from '../../agent/preflight/types.ts';
import { DEFAULT_STATE_DIR, REGISTER_FILE } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
// 0.0.0.0:22 LISTEN, 127.0.0.1:36000 -> established
const TCP_SSH = `${TCP_HEADER}   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 0100007F:8CA0 0100007F:0016 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n`;
const TCP_KUBELET = `${TCP_HEADER}   0: 00000000:280A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n`;
const TCP6_KUBELET = `${TCP_HEADER}   0: 00000000000000000000000000000000:280A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0\n`;
// A real k0s worker join token (test fixture; server https://cp.example.test:8443, CA test/fixtures/k0s/ca.pem).
const JOIN_TOKEN = readFileSync(new URL('../fixtures/k0s/worker-token.txt', import.meta.url), 'utf8').trim();
const CA_SHA256 = new X509Certificate(readFileSync(new URL('../fixtures/k0s/ca.pem', import.meta.url))).fingerprint256.replace(/:/g, '').toLowerCase();
const REGISTER = JSON.stringify({ edge: { id: 'e1' }, k0s: { apiEndpoint: 'https://cp.example:8443', konnectivityEndpoint: 'cp.example:8132', joinToken: JOIN_TOKEN } });

/** A host on which every check passes. */
function healthyHost(): FakeHost {
  const h = new FakeHost();
  h.facts = { kernelRelease: '6.1.0-28-amd64', machine: 'x86_64', uid: 0, hostname: 'edge-1' };
  h.setFile('/proc/1/comm', 'systemd\n');
  h.setFile('/sys/fs/cgroup/cgroup.controllers', 'cpuset cpu io memory hugetlb pids rdma misc\n');
  h.setFile('/proc/swaps', 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n');
  h.setFile('/proc/sys/net/ipv4/ip_forward', '1\n');
  h.dirs.set('/sys/module/overlay', 0o755);
  h.dirs.set('/sys/module/br_netfilter', 0o755);
  h.setFile('/proc/net/tcp', TCP_SSH);
  h.setFile('/proc/net/tcp6', TCP_HEADER);
  h.setFile(`${STATE}/${REGISTER_FILE}`, REGISTER, 0o600);
  h.onExec('timedatectl show -p NTPSynchronized', { stdout: 'NTPSynchronized=yes\n' });
  h.dns.set('api.cast.ai', ['203.0.113.10', '2001:db8::10']);
  h.dns.set('cp.example', ['198.51.100.7']);
  for (const ep of ['api.cast.ai:443', 'api.cast.ai:80', 'cp.example:8443', 'cp.example:8132']) h.tcp.set(ep, { ok: true, durationMs: 3 });
  h.tls.set('cp.example.test:8443', { connected: true, authorized: true, chainSha256: ['1111111111111111aaaa', CA_SHA256], durationMs: 4 });
  return h;
}

function input(over: Partial<PreflightInput> = {}): PreflightInput {
  return { apiUrl: 'https://api.cast.ai', stateDir: STATE, skip: [], deadlineMs: 2000, ...over };
}

function byName(r: PreflightReport, name: string): CheckResult {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
}

describe('preflight checks', () => {
  it('has stable, unique kebab-case names, each with a severity and a one-line remediation', () => {
    expect(CHECK_NAMES).toEqual([
      'root', 'kernel', 'arch', 'systemd', 'cgroup-v2', 'swap', 'ip-forward', 'module-overlay', 'module-br-netfilter',
      'clock-sync', 'port-10250-free', 'leftover-kubelet', 'dns-api', 'tcp-api-443', 'tcp-api-80', 'dns-control-plane',
      'tcp-control-plane-8443', 'tls-control-plane-ca', 'tcp-konnectivity-8132', 'udp-wireguard-51840',
    ]);
    for (const c of CHECKS) {
      expect(c.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(['error', 'warn']).toContain(c.severity);
      expect(c.remediation.length).toBeGreaterThan(10);
      expect(c.remediation).not.toContain('\n');
    }
  });

  it('passes everything on a healthy, registered host and changes nothing', async () => {
    const h = healthyHost();
    const r = await inspect(h, input());
    const notPass = r.checks.filter((c) => c.status !== 'pass').map((c) => `${c.name}:${c.status}:${c.message}`);
    expect(notPass).toEqual([expect.stringMatching(/^udp-wireguard-51840:skip:.*verified by the WireGuard handshake after bring-up/)]);
    expect(r.ok).toBe(true);
    expect(r.counts).toEqual({ pass: 19, fail: 0, warn: 0, skip: 1 });
    expect(plan(r)).toEqual([]);
    expect(h.mutations(READ_ONLY_COMMANDS)).toEqual([]);
    expect(h.execLines()).toEqual(['timedatectl show -p NTPSynchronized']);
    expect(byName(r, 'arch').message).toBe('amd64 (uname -m: x86_64)');
    expect(byName(r, 'kernel').message).toBe('6.1.0-28-amd64 (6.1.0)');
    expect(byName(r, 'dns-control-plane').message).toBe('cp.example -> 198.51.100.7');
    expect(byName(r, 'tcp-konnectivity-8132').message).toContain('connected to cp.example:8132');
    for (const c of r.checks) expect(c.remediation).toBeUndefined();
  });

  type Case = {
    name: string;
    check: string;
    status: 'fail' | 'warn' | 'skip' | 'pass';
    msg: RegExp;
    fix?: RegExp;
    arrange: (h: FakeHost) => void;
    inp?: Partial<PreflightInput>;
  };
  const cases: Case[] = [
    { name: 'not root', check: 'root', status: 'fail', msg: /running as uid 1000, not root/, fix: /sudo/, arrange: (h) => void (h.facts.uid = 1000) },
    {
      name: 'old kernel',
      check: 'kernel',
      status: 'fail',
      msg: /kernel 5\.15\.0-1034-aws \(5\.15\.0\) is older than 6\.0/,
      fix: /kernel 6\.0 or newer/,
      arrange: (h) => void (h.facts.kernelRelease = '5.15.0-1034-aws'),
    },
    { name: '4.19', check: 'kernel', status: 'fail', msg: /older than 6\.0/, arrange: (h) => void (h.facts.kernelRelease = '4.19.0') },
    {
      name: 'garbage kernel',
      check: 'kernel',
      status: 'fail',
      msg: /cannot parse kernel release "banana"/,
      arrange: (h) => void (h.facts.kernelRelease = 'banana'),
    },
    {
      name: '6.18 firecracker',
      check: 'kernel',
      status: 'pass',
      msg: /6\.18\.44-fc-v595 \(6\.18\.44\)/,
      arrange: (h) => void (h.facts.kernelRelease = '6.18.44-fc-v595'),
    },
    { name: 'aarch64', check: 'arch', status: 'pass', msg: /^arm64 \(uname -m: aarch64\)$/, arrange: (h) => void (h.facts.machine = 'aarch64') },
    {
      name: 'riscv',
      check: 'arch',
      status: 'fail',
      msg: /unsupported architecture "riscv64"; need x86_64 or aarch64/,
      arrange: (h) => void (h.facts.machine = 'riscv64'),
    },
    {
      name: 'PID 1 not systemd',
      check: 'systemd',
      status: 'fail',
      msg: /^PID 1 is "process_api", not systemd$/,
      fix: /systemd as init/,
      arrange: (h) => void h.setFile('/proc/1/comm', 'process_api\n'),
    },
    { name: 'no /proc/1/comm', check: 'systemd', status: 'fail', msg: /cannot read \/proc\/1\/comm/, arrange: (h) => void h.files.delete('/proc/1/comm') },
    {
      name: 'hybrid cgroups',
      check: 'cgroup-v2',
      status: 'fail',
      msg: /hybrid cgroup layout/,
      fix: /unified_cgroup_hierarchy=1/,
      arrange: (h) => {
        h.files.delete('/sys/fs/cgroup/cgroup.controllers');
        h.setFile('/sys/fs/cgroup/unified/cgroup.controllers', '');
      },
    },
    {
      name: 'cgroup v1 only',
      check: 'cgroup-v2',
      status: 'fail',
      msg: /cgroup v2 is not mounted/,
      arrange: (h) => void h.files.delete('/sys/fs/cgroup/cgroup.controllers'),
    },
    {
      name: 'no memory controller',
      check: 'cgroup-v2',
      status: 'fail',
      msg: /without the memory controller \(controllers: cpu pids\)/,
      fix: /cgroup_enable=memory/,
      arrange: (h) => void h.setFile('/sys/fs/cgroup/cgroup.controllers', 'cpu pids\n'),
    },
    {
      name: 'swap on',
      check: 'swap',
      status: 'warn',
      msg: /swap is on: \/dev\/vda2, \/swapfile/,
      fix: /swapoff -a/,
      arrange: (h) => void h.setFile('/proc/swaps', 'Filename Type Size Used Priority\n/dev/vda2 partition 1048572 0 -2\n/swapfile file 1024 0 -3\n'),
    },
    {
      name: 'ip_forward 0',
      check: 'ip-forward',
      status: 'warn',
      msg: /net\.ipv4\.ip_forward = 0/,
      fix: /the k0s step sets it \(sysctl -w, and \/etc\/sysctl\.d\/99-castai-edge-initd\.conf/,
      arrange: (h) => void h.setFile('/proc/sys/net/ipv4/ip_forward', '0\n'),
    },
    { name: 'clock not synced', check: 'clock-sync', status: 'warn', msg: /NTPSynchronized=no/, fix: /timedatectl set-ntp true/, arrange: (h) => void h.onExec('timedatectl', { stdout: 'NTPSynchronized=no\n' }) },
    { name: 'timedatectl missing', check: 'clock-sync', status: 'warn', msg: /timedatectl not found/, arrange: (h) => void h.onExec('timedatectl', { exitCode: 127, notFound: true }) },
    { name: 'timedatectl fails', check: 'clock-sync', status: 'warn', msg: /timedatectl failed \(exit 1\): Failed to connect to bus/, arrange: (h) => void h.onExec('timedatectl', { exitCode: 1, stderr: 'Failed to connect to bus: No such file or directory\n' }) },
    { name: 'clock-sync without systemd', check: 'clock-sync', status: 'skip', msg: /no systemd \(PID 1 is "process_api"\)/, arrange: (h) => void h.setFile('/proc/1/comm', 'process_api\n') },
    { name: '10250 busy (tcp)', check: 'port-10250-free', status: 'fail', msg: /something already listens on TCP :10250/, fix: /ss -ltnp/, arrange: (h) => { h.setFile('/proc/net/tcp', TCP_KUBELET); h.files.delete(`${STATE}/${REGISTER_FILE}`); } },
    { name: '10250 busy (tcp6)', check: 'port-10250-free', status: 'fail', msg: /already listens/, arrange: (h) => void h.setFile('/proc/net/tcp6', TCP6_KUBELET) },
    { name: '10250 ours', check: 'port-10250-free', status: 'pass', msg: /already joined by castai-edge-initd/, arrange: (h) => { h.setFile('/proc/net/tcp', TCP_KUBELET); h.setFile(KUBELET_CONF, 'apiVersion: v1\n'); } },
    {
      name: 'leftover k0s kubelet', check: 'leftover-kubelet', status: 'fail', msg: /\/var\/lib\/k0s\/kubelet\.conf exists but \/var\/lib\/castai-edge-initd holds no register\.json/, fix: /castai-edge-initd reset --yes-really-reset \(or k0s reset\)/,
      arrange: (h) => { h.setFile(KUBELET_CONF, 'x'); h.files.delete(`${STATE}/${REGISTER_FILE}`); },
    },
    { name: 'our own kubelet.conf', check: 'leftover-kubelet', status: 'pass', msg: /belongs to this agent/, arrange: (h) => void h.setFile(KUBELET_CONF, 'x') },
    { name: 'kubeadm leftover', check: 'leftover-kubelet', status: 'fail', msg: /\/etc\/kubernetes\/kubelet\.conf exists/, fix: /kubeadm reset/, arrange: (h) => void h.setFile('/etc/kubernetes/kubelet.conf', 'x') },
    { name: 'dns api fails', check: 'dns-api', status: 'fail', msg: /^cannot resolve api\.cast\.ai: ENOTFOUND$/, fix: /resolv\.conf/, arrange: (h) => void h.dns.delete('api.cast.ai') },
    { name: 'api is an IP', check: 'dns-api', status: 'pass', msg: /192\.0\.2\.1 is an IP address/, arrange: (h) => void h.tcp.set('192.0.2.1:443', { ok: true, durationMs: 1 }), inp: { apiUrl: 'https://192.0.2.1' } },
    { name: 'api 443 refused', check: 'tcp-api-443', status: 'fail', msg: /cannot connect to api\.cast\.ai:443: ECONNREFUSED/, fix: /outbound TCP 443/, arrange: (h) => void h.tcp.delete('api.cast.ai:443') },
    { name: 'api custom port', check: 'tcp-api-443', status: 'pass', msg: /connected to api\.cast\.ai:8443/, arrange: (h) => void h.tcp.set('api.cast.ai:8443', { ok: true, durationMs: 1 }), inp: { apiUrl: 'https://api.cast.ai:8443' } },
    { name: 'api 80 refused is a WARN', check: 'tcp-api-80', status: 'warn', msg: /cannot connect to api\.cast\.ai:80/, arrange: (h) => void h.tcp.delete('api.cast.ai:80') },
    { name: 'no API_URL', check: 'tcp-api-443', status: 'skip', msg: /API_URL is not set/, arrange: () => {}, inp: { apiUrl: undefined } },
    {
      name: 'api through proxy',
      check: 'tcp-api-443',
      status: 'pass',
      msg: /connected to proxy\.corp:3128 \(HTTPS proxy for api\.cast\.ai\)/,
      arrange: (h) => void h.tcp.set('proxy.corp:3128', { ok: true, durationMs: 1 }),
      inp: { apiProxy: 'http://user:pw@proxy.corp:3128' },
    },
    { name: 'dns through proxy', check: 'dns-api', status: 'skip', msg: /^the API is reached through proxy http:\/\/proxy\.corp:3128, which resolves api\.cast\.ai$/, arrange: () => {}, inp: { apiProxy: 'http://user:pw@proxy.corp:3128' } },
    { name: 'cp not registered', check: 'dns-control-plane', status: 'skip', msg: /^not known until registration \(no \/var\/lib\/castai-edge-initd\/register\.json yet\)$/, arrange: (h) => void h.files.delete(`${STATE}/${REGISTER_FILE}`) },
    { name: 'cp 8443 not registered', check: 'tcp-control-plane-8443', status: 'skip', msg: /not known until registration/, arrange: (h) => void h.files.delete(`${STATE}/${REGISTER_FILE}`) },
    { name: 'konnectivity not registered', check: 'tcp-konnectivity-8132', status: 'skip', msg: /not known until registration/, arrange: (h) => void h.files.delete(`${STATE}/${REGISTER_FILE}`) },
    { name: 'cp unresolvable', check: 'dns-control-plane', status: 'fail', msg: /cannot resolve cp\.example: ENOTFOUND/, arrange: (h) => void h.dns.delete('cp.example') },
    { name: 'cp 8443 refused', check: 'tcp-control-plane-8443', status: 'fail', msg: /cannot connect to cp\.example:8443: ECONNREFUSED/, fix: /8443/, arrange: (h) => void h.tcp.delete('cp.example:8443') },
    { name: 'konnectivity refused', check: 'tcp-konnectivity-8132', status: 'fail', msg: /cannot connect to cp\.example:8132: EHOSTUNREACH/, fix: /8132/, arrange: (h) => void h.tcp.set('cp.example:8132', { ok: false, error: 'EHOSTUNREACH', durationMs: 1 }) },
    {
      name: 'endpoints given in input win', check: 'tcp-control-plane-8443', status: 'pass', msg: /connected to 10\.0\.0\.5:6443/,
      arrange: (h) => { h.files.delete(`${STATE}/${REGISTER_FILE}`); h.tcp.set('10.0.0.5:6443', { ok: true, durationMs: 1 }); },
      inp: { controlPlane: { host: '10.0.0.5', port: 6443 }, konnectivity: { host: '10.0.0.5', port: 8132 } },
    },
    {
      name: 'CA pinned',
      check: 'tls-control-plane-ca',
      status: 'pass',
      msg: /^cp\.example\.test:8443 presents a chain signed by the cluster CA \(sha256 [0-9a-f]{16}…\)$/,
      arrange: () => {},
    },
    { name: 'TLS refused', check: 'tls-control-plane-ca', status: 'fail', msg: /^no TLS handshake with cp\.example\.test:8443: ECONNREFUSED$/, fix: /outbound TCP 8443/, arrange: (h) => void h.tls.delete('cp.example.test:8443') },
    { name: 'TLS not registered', check: 'tls-control-plane-ca', status: 'skip', msg: /^not known until registration \(no \/var\/lib\/castai-edge-initd\/register\.json yet\)$/, arrange: (h) => void h.files.delete(`${STATE}/${REGISTER_FILE}`) },
    {
      name: 'register.json without token', check: 'tls-control-plane-ca', status: 'skip', msg: /no k0s\.joinToken in \/var\/lib\/castai-edge-initd\/register\.json/,
      arrange: (h) => void h.setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify({ k0s: { apiEndpoint: 'https://cp.example:8443' } })),
    },
    {
      name: 'controller token refused', check: 'tls-control-plane-ca', status: 'fail', msg: /join token in .* cannot be used: .*not a worker join token/,
      arrange: (h) => {
        const joinToken = readFileSync(new URL('../fixtures/k0s/controller-token.txt', import.meta.url), 'utf8').trim();
        h.setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify({ k0s: { joinToken } }));
      },
    },
    { name: 'register.json broken', check: 'tcp-control-plane-8443', status: 'fail', msg: /register\.json is not valid JSON/, fix: /move aside/, arrange: (h) => void h.setFile(`${STATE}/${REGISTER_FILE}`, '{"k0s":') },
    {
      name: 'register.json bad endpoint', check: 'tcp-konnectivity-8132', status: 'fail', msg: /cannot parse k0s\.konnectivityEndpoint "cp example:x"/,
      arrange: (h) => void h.setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify({ k0s: { apiEndpoint: 'https://cp.example:8443', konnectivityEndpoint: 'cp example:x' } })),
    },
  ];

  it.each(cases)('$check: $name -> $status', async ({ check, status, msg, fix, arrange, inp }) => {
    const h = healthyHost();
    arrange(h);
    const r = await inspect(h, input(inp));
    const c = byName(r, check);
    expect({ status: c.status, message: c.message }).toEqual({ status, message: expect.stringMatching(msg) });
    if (status === 'fail' || status === 'warn') {
      expect(c.remediation).toMatch(/\w.{9,}/);
      if (fix) expect(c.remediation).toMatch(fix);
    } else expect(c.remediation).toBeUndefined();
    expect(r.ok).toBe(!r.checks.some((x) => x.status === 'fail'));
    expect(h.mutations(READ_ONLY_COMMANDS)).toEqual([]);
  });

  it('never puts proxy credentials in a message', async () => {
    const h = healthyHost();
    const r = await inspect(h, input({ apiProxy: 'http://alice:s3cretpw@proxy.corp:3128' }));
    expect(JSON.stringify(r)).not.toContain('s3cretpw');
  });

  it('never puts the join token or its bootstrap token in the report', async () => {
    const h = healthyHost();
    h.tls.set('cp.example.test:8443', { connected: true, authorized: false, error: 'SELF_SIGNED_CERT_IN_CHAIN', chainSha256: ['ab'], durationMs: 1 });
    const text = JSON.stringify(await inspect(h, input())) + renderTable(await inspect(h, input()));
    expect(text).toContain('tls-control-plane-ca');
    expect(text).not.toContain(JOIN_TOKEN.slice(0, 40));
    expect(text).not.toContain('0123456789abcdef'); // the fixture's bootstrap token secret half
  });

  it('reports a WARN-severity failure as warn and an ERROR-severity failure as fail; plan() lists only the blocking ones', async () => {
    const h = healthyHost();
    h.facts.uid = 1000;
    h.setFile('/proc/swaps', 'Filename Type Size Used Priority\n/swapfile file 1 0 -2\n');
    const r = await inspect(h, input());
    expect(byName(r, 'swap').status).toBe('warn');
    expect(byName(r, 'root').status).toBe('fail');
    expect(r.ok).toBe(false);
    const findings = plan(r);
    expect(findings).toEqual([
      { kind: 'preflight.blocked', check: 'root', description: 'root: running as uid 1000, not root', reason: expect.stringContaining('sudo') },
    ]);
    // pure: same input, same output, input untouched
    const copy = structuredClone(r);
    expect(plan(r)).toEqual(findings);
    expect(r).toEqual(copy);
  });

  it('turns a check that throws into a failure instead of crashing the run', async () => {
    const boom: CheckDef = { name: 'boom', severity: 'error', title: 'boom', remediation: 'report a bug', run: () => { throw new Error('kaput'); } };
    const r = await inspect(healthyHost(), input(), [boom, ...CHECKS]);
    expect(byName(r, 'boom')).toMatchObject({ status: 'fail', message: 'check failed unexpectedly: kaput', remediation: 'report a bug' });
    expect(byName(r, 'root').status).toBe('pass');
  });

  it('a readFile that throws (EACCES) fails only that check', async () => {
    const h = healthyHost();
    const orig = h.readFile.bind(h);
    h.readFile = async (p: string) => {
      if (p === '/proc/swaps') throw Object.assign(new Error("EACCES: permission denied, open '/proc/swaps'"), { code: 'EACCES' });
      return orig(p);
    };
    const r = await inspect(h, input());
    expect(byName(r, 'swap')).toMatchObject({ status: 'warn', message: expect.stringContaining('EACCES') });
    expect(r.counts.pass).toBe(18);
  });
});

describe('--skip', () => {
  it('skips the named checks, reports them as skipped, and does not run them', async () => {
    const h = healthyHost();
    h.facts.uid = 1000; // would fail
    const r = await inspect(h, input({ skip: ['root', 'tcp-api-443', 'clock-sync'] }));
    for (const n of ['root', 'tcp-api-443', 'clock-sync']) expect(byName(r, n)).toMatchObject({ status: 'skip', message: 'skipped by --skip', durationMs: 0 });
    expect(r.ok).toBe(true);
    expect(h.calls.filter((c) => c.kind === 'tcp').map((c) => (c.kind === 'tcp' ? `${c.host}:${c.port}` : ''))).not.toContain('api.cast.ai:443');
    expect(h.execLines()).toEqual([]);
  });

  it('rejects an unknown name with a ConfigError listing the valid names', async () => {
    const err = await inspect(healthyHost(), input({ skip: ['swap', 'rooot'] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.problems).toHaveLength(1);
    expect(ce.problems[0]).toMatchObject({ variable: '--skip', item: 'rooot' });
    expect(ce.problems[0]!.message).toContain('unknown check "rooot"; valid names: root, kernel, arch, systemd,');
    expect(ce.problems[0]!.message).toContain('udp-wireguard-51840');
  });

  it.each([0, -1, 1.5, Number.NaN, 600_001])('rejects deadline %s', async (d) => {
    const err = await inspect(healthyHost(), input({ deadlineMs: d })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toMatchObject({ variable: '--deadline' });
  });
});

describe('one deadline', () => {
  const never = <T>() => new Promise<T>(() => {});

  it('a hanging tcpProbe and a hanging resolve end the run at the deadline, reported as timed out', async () => {
    const h = healthyHost();
    h.tcp.set('cp.example:8443', () => never());
    h.tcp.set('api.cast.ai:443', () => never());
    h.resolve = () => never();
    const deadlineMs = 300;
    const t0 = performance.now();
    const r = await inspect(h, input({ deadlineMs }));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(deadlineMs - 5);
    expect(took).toBeLessThan(deadlineMs + 250);
    for (const n of ['tcp-control-plane-8443', 'tcp-api-443', 'dns-api', 'dns-control-plane']) {
      expect(byName(r, n)).toMatchObject({ status: 'fail', message: 'timed out after 300 ms', timedOut: true });
      expect(byName(r, n).durationMs).toBeGreaterThanOrEqual(deadlineMs - 5);
      expect(byName(r, n).remediation).toMatch(/\w.{9,}/);
    }
    expect(byName(r, 'root')).toMatchObject({ status: 'pass', timedOut: false });
    expect(byName(r, 'tcp-konnectivity-8132').status).toBe('pass');
    expect(r.ok).toBe(false);
    expect(r.deadlineMs).toBe(300);
  });

  it('a hanging WARN check (timedatectl) times out as warn and does not block', async () => {
    const h = healthyHost();
    h.onExec('timedatectl', () => never());
    const r = await inspect(h, input({ deadlineMs: 200 }));
    expect(byName(r, 'clock-sync')).toMatchObject({ status: 'warn', message: 'timed out after 200 ms', timedOut: true });
    expect(r.ok).toBe(true);
  });

  it('hands probes and commands the remaining time as their own timeout', async () => {
    const h = healthyHost();
    const seen: number[] = [];
    h.tcp.set('api.cast.ai:443', async (t) => { seen.push(t); return { ok: true, durationMs: 1 }; });
    let execTimeout: number | undefined;
    h.onExec('timedatectl', (_a, o) => { execTimeout = o.timeoutMs; return { stdout: 'NTPSynchronized=yes\n' }; });
    await inspect(h, input({ deadlineMs: 4000 }));
    expect(seen[0]).toBeGreaterThan(3500);
    expect(seen[0]).toBeLessThanOrEqual(4000);
    expect(execTimeout).toBeGreaterThan(3500);
    expect(execTimeout).toBeLessThanOrEqual(4000);
  });

  it('checks run in parallel: five 150 ms checks finish in about 150 ms, not 750', async () => {
    const slow = (name: string): CheckDef => ({
      name, severity: 'error', title: name, remediation: 'n/a',
      run: () => new Promise((res) => setTimeout(() => res({ ok: true, message: 'slow ok' }), 150)),
    });
    const t0 = performance.now();
    const r = await inspect(healthyHost(), input({ deadlineMs: 1000 }), ['a', 'b', 'c', 'd', 'e'].map(slow));
    expect(performance.now() - t0).toBeLessThan(450);
    expect(r.counts.pass).toBe(5);
  });

  it('does not leave its deadline timer behind when everything finishes early', async () => {
    const r = await inspect(healthyHost(), input({ deadlineMs: 60_000 }));
    expect(r.durationMs).toBeLessThan(1000);
  });
});

describe('report shapes', () => {
  it('serialises to the documented JSON shape', async () => {
    const h = healthyHost();
    h.setFile('/proc/1/comm', 'process_api\n');
    const r = JSON.parse(JSON.stringify(await inspect(h, input()))) as Record<string, unknown>;
    expect(Object.keys(r).sort()).toEqual(['checks', 'counts', 'deadlineMs', 'durationMs', 'ok']);
    const checks = r.checks as Array<Record<string, unknown>>;
    expect(checks).toHaveLength(CHECKS.length);
    const sd = checks.find((c) => c.name === 'systemd')!;
    expect(sd).toEqual({
      name: 'systemd', title: 'systemd is PID 1', severity: 'error', status: 'fail',
      message: 'PID 1 is "process_api", not systemd', remediation: expect.any(String), durationMs: expect.any(Number), timedOut: false,
    });
    const rootCheck = checks.find((c) => c.name === 'root')!;
    expect(Object.keys(rootCheck).sort()).toEqual(['durationMs', 'message', 'name', 'severity', 'status', 'timedOut', 'title']);
  });

  it('renders an aligned table with the fix under failed rows', async () => {
    const h = healthyHost();
    h.setFile('/proc/1/comm', 'process_api\n');
    h.setFile('/proc/swaps', 'Filename Type Size Used Priority\n/swapfile file 1 0 -2\n');
    const text = renderTable(await inspect(h, input()));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^CHECK\s+STATUS\s+TIME\s+MESSAGE \/ FIX$/);
    const statusCol = lines[0]!.indexOf('STATUS');
    const rows = lines.filter((l) => /^[a-z]/.test(l) && !l.startsWith('preflight '));
    expect(rows).toHaveLength(CHECKS.length);
    for (const row of rows) expect(row.slice(statusCol, statusCol + 4)).toMatch(/^(PASS|FAIL|WARN|SKIP)$/);
    const i = lines.findIndex((l) => l.startsWith('systemd '));
    expect(lines[i]).toContain('FAIL');
    expect(lines[i]).toContain('PID 1 is "process_api", not systemd');
    expect(lines[i + 1]).toMatch(/^\s+fix: boot with systemd as init/);
    const msgCol = lines[0]!.indexOf('MESSAGE');
    expect(lines[i + 1]!.indexOf('fix:')).toBe(msgCol);
    expect(text).toMatch(/preflight FAILED: 16 passed, 1 failed, 1 warning, 2 skipped in \d+ ms \(deadline 2000 ms\)/);
  });
});

describe('helpers', () => {
  it('listeningPorts reads LISTEN sockets only, v4 and v6', () => {
    expect([...listeningPorts(TCP_SSH)]).toEqual([22]);
    expect([...listeningPorts(TCP_KUBELET)]).toEqual([10250]);
    expect([...listeningPorts(TCP6_KUBELET)]).toEqual([10250]);
    expect([...listeningPorts('')]).toEqual([]);
  });

  it.each([
    ['https://cp.example:8443', undefined, { host: 'cp.example', port: 8443 }],
    ['cp.example:8132', undefined, { host: 'cp.example', port: 8132 }],
    ['[2001:db8::1]:8132', undefined, { host: '2001:db8::1', port: 8132 }],
    ['https://cp.example', undefined, { host: 'cp.example', port: 443 }],
    ['cp.example', 8132, { host: 'cp.example', port: 8132 }],
    ['cp.example', undefined, undefined],
    ['cp example:1', undefined, undefined],
    ['cp.example:0', undefined, undefined],
    ['', 1, undefined],
  ] as const)('parseEndpoint(%j, %j)', (s, d, want) => {
    expect(parseEndpoint(s, d)).toEqual(want);
  });

  it.each([
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128' }, 'http://p:3128'],
    ['https://api.cast.ai', { httpProxy: 'http://p:3128' }, undefined],
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128', noProxy: 'localhost,.cast.ai' }, undefined],
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128', noProxy: 'cast.ai' }, undefined],
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128', noProxy: '*' }, undefined],
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128', noProxy: 'api.cast.ai:8443' }, 'http://p:3128'],
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128', noProxy: 'notcast.ai,st.ai' }, 'http://p:3128'],
    ['https://api.cast.ai', { httpsProxy: 'http://p:3128', noProxy: 'xcast.ai' }, 'http://p:3128'],
  ] as const)('proxyFor(%j, %j)', (url, proxy, want) => {
    expect(proxyFor(url, proxy)).toBe(want);
  });
});

describe('the preflight step in the daemon: full until joined, then local checks with network checks every 10 min', () => {
  const probes = (h: FakeHost) => h.calls.filter((c) => c.kind === 'tcp' || c.kind === 'tls' || c.kind === 'resolve' || c.kind === 'exec');
  function ctxFor(h: FakeHost, k0sActive?: boolean) {
    const lines: string[] = [];
    const ctx = {
      host: h,
      cfg: { apiUrl: 'https://api.cast.ai', proxy: {}, stateDir: STATE },
      log: createLogger({ write: (l) => lines.push(l), pretty: false, level: 'info' }),
      signal: new AbortController().signal,
      shared: { extraLabels: {}, ...(k0sActive === undefined ? {} : { k0sActive }) },
    } as unknown as StepContext;
    return { ctx, lines };
  }
  const cpDown = (h: FakeHost) => h.tcp.set('cp.example:8443', { ok: false, error: 'ETIMEDOUT', durationMs: 2000 });

  it('not joined yet: every check runs and a network failure blocks the pass', async () => {
    const h = healthyHost();
    cpDown(h);
    const { ctx } = ctxFor(h);
    const e = await preflightStep().run(ctx).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentError);
    expect((e as AgentError).message).toMatch(/tcp-control-plane-8443: cannot connect to cp\.example:8443: ETIMEDOUT/);
  });

  it('joined: the first pass runs the network checks but only warns; the next passes run no probe and no process until 10 min have passed', async () => {
    const h = healthyHost();
    cpDown(h);
    let t = 1_000_000;
    const step = preflightStep({ now: () => t });
    const { ctx, lines } = ctxFor(h, true);
    const r1 = await step.run(ctx);
    expect(r1.summary).toMatch(/joined: network checks warn only/);
    expect(lines.some((l) => l.includes('preflight tcp-control-plane-8443 (node already joined, so a warning): cannot connect to cp.example:8443'))).toBe(true);
    expect(probes(h).some((c) => c.kind === 'tcp')).toBe(true);

    h.calls.length = 0;
    t += 60_000;
    const r2 = await step.run(ctx);
    expect(probes(h)).toEqual([]);
    expect(r2.summary).toMatch(/network and clock checks every 10 min, next in 9 min\)$/);

    t += 9 * 60_000;
    h.calls.length = 0;
    await step.run(ctx);
    expect(probes(h).map((c) => c.kind)).toEqual(expect.arrayContaining(['tcp', 'tls', 'resolve', 'exec']));
  });

  it('joined: a local ERROR check still blocks', async () => {
    const h = healthyHost();
    h.setFile('/proc/1/comm', 'init\n');
    const { ctx } = ctxFor(h, true);
    await expect(preflightStep().run(ctx)).rejects.toThrow(/systemd: PID 1 is "init", not systemd/);
  });

  it("a process's first pass after a reboot: our register.json plus k0s's kubelet.conf count as joined", async () => {
    const h = healthyHost();
    cpDown(h);
    h.setFile(KUBELET_CONF, 'apiVersion: v1\n');
    const { ctx } = ctxFor(h);
    const r = await preflightStep().run(ctx);
    expect(r.summary).toMatch(/warn only/);
  });

  it('`plan` (and --skip of a periodic check) always runs the full set', async () => {
    const h = healthyHost();
    cpDown(h);
    const { ctx } = ctxFor(h, true);
    // `plan` refuses (a typed refusal: the step's plan carries the error `run` would raise).
    const refused = await preflightStep().plan(ctx);
    expect(refused.error?.message).toMatch(/tcp-control-plane-8443/);
    const skipping = preflightStep({ skip: ['tcp-control-plane-8443'], now: () => 0 });
    await skipping.run(ctx); // periodic pass: the skip applies
    h.calls.length = 0;
    await expect(skipping.run(ctx)).resolves.toMatchObject({ state: 'done' }); // steady pass: the skip names a check not in the set; no error
  });
});
