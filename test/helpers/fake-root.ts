/**
 * A throw-away "fake root" for running the installer's shell scripts for real (TEST CODE).
 *
 * The scripts use fixed absolute paths (/usr/local/bin, /etc/castai-edge-initd,
 * /var/lib/castai-edge-initd, /run/systemd/system), so instead of parameterizing them they run
 * in a private mount namespace (`unshare -m`) where each of those trees is an overlayfs over the
 * host's: the scripts read the real system, and every write lands in a temp upper directory that
 * vanishes with the namespace. The host is never changed. Needs root and overlayfs (the CI
 * machine and the lab host have both); `fakeRootMissing()` says what this machine lacks.
 *
 * Commands the test wants to control (systemctl, curl, ...) are stubs put first on PATH.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { notRoot } from './needs.ts';

const OVERLAYS = ['/etc', '/usr/local/bin', '/var/lib', '/run'];

let missing: string[] | undefined;
/** What this process lacks to make a private mount namespace with an overlay (root, unshare, overlayfs); empty = nothing. */
export function fakeRootMissing(): string[] {
  if (missing !== undefined) return missing;
  if (process.getuid?.() !== 0) return (missing = notRoot('a private mount namespace with overlays (unshare -m, mount -t overlay)'));
  const t = mkdtempSync(path.join(os.tmpdir(), 'fakeroot-probe-'));
  try {
    mkdirSync(path.join(t, 'u'));
    mkdirSync(path.join(t, 'w'));
    const r = spawnSync(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', `mount -t overlay overlay -o lowerdir=/etc,upperdir=${t}/u,workdir=${t}/w /etc`],
      { encoding: 'utf8', timeout: 20_000 },
    );
    missing = r.status === 0 ? [] : [`unshare -m + an overlay mount over /etc (exit ${r.status}: ${(r.stderr || r.error?.message || '').trim()})`];
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
  return missing;
}

export interface FakeRootRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Output of the `after` snippet (run in the namespace after the command). */
  after: string;
}

export class FakeRoot {
  readonly dir: string;
  readonly stubs: string;

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'fakeroot-'));
    this.stubs = path.join(this.dir, 'stubs');
    mkdirSync(this.stubs);
  }

  /** A file in the test's own directory (outside the overlays), e.g. stub state or artifacts. */
  file(name: string, data?: string | Buffer, mode = 0o644): string {
    const p = path.join(this.dir, name);
    if (data !== undefined) {
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, data);
      chmodSync(p, mode);
    }
    return p;
  }

  read(name: string): string {
    try {
      return readFileSync(path.join(this.dir, name), 'utf8');
    } catch {
      return '';
    }
  }

  /** A command on PATH ahead of the real one. */
  stub(name: string, script: string): void {
    const p = path.join(this.stubs, name);
    writeFileSync(p, script.startsWith('#!') ? script : `#!/bin/bash\n${script}`);
    chmodSync(p, 0o755);
  }

  /**
   * One run in a fresh namespace: overlays up, `setup` (bash, as root, fake-root paths), then
   * `command` (argv; stdin optional; PATH with the stubs first), then `after` (bash; its stdout is
   * returned). What one run wrote is still there in the next run of the same FakeRoot (the upper
   * layers persist until close()), like re-running a script on the same host.
   */
  run(opts: { setup?: string; command: string[]; stdin?: string; env?: Record<string, string>; after?: string; timeoutMs?: number }): FakeRootRun {
    const layers = path.join(this.dir, 'layers');
    const lines = ['set -e'];
    for (const target of OVERLAYS) {
      const name = target.replace(/\//g, '_');
      const u = path.join(layers, name, 'u');
      const w = path.join(layers, name, 'w');
      mkdirSync(u, { recursive: true });
      mkdirSync(w, { recursive: true });
      lines.push(`mount -t overlay overlay -o lowerdir=${target},upperdir=${u},workdir=${w} ${target}`);
    }
    lines.push(
      'mkdir -p /run/systemd/system',
      opts.setup ?? ':',
      'set +e',
      `cd ${this.dir}`,
      `PATH=${this.stubs}:$PATH "$@" <${this.dir}/stdin >${this.dir}/out 2>${this.dir}/err; echo $? >${this.dir}/rc`,
      `( ${opts.after ?? ':'} ) >${this.dir}/after 2>&1`,
    );
    writeFileSync(path.join(this.dir, 'stdin'), opts.stdin ?? '');
    writeFileSync(path.join(this.dir, 'ns.sh'), `${lines.join('\n')}\n`);
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', path.join(this.dir, 'ns.sh'), ...opts.command], {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root', ...opts.env },
    });
    if (r.status !== 0) throw new Error(`fake root setup failed (exit ${r.status}): ${r.stderr}${r.stdout}`);
    const rc = this.read('rc').trim();
    return { status: rc === '' ? null : Number(rc), stdout: this.read('out'), stderr: this.read('err'), after: this.read('after') };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
