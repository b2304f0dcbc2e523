import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';

describe('FakeHost', () => {
  it('returns exit 127 / notFound for an unscripted command, and records it', async () => {
    const h = new FakeHost();
    const r = await h.exec('lvcreate', ['-n', 'x']);
    expect(r).toMatchObject({ exitCode: 127, notFound: true, timedOut: false });
    expect(r.stderr).toContain('unscripted in FakeHost');
    expect(h.execLines()).toEqual(['lvcreate -n x']);
  });

  it('matches a script by command word plus argument prefix, and the latest script wins', async () => {
    const h = new FakeHost();
    h.onExec('ip', { stdout: 'any ip' });
    h.onExec('ip -j link', { stdout: 'json links' });
    expect((await h.exec('ip', ['-j', 'link', 'show'])).stdout).toBe('json links');
    expect((await h.exec('ip', ['addr'])).stdout).toBe('any ip');
    // 'ip' must not match 'ipset' or 'iptables'
    expect((await h.exec('ipset', ['list'])).notFound).toBe(true);
    h.onExec('ip', { stdout: 'newest' });
    expect((await h.exec('ip', ['-j', 'link'])).stdout).toBe('newest');
  });

  it('supports predicate matchers and responders that see argv and options', async () => {
    const h = new FakeHost();
    h.onExec((cmd, args) => cmd === 'wg' && args.includes('setconf'), (args, opts) => ({ stdout: `${args.join(',')}|${String(opts.stdin)}|${opts.env?.A}` }));
    const r = await h.exec('wg', ['setconf', 'wg0', '/dev/stdin'], { stdin: 'PrivateKey = x', env: { A: 'b' } });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'setconf,wg0,/dev/stdin|PrivateKey = x|b', notFound: false });
    expect(h.calls[0]).toEqual({ kind: 'exec', cmd: 'wg', args: ['setconf', 'wg0', '/dev/stdin'], stdin: 'PrivateKey = x', env: { A: 'b' } });
  });

  it('keeps an in-memory filesystem with modes, implicit parent dirs and readdir', async () => {
    const h = new FakeHost();
    h.setFile('/etc/k0s/k0stoken', 'tok', 0o600);
    expect(await h.readFile('/etc/k0s/k0stoken')).toBe('tok');
    expect(await h.readFile('/etc/missing')).toBeUndefined();
    expect(await h.stat('/etc/k0s/k0stoken')).toMatchObject({ isFile: true, mode: 0o600, size: 3 });
    expect(await h.stat('/etc/k0s')).toMatchObject({ isDirectory: true });
    expect(await h.stat('/etc/k0')).toBeUndefined();
    expect(await h.readdir('/etc')).toEqual(['k0s']);
    // setFile is test arrangement, not a mutation by the code under test
    expect(h.mutations()).toEqual([]);
  });

  it('records writes with their mode, creates parents, and lists mutations', async () => {
    const h = new FakeHost();
    await h.writeFileAtomic('/var/lib/castai-edge-initd/state.json', '{}', { mode: 0o600, dirMode: 0o700 });
    await h.exec('timedatectl', ['show']);
    await h.resolve('x.test').catch(() => undefined);
    expect(await h.stat('/var/lib/castai-edge-initd')).toMatchObject({ isDirectory: true, mode: 0o700 });
    expect(await h.stat('/var/lib/castai-edge-initd/state.json')).toMatchObject({ isFile: true, mode: 0o600 });
    expect(h.mutations(new Set(['timedatectl']))).toEqual([
      { kind: 'mkdir', path: '/var/lib/castai-edge-initd', mode: 0o700 },
      { kind: 'write', path: '/var/lib/castai-edge-initd/state.json', mode: 0o600, data: '{}' },
    ]);
    expect(h.mutations().map((c) => c.kind)).toEqual(['mkdir', 'write', 'exec']);
  });

  it('remove is never recursive: a non-empty directory is refused, like the real Host', async () => {
    const h = new FakeHost();
    h.setFile('/d/f', 'x');
    await expect(h.remove('/d')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    expect(await h.readFile('/d/f')).toBe('x');
    await h.remove('/d/f');
    await h.mkdir('/e', 0o755);
    await h.remove('/e');
    expect(await h.stat('/e')).toBeUndefined();
    await h.remove('/nonexistent'); // no-op, like the real Host
    expect(h.calls.filter((c) => c.kind === 'remove').map((c) => (c.kind === 'remove' ? c.path : ''))).toEqual(['/d', '/d/f', '/e', '/nonexistent']);
  });

  it('resolves scripted names, fails others with ENOTFOUND, and records lookups', async () => {
    const h = new FakeHost();
    h.dns.set('a.test', ['192.0.2.1']);
    h.dns.set('b.test', Object.assign(new Error('queryA ETIMEOUT b.test'), { code: 'ETIMEOUT' }));
    expect(await h.resolve('a.test')).toEqual(['192.0.2.1']);
    await expect(h.resolve('b.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    await expect(h.resolve('c.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(h.calls).toEqual([
      { kind: 'resolve', hostname: 'a.test' },
      { kind: 'resolve', hostname: 'b.test' },
      { kind: 'resolve', hostname: 'c.test' },
    ]);
  });

  it('tcpProbe: scripted results, functions receiving the timeout, refused by default', async () => {
    const h = new FakeHost();
    h.tcp.set('a.test:443', { ok: true, durationMs: 4 });
    let seen = 0;
    h.tcp.set('b.test:443', async (t) => { seen = t; return { ok: false, error: 'ETIMEDOUT', durationMs: t }; });
    expect(await h.tcpProbe('a.test', 443, 1000)).toEqual({ ok: true, durationMs: 4 });
    expect(await h.tcpProbe('b.test', 443, 750)).toEqual({ ok: false, error: 'ETIMEDOUT', durationMs: 750 });
    expect(seen).toBe(750);
    expect(await h.tcpProbe('c.test', 80, 1)).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(h.calls.map((c) => (c.kind === 'tcp' ? `${c.host}:${c.port}` : c.kind))).toEqual(['a.test:443', 'b.test:443', 'c.test:80']);
  });

  it('system() returns a copy of the scripted facts', async () => {
    const h = new FakeHost();
    h.facts.machine = 'aarch64';
    const f = await h.system();
    f.machine = 'mutated';
    expect((await h.system()).machine).toBe('aarch64');
  });
});
