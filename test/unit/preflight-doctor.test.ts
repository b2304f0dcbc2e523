import { describe, expect, it } from 'vitest';
import doctor, { parseSkip } from '../../agent/commands/doctor.ts';
import type { CommandContext } from '../../agent/commands/context.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { CHECK_NAMES } from '../../agent/preflight/preflight.ts';
import { REGISTER_FILE } from '../../agent/state/files.ts';

const STATE = '/srv/edge-state';

function host(): FakeHost {
  const h = new FakeHost();
  h.setFile('/proc/1/comm', 'systemd\n');
  h.setFile('/sys/fs/cgroup/cgroup.controllers', 'cpu memory pids\n');
  h.setFile('/proc/swaps', 'Filename Type Size Used Priority\n');
  h.setFile('/proc/sys/net/ipv4/ip_forward', '1\n');
  h.dirs.set('/sys/module/overlay', 0o755);
  h.dirs.set('/sys/module/br_netfilter', 0o755);
  h.setFile('/proc/net/tcp', '  sl  local_address rem_address   st\n');
  h.onExec('timedatectl show', { stdout: 'NTPSynchronized=yes\n' });
  h.dns.set('api.example.test', ['192.0.2.10']);
  h.tcp.set('api.example.test:443', { ok: true, durationMs: 2 });
  h.tcp.set('api.example.test:80', { ok: true, durationMs: 2 });
  return h;
}

function ctx(h: FakeHost, env: Record<string, string> = {}): CommandContext & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    host: h,
    env: { API_URL: 'https://api.example.test', INITD_STATE_DIR: STATE, ...env },
    json: false,
    out: (t) => void stdout.push(t),
    err: (t) => void stderr.push(t),
    stdout,
    stderr,
  };
}

describe('doctor', () => {
  it('prints the table and exits 0 when no ERROR check fails (WARN and SKIP do not block)', async () => {
    const h = host();
    h.setFile('/proc/sys/net/ipv4/ip_forward', '0\n');
    const c = ctx(h);
    expect(await doctor(c, {})).toBe(0);
    const text = c.stdout.join('');
    expect(text).toMatch(/^CHECK\s+STATUS\s+TIME\s+MESSAGE \/ FIX\n/);
    expect(text).toMatch(/\nip-forward\s+WARN\s+\d+ ms\s+net\.ipv4\.ip_forward = 0/);
    expect(text).toMatch(/\ndns-control-plane\s+SKIP\s+\d+ ms\s+not known until registration \(no \/srv\/edge-state\/register\.json yet\)/);
    expect(text).toContain('preflight OK: ');
    expect(h.mutations(new Set(['timedatectl']))).toEqual([]);
  });

  it('exits 3 when an ERROR check fails, and says which', async () => {
    const h = host();
    h.setFile('/proc/1/comm', 'process_api\n');
    const c = ctx(h);
    expect(await doctor(c, {})).toBe(3);
    const text = c.stdout.join('');
    expect(text).toMatch(/\nsystemd\s+FAIL\s+\d+ ms\s+PID 1 is "process_api", not systemd\n\s+fix: /);
    expect(text).toContain('preflight FAILED: ');
  });

  it('--json prints one JSON document with the report and the exit code', async () => {
    const h = host();
    h.facts.kernelRelease = '5.15.0-1034-aws';
    const c = ctx(h);
    expect(await doctor(c, { json: true, skip: ['tcp-api-80'] })).toBe(3);
    const doc = JSON.parse(c.stdout.join('')) as Record<string, unknown> & { checks: Array<Record<string, unknown>> };
    expect(doc).toMatchObject({ ok: false, exitCode: 3, deadlineMs: 5000, apiUrl: 'https://api.example.test', stateDir: STATE, warnings: [] });
    expect(Object.keys(doc).sort()).toEqual(['apiUrl', 'checks', 'counts', 'deadlineMs', 'durationMs', 'exitCode', 'ok', 'stateDir', 'warnings']);
    expect(doc.checks.map((x) => x.name)).toEqual(CHECK_NAMES);
    expect(doc.checks.find((x) => x.name === 'kernel')).toMatchObject({
      status: 'fail',
      severity: 'error',
      message: expect.stringContaining('older than 6.0'),
      remediation: expect.any(String),
    });
    expect(doc.checks.find((x) => x.name === 'tcp-api-80')).toMatchObject({ status: 'skip', message: 'skipped by --skip' });
    expect(c.stderr).toEqual([]);
  });

  it('reads the control-plane endpoints from register.json in the configured state dir', async () => {
    const h = host();
    h.setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify({ k0s: { apiEndpoint: 'https://cp.example.test:8443', konnectivityEndpoint: 'cp.example.test:8132' } }), 0o600);
    h.dns.set('cp.example.test', ['192.0.2.20']);
    h.tcp.set('cp.example.test:8443', { ok: true, durationMs: 1 });
    const c = ctx(h);
    expect(await doctor(c, { json: true })).toBe(3); // konnectivity refused
    const doc = JSON.parse(c.stdout.join('')) as { checks: Array<{ name: string; status: string; message: string }> };
    const get = (n: string) => doc.checks.find((x) => x.name === n)!;
    expect(get('tcp-control-plane-8443').status).toBe('pass');
    expect(get('tcp-konnectivity-8132')).toMatchObject({ status: 'fail', message: 'cannot connect to cp.example.test:8132: ECONNREFUSED' });
  });

  it('probes the HTTPS proxy instead of the API when one applies', async () => {
    const h = host();
    h.tcp.set('proxy.example.test:3128', { ok: true, durationMs: 1 });
    const c = ctx(h, { HTTPS_PROXY: 'http://proxy.example.test:3128' });
    await doctor(c, { json: true });
    expect(h.calls).toContainEqual({ kind: 'tcp', host: 'proxy.example.test', port: 3128 });
    expect(h.calls).not.toContainEqual({ kind: 'tcp', host: 'api.example.test', port: 443 });
  });

  it('--deadline bounds the run even when a probe hangs', async () => {
    const h = host();
    h.tcp.set('api.example.test:443', () => new Promise(() => {}));
    const c = ctx(h);
    const t0 = performance.now();
    expect(await doctor(c, { deadline: '250' })).toBe(3);
    expect(performance.now() - t0).toBeLessThan(250 + 250);
    expect(c.stdout.join('')).toMatch(/\ntcp-api-443\s+FAIL\s+\d+ ms\s+timed out after 250 ms\n/);
  });

  it('an unknown --skip name exits 2 and lists the valid names; nothing runs', async () => {
    const h = host();
    const c = ctx(h);
    expect(await doctor(c, { skip: ['swap', 'sytemd'] })).toBe(2);
    expect(c.stderr.join('')).toContain('doctor: --skip: unknown check "sytemd"; valid names: root, kernel, arch, systemd, cgroup-v2');
    expect(c.stdout).toEqual([]);
    expect(h.calls).toEqual([]);
  });

  it.each(['abc', '-5', '1e3', '0'])('a bad --deadline %j exits 2', async (d) => {
    const c = ctx(host());
    expect(await doctor(c, { deadline: d })).toBe(2);
    expect(c.stderr.join('')).toMatch(/^doctor: --deadline: deadline "/);
  });

  it('a configuration error exits 2 naming the variable, and runs no check', async () => {
    const h = host();
    const c = ctx(h, { API_URL: 'ftp://nope' });
    expect(await doctor(c, {})).toBe(2);
    expect(c.stderr.join('\n')).toContain('API_URL');
    expect(h.calls.filter((x) => x.kind === 'tcp' || x.kind === 'resolve')).toEqual([]);
  });

  it('prints configuration warnings (unknown INITD_* variable) to stderr, and still runs', async () => {
    const c = ctx(host(), { INITD_KUBERNETES_LABEL: 'a=b' });
    expect(await doctor(c, {})).toBe(0);
    expect(c.stderr.join('\n')).toMatch(/warning: .*INITD_KUBERNETES_LABEL.*did you mean INITD_KUBERNETES_LABELS/);
  });

  it('parseSkip accepts repeats and comma lists', () => {
    expect(parseSkip(undefined)).toEqual([]);
    expect(parseSkip('swap')).toEqual(['swap']);
    expect(parseSkip(['swap', 'root,arch', ' swap '])).toEqual(['swap', 'root', 'arch']);
  });
});
