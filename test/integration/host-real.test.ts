/**
 * RealHost against the real OS: files in a temp dir, processes, loopback TCP.
 * Network traffic stays on 127.0.0.1.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealHost } from '../../agent/host/real.ts';
import { stuckListener } from '../helpers/stuck-listener.ts';

const h = new RealHost();
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'host-real-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true }); // test cleanup, not agent code
});

async function withUmask<T>(mask: number, f: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await f();
  } finally {
    process.umask(old);
  }
}

const modeOf = async (p: string) => (await fs.stat(p)).mode & 0o7777;

describe('RealHost files', () => {
  it.each([
    ['0600', '022'],
    ['0644', '077'], // umask would narrow 0644 to 0600: the mode must still be exact
    ['0640', '027'],
    ['0755', '022'],
  ])('writeFileAtomic creates the file with exactly mode %s under umask %s', async (m, u) => {
    const mode = parseInt(m, 8);
    const mask = parseInt(u, 8);
    const p = path.join(dir, `exact-${mode.toString(8)}-${mask.toString(8)}`);
    await withUmask(mask, () => h.writeFileAtomic(p, 'secret-ish\n', { mode }));
    expect(await modeOf(p)).toBe(mode);
    expect(await fs.readFile(p, 'utf8')).toBe('secret-ish\n');
  });

  it('replaces an existing looser file atomically with the new mode, leaving no temp file', async () => {
    const d = path.join(dir, 'replace');
    await fs.mkdir(d);
    const p = path.join(d, 'key');
    await fs.writeFile(p, 'old', { mode: 0o644 });
    await fs.chmod(p, 0o644);
    const before = (await fs.stat(p)).ino;
    await h.writeFileAtomic(p, Buffer.from('new'), { mode: 0o600 });
    expect(await fs.readFile(p, 'utf8')).toBe('new');
    expect(await modeOf(p)).toBe(0o600);
    expect((await fs.stat(p)).ino).not.toBe(before); // renamed over, not rewritten in place
    expect(await fs.readdir(d)).toEqual(['key']);
  });

  it('creates missing parents with dirMode', async () => {
    const p = path.join(dir, 'state', 'sub', 'x.json');
    await withUmask(0o022, () => h.writeFileAtomic(p, '{}', { mode: 0o600, dirMode: 0o700 }));
    expect((await fs.stat(path.join(dir, 'state', 'sub'))).isDirectory()).toBe(true);
    expect(await modeOf(path.join(dir, 'state', 'sub')) & 0o077).toBe(0); // not group/world accessible
  });

  it('a failed write throws and does not leave its temp file behind', async () => {
    const d = path.join(dir, 'fail');
    await fs.mkdir(path.join(d, 'target'), { recursive: true });
    await expect(h.writeFileAtomic(path.join(d, 'target'), 'x', { mode: 0o600 })).rejects.toThrow();
    expect(await fs.readdir(d)).toEqual(['target']);
  });

  it('many concurrent writes to one path leave one complete version and no temp files', async () => {
    const d = path.join(dir, 'race');
    await fs.mkdir(d);
    const p = path.join(d, 'f');
    await Promise.all(Array.from({ length: 20 }, (_, i) => h.writeFileAtomic(p, `v${i}`.repeat(1000), { mode: 0o600 })));
    expect(await fs.readFile(p, 'utf8')).toMatch(/^(v\d+)\1*$/);
    expect(await fs.readdir(d)).toEqual(['f']);
  });

  it('readFile: text, undefined when missing, throws on other errors', async () => {
    const p = path.join(dir, 'r.txt');
    await fs.writeFile(p, 'hello');
    expect(await h.readFile(p)).toBe('hello');
    expect(await h.readFile(path.join(dir, 'nope'))).toBeUndefined();
    await expect(h.readFile(dir)).rejects.toMatchObject({ code: 'EISDIR' });
    expect((await h.readFile('/proc/1/comm'))?.trim()).toMatch(/^\S+$/);
  });

  it('stat: permission bits, type, symlinks not followed', async () => {
    const p = path.join(dir, 's.txt');
    await h.writeFileAtomic(p, 'abc', { mode: 0o640 });
    expect(await h.stat(p)).toMatchObject({ mode: 0o640, size: 3, isFile: true, isDirectory: false, isSymlink: false, uid: process.getuid!() });
    const link = path.join(dir, 's.link');
    await fs.symlink(p, link);
    expect(await h.stat(link)).toMatchObject({ isSymlink: true, isFile: false });
    expect(await h.stat(path.join(dir, 'missing'))).toBeUndefined();
  });

  it('mkdir creates parents and is a no-op when the directory exists', async () => {
    const p = path.join(dir, 'a', 'b', 'c');
    await h.mkdir(p, 0o700);
    await h.mkdir(p, 0o700);
    expect((await fs.stat(p)).isDirectory()).toBe(true);
  });

  it('remove is never recursive', async () => {
    const d = path.join(dir, 'rm');
    await fs.mkdir(path.join(d, 'full'), { recursive: true });
    await fs.writeFile(path.join(d, 'full', 'keep'), 'data');
    await fs.mkdir(path.join(d, 'empty'));
    await fs.writeFile(path.join(d, 'file'), 'x');
    await fs.symlink(path.join(d, 'full'), path.join(d, 'link-to-full'));

    await expect(h.remove(path.join(d, 'full'))).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    expect(await fs.readFile(path.join(d, 'full', 'keep'), 'utf8')).toBe('data');

    await h.remove(path.join(d, 'link-to-full')); // removes the link, never what it points to
    expect(await fs.readFile(path.join(d, 'full', 'keep'), 'utf8')).toBe('data');

    await h.remove(path.join(d, 'empty'));
    await h.remove(path.join(d, 'file'));
    await h.remove(path.join(d, 'never-existed'));
    expect((await fs.readdir(d)).sort()).toEqual(['full']);
  });

  it('readdir lists names, [] for a missing directory', async () => {
    const d = path.join(dir, 'ls');
    await fs.mkdir(d);
    await fs.writeFile(path.join(d, 'b'), '');
    await fs.writeFile(path.join(d, 'a'), '');
    expect((await h.readdir(d)).sort()).toEqual(['a', 'b']);
    expect(await h.readdir(path.join(dir, 'no-such-dir'))).toEqual([]);
  });
});

describe('RealHost exec', () => {
  it('feeds stdin, passes env, returns stdout/stderr/exit code', async () => {
    const r = await h.exec('sh', ['-c', 'read line; echo "got:$line:$FOO"; echo oops >&2; exit 3'], { stdin: 'from-stdin\n', env: { FOO: 'bar' } });
    expect(r).toMatchObject({ exitCode: 3, stdout: 'got:from-stdin:bar\n', stderr: 'oops\n', timedOut: false, notFound: false });
  });

  it('gives the child a minimal environment: nothing of ours leaks', async () => {
    process.env.HOST_REAL_TEST_SECRET = 'do-not-leak';
    try {
      const r = await h.exec('env', []);
      expect(r.stdout).not.toContain('do-not-leak');
      expect(r.stdout).toMatch(/^PATH=/m);
      expect(r.stdout).toMatch(/^LC_ALL=C$/m);
    } finally {
      delete process.env.HOST_REAL_TEST_SECRET;
    }
  });

  it('runs in cwd', async () => {
    expect((await h.exec('pwd', [], { cwd: dir })).stdout.trim()).toBe(await fs.realpath(dir));
  });

  it('kills the child at the timeout and says so', async () => {
    const t0 = performance.now();
    const r = await h.exec('sleep', ['10'], { timeoutMs: 300 });
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).not.toBe(0);
  });

  it('reports a missing executable as notFound / 127 with a readable message', async () => {
    const r = await h.exec('no-such-binary-castai-test', ['x']);
    expect(r).toMatchObject({ notFound: true, exitCode: 127, timedOut: false });
    expect(r.stderr).toContain('no-such-binary-castai-test: not found');
  });

  it('reports death by signal as 128 + signal', async () => {
    const r = await h.exec('sh', ['-c', 'kill -KILL $$']);
    expect(r.exitCode).toBe(128 + 9);
  });

  it('argv is passed verbatim, never through a shell', async () => {
    const r = await h.exec('printf', ['%s|', '$(id)', 'a b', '*']);
    expect(r.stdout).toBe('$(id)|a b|*|');
  });
});

describe('RealHost network (loopback only)', () => {
  it('tcpProbe connects to a listening loopback server', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    try {
      const r = await h.tcpProbe('127.0.0.1', port, 2000);
      expect(r.ok).toBe(true);
      expect(r.error).toBeUndefined();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('tcpProbe to a closed loopback port fails fast with ECONNREFUSED', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((r) => server.close(r));
    const r = await h.tcpProbe('127.0.0.1', port, 2000);
    expect(r).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(r.durationMs).toBeLessThan(1000);
  });

  it('tcpProbe gives up at its timeout when SYNs go unanswered (listener stopped, accept queue full)', async () => {
    const stuck = await stuckListener();
    try {
      const t0 = performance.now();
      const r = await h.tcpProbe('127.0.0.1', stuck.port, 400);
      const took = performance.now() - t0;
      expect(r).toMatchObject({ ok: false, error: 'ETIMEDOUT' });
      expect(took).toBeGreaterThanOrEqual(390);
      expect(took).toBeLessThan(1500);
    } finally {
      stuck.close();
    }
  });

  it('resolve("localhost") returns loopback addresses; an invalid name fails with a code', async () => {
    const addrs = await h.resolve('localhost');
    expect(addrs.some((a) => a === '127.0.0.1' || a === '::1')).toBe(true);
    await expect(h.resolve('no-such-host.invalid')).rejects.toHaveProperty('code');
  });

  it('system() reports this machine', async () => {
    const f = await h.system();
    expect(f).toEqual({ kernelRelease: os.release(), machine: os.machine(), uid: process.getuid!(), hostname: os.hostname() });
  });
});
