/**
 * The single binaries `make build` writes to dist/ (issue 2, item 3):
 *  - amd64 runs here: version, --help with all 8 commands, a bad command exits 2;
 *  - arm64 runs under qemu-aarch64-static with the Debian arm64 sysroot
 *    (.cache/arm64-sysroot, made by `make arm64-sysroot`, a prerequisite of test-integration);
 *  - the .sha256 files verify and .xz/.gz decompress to the identical binary;
 *  - a probe program built by the same pipeline (scripts/build.ts) really uses
 *    execa, pino, systeminformation, undici, dotenv and commander inside a SEA,
 *    natively with code cache (amd64) and under qemu without (arm64).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIST = path.join(ROOT, 'dist');
const AMD64 = path.join(DIST, 'castai-edge-initd-linux-amd64');
const ARM64 = path.join(DIST, 'castai-edge-initd-linux-arm64');
const SYSROOT = path.join(ROOT, '.cache/arm64-sysroot');
const QEMU = '/usr/bin/qemu-aarch64-static';
const PKG_VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const COMMANDS = ['run', 'plan', 'doctor', 'status', 'config', 'inventory', 'reset', 'version'];

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, cwd: opts.cwd ?? ROOT });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function qemuArgs(bin: string, args: string[]): string[] {
  return ['-L', SYSROOT, bin, ...args];
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** sha256 of `tool -dc file` (streamed: the binaries are ~100 MiB). */
function sha256Decompressed(tool: 'xz' | 'gzip', file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    const p = spawn(tool, ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stdout.on('data', (d: Buffer) => h.update(d));
    p.stderr.on('data', (d: Buffer) => void (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(h.digest('hex')) : reject(new Error(`${tool} -dc ${file} exited ${code}: ${err}`))));
  });
}

beforeAll(() => {
  for (const f of [AMD64, ARM64]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run make build (test-integration depends on it)`);
  }
});

describe('amd64 binary', () => {
  it('prints the package.json version and exits 0', () => {
    const r = run(AMD64, ['version']);
    expect(r.code).toBe(0);
    // castai-edge-initd 0.1.0-gabc1234 (commit <sha>, node 24.21.0, linux/amd64)
    const m = /^castai-edge-initd (\S+) \(commit (\S+), node (\S+), linux\/amd64\)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [, version, commit, node] = m as RegExpExecArray;
    expect(version === PKG_VERSION || version?.startsWith(`${PKG_VERSION}-g`)).toBe(true);
    expect(node).toBe(readFileSync(path.join(ROOT, 'scripts/node-pin.env'), 'utf8').match(/^NODE_VERSION=(\S+)$/m)?.[1]);
    if (version !== PKG_VERSION) expect(commit?.startsWith(version?.slice(PKG_VERSION.length + 2) ?? 'x')).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('version --json is one JSON object with the same version', () => {
    const r = run(AMD64, ['version', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { version: string; arch: string; node: string };
    expect(j.version.startsWith(PKG_VERSION)).toBe(true);
    expect(j.arch).toBe('amd64');
  });

  it('--help lists all 8 commands and exits 0', () => {
    const r = run(AMD64, ['--help']);
    expect(r.code).toBe(0);
    const section = r.stdout.split(/^Commands:$/m)[1] ?? '';
    const listed = [...section.matchAll(/^ {2}(\w+)\b/gm)].map((x) => x[1]);
    for (const c of COMMANDS) expect(listed, r.stdout).toContain(c);
  });

  it.each(COMMANDS)('%s --help exits 0 and shows its usage', (c) => {
    const r = run(AMD64, [c, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: castai-edge-initd ${c}`);
  });

  it('an unknown command exits 2 and says so', () => {
    const r = run(AMD64, ['no-such-command']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'no-such-command'/);
    expect(r.stdout).toBe('');
  });

  it('an unknown option exits 2', () => {
    const r = run(AMD64, ['version', '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--no-such-option'/);
  });

  it('is a Node SEA of the pinned Node, without the experimental warning', () => {
    const r = run(AMD64, ['version']);
    expect(r.stderr).not.toMatch(/ExperimentalWarning|single executable/i);
    // The blob sentinel is flipped by postject: the fuse string ends in ":1" in an injected binary.
    const grep = run('grep', ['-c', '-a', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1', AMD64]);
    expect(grep.stdout.trim()).not.toBe('0');
  });
});

describe('arm64 binary under qemu-user', () => {
  it('has the arm64 sysroot and qemu (make arm64-sysroot, apt qemu-user-static)', () => {
    expect(existsSync(QEMU), `${QEMU} missing: apt-get install qemu-user-static`).toBe(true);
    expect(existsSync(path.join(SYSROOT, 'lib/ld-linux-aarch64.so.1')), `${SYSROOT} missing: make arm64-sysroot`).toBe(true);
  });

  it('is an aarch64 ELF', () => {
    const head = readFileSync(ARM64).subarray(0, 20);
    expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(head.readUInt16LE(18)).toBe(183); // EM_AARCH64
    expect(readFileSync(AMD64).subarray(0, 20).readUInt16LE(18)).toBe(62); // EM_X86_64
  });

  it('prints the same version as amd64, for linux/arm64', () => {
    const amd = run(AMD64, ['version']).stdout;
    const r = run(QEMU, qemuArgs(ARM64, ['version']), { timeout: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(amd.replace('linux/amd64', 'linux/arm64'));
    // No "Code cache data rejected" (an x64-made cache in the arm64 blob would print it).
    expect(r.stderr).toBe('');
  });

  it('rejects a bad command with exit 2 too', () => {
    const r = run(QEMU, qemuArgs(ARM64, ['no-such-command']), { timeout: 120_000 });
    expect(r.code).toBe(2);
  });
});

describe('the SEA main script is the small loader; the agent bundle is an asset (docs/decisions/0191)', () => {
  const build = path.join(DIST, '.build');
  it.each(['amd64', 'arm64'])(
    '%s: main = the loader (< 8 KiB, no package, no code cache), assets = bundle (+ its code cache on amd64), Node options on the command line',
    (arch) => {
      const cfg = JSON.parse(readFileSync(path.join(build, `castai-edge-initd-${arch}.sea.json`), 'utf8')) as {
        main: string;
        assets?: Record<string, string>;
        useCodeCache: boolean;
        execArgvExtension?: string;
        execArgv?: string[];
      };
      expect(path.basename(cfg.main)).toBe('castai-edge-initd.loader.cjs');
      const loader = readFileSync(cfg.main, 'utf8');
      expect(loader.length).toBeLessThan(8 * 1024);
      expect(loader).not.toMatch(/commander|undici|pino/);
      expect(Object.keys(cfg.assets ?? {}).sort()).toEqual(arch === 'amd64' ? ['agent.cjs', 'agent.codecache'] : ['agent.cjs']);
      // A V8 flag on the daemon (agent/sea-assets.ts DAEMON_NODE_OPTIONS) would make V8 reject a main-script cache, and Node warn.
      expect(cfg.useCodeCache).toBe(false);
      expect(cfg.execArgvExtension).toBe('cli');
      expect(cfg.execArgv).toBeUndefined();
    },
  );

  it('amd64: commands that load the bundle print nothing on stderr (no code-cache warning) and work', () => {
    const r = run(AMD64, ['config', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: castai-edge-initd config');
    expect(r.stderr).toBe('');
  });

  it('`version --help` still goes to commander (only exact `version [--json]` takes the fast path)', () => {
    const r = run(AMD64, ['version', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: castai-edge-initd version');
  });
});

describe('downloads: .xz and .gz with .sha256', () => {
  const files = ['amd64', 'arm64'].flatMap((a) => ['xz', 'gz'].map((e) => `castai-edge-initd-linux-${a}.${e}`));

  it.each(files)('%s.sha256 verifies with sha256sum -c and names the file', async (f) => {
    const line = readFileSync(path.join(DIST, `${f}.sha256`), 'utf8');
    expect(line).toMatch(new RegExp(`^[0-9a-f]{64}  ${f.replace(/\./g, '\\.')}\\n$`));
    expect(line.slice(0, 64)).toBe(await sha256File(path.join(DIST, f)));
    const r = run('sha256sum', ['-c', `${f}.sha256`], { cwd: DIST });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${f}: OK\n`);
  });

  it.each(['amd64', 'arm64'])('%s: xz and gz decompress to the identical binary', async (arch) => {
    const bin = path.join(DIST, `castai-edge-initd-linux-${arch}`);
    const want = await sha256File(bin);
    expect(await sha256Decompressed('xz', `${bin}.xz`)).toBe(want);
    expect(await sha256Decompressed('gzip', `${bin}.gz`)).toBe(want);
  });
});

describe('bundled modules inside a SEA (probe built by scripts/build.ts)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sea-probe-'));
    const node = process.execPath;
    const r = run(node, ['scripts/build.ts', '--entry', 'test/integration/sea-probe.ts', '--name', 'sea-probe', '--no-compress', '--out', dir], {
      timeout: 600_000,
    });
    if (r.code !== 0) throw new Error(`probe build failed: ${r.stderr}`);
  }, 600_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function expectProbe(stdout: string, arch: string) {
    const p = JSON.parse(stdout) as Record<string, unknown>;
    expect(p.sea).toBe(true);
    expect(p.execa).toEqual({ exitCode: 0, stdout: 'env-ok stdin-ok' });
    expect(p.pino).toEqual({ msg: 'hello from pino', token: '[Redacted]', step: 'probe' });
    expect(p.systeminformation).toEqual({ platform: 'linux', arch, memTotalPositive: true });
    expect(p.undici).toEqual({ status: 200, body: { path: '/probe?x=1', method: 'POST' } });
    expect(p.dotenv).toEqual({ A: '1', B: 'two words', C: 'x=y' });
    expect(p.commander).toBe('commander-ok');
  }

  it('amd64 (code cache on): execa, pino, systeminformation, undici, dotenv, commander work', () => {
    const r = run(path.join(dir, 'sea-probe-linux-amd64'), []);
    expect(r.code, r.stderr).toBe(0);
    expectProbe(r.stdout, 'x64');
  });

  it('arm64 (code cache off) under qemu: the same', () => {
    const r = run(QEMU, qemuArgs(path.join(dir, 'sea-probe-linux-arm64'), []), { timeout: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expectProbe(r.stdout, 'arm64');
  });
});
