import path from 'node:path';
import type { TlsProbeResult, HardwareFacts, ExecOptions, ExecResult, FileStat, Host, SystemFacts, TcpProbeResult, WriteOptions } from './host.ts';

/**
 * Recording fake of the Host port, for tests.
 *
 * - `files` is an in-memory filesystem (path -> {data, mode}).
 * - `onExec(matcher, responder)` scripts command results; an unscripted command
 *   returns exit 127 "not found" so a test notices it.
 * - Every call is appended to `calls`, in order, so a test can assert exactly
 *   what the agent would have done to a host, and that nothing else happened.
 */
export type Call =
  | { kind: 'exec'; cmd: string; args: string[]; stdin?: string; env?: Record<string, string> }
  | { kind: 'read'; path: string; offset: number; length: number }
  | { kind: 'write'; path: string; mode: number; data: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'remove'; path: string }
  | { kind: 'resolve'; hostname: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'tls'; host: string; port: number };

type Responder = (args: string[], opts: ExecOptions) => Partial<ExecResult> | Promise<Partial<ExecResult>>;

export interface FakeFile {
  data: string;
  mode: number;
  uid?: number;
}

export class FakeHost implements Host {
  readonly calls: Call[] = [];
  readonly files = new Map<string, FakeFile>();
  readonly dirs = new Map<string, number>([['/', 0o755]]);
  /** Owner of a directory (default root). */
  readonly dirUids = new Map<string, number>();
  /** Symlinks: path → target as stored (lstat reports them; readlink returns the target). */
  readonly links = new Map<string, { target: string; uid: number }>();
  facts: SystemFacts = { kernelRelease: '6.1.0-28-amd64', machine: 'x86_64', uid: 0, hostname: 'edge-test' };
  dns = new Map<string, string[] | Error>();
  /** `host:port` → TLS probe result (default: connection refused). */
  tls = new Map<string, TlsProbeResult>();
  hw: HardwareFacts = {
    cpus: 4,
    memoryBytes: 8 * 1024 ** 3,
    swapBytes: 0,
    nics: [{ iface: 'eth0', speedMbps: 10000, virtual: false, internal: false }],
  };
  tcp = new Map<string, TcpProbeResult | ((timeoutMs: number) => Promise<TcpProbeResult>)>();
  /**
   * Block devices for readAt: path -> its size and the bytes at an offset (unset bytes read as
   * zeros, like a fresh disk). A path that is neither here nor in `files` throws ENOENT.
   */
  readonly blocks = new Map<string, { size: number; read: (offset: number, length: number) => Buffer }>();
  private readonly scripts: Array<{ match: (cmd: string, args: string[]) => boolean; respond: Responder }> = [];

  /** Script a command. `match` is a command name, or `cmd + ' ' + args` prefix, or a predicate. */
  onExec(match: string | ((cmd: string, args: string[]) => boolean), respond: Responder | Partial<ExecResult>): this {
    const m =
      typeof match === 'function'
        ? match
        : (cmd: string, args: string[]) => {
            // The command word must match exactly ('ip' must not match 'ipset'); the rest is a prefix.
            const word = match.split(' ', 1)[0];
            return cmd === word && [cmd, ...args].join(' ').startsWith(match);
          };
    const r: Responder = typeof respond === 'function' ? respond : () => respond;
    this.scripts.unshift({ match: m, respond: r }); // later scripts win
    return this;
  }

  /** Commands that were executed, as readable strings (`cmd arg1 arg2`). */
  execLines(): string[] {
    return this.calls.filter((c) => c.kind === 'exec').map((c) => [c.cmd, ...c.args].join(' '));
  }

  /** Every call that would change the host (writes, mkdir, remove, and exec of listed commands). */
  mutations(readOnlyCommands: ReadonlySet<string> = new Set()): Call[] {
    return this.calls.filter(
      (c) => c.kind === 'write' || c.kind === 'mkdir' || c.kind === 'remove' || (c.kind === 'exec' && !readOnlyCommands.has(c.cmd)),
    );
  }

  setFile(p: string, data: string, mode = 0o644, uid = 0): this {
    this.files.set(p, { data, mode, uid });
    return this;
  }

  /** A directory with its mode and owner (its parents are implied, root 0755). */
  setDir(p: string, mode: number, uid = 0): this {
    this.dirs.set(p, mode);
    this.dirUids.set(p, uid);
    return this;
  }

  setLink(p: string, target: string, uid = 0): this {
    this.links.set(p, { target, uid });
    return this;
  }

  async exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const a = [...args];
    this.calls.push({
      kind: 'exec',
      cmd,
      args: a,
      ...(opts.stdin !== undefined ? { stdin: String(opts.stdin) } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    });
    const s = this.scripts.find((x) => x.match(cmd, a));
    if (!s) return { exitCode: 127, stdout: '', stderr: `${cmd}: not found (unscripted in FakeHost)`, timedOut: false, notFound: true, durationMs: 0 };
    const r = await s.respond(a, opts);
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false, notFound: false, durationMs: 0, ...r };
  }

  async readFile(p: string): Promise<string | undefined> {
    return this.files.get(p)?.data;
  }

  async readAt(p: string, offset: number, length: number): Promise<Buffer> {
    this.calls.push({ kind: 'read', path: p, offset, length });
    const dev = this.blocks.get(p);
    if (dev) return dev.read(offset, Math.max(0, Math.min(length, dev.size - offset)));
    const f = this.files.get(p);
    if (f) return Buffer.from(f.data).subarray(offset, offset + length);
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
  }

  async writeFileAtomic(p: string, data: string | Buffer, opts: WriteOptions): Promise<void> {
    await this.mkdir(path.dirname(p), opts.dirMode ?? 0o755);
    const text = typeof data === 'string' ? data : data.toString('utf8');
    this.calls.push({ kind: 'write', path: p, mode: opts.mode, data: text });
    this.files.set(p, { data: text, mode: opts.mode });
  }

  async stat(p: string): Promise<FileStat | undefined> {
    const l = this.links.get(p);
    if (l) return { mode: 0o777, size: l.target.length, uid: l.uid, isFile: false, isDirectory: false, isSymlink: true, mtimeMs: 0 };
    const f = this.files.get(p);
    if (f) return { mode: f.mode, size: Buffer.byteLength(f.data), uid: f.uid ?? 0, isFile: true, isDirectory: false, isSymlink: false, mtimeMs: 0 };
    const d = this.dirs.get(p);
    if (d !== undefined) return { mode: d, size: 4096, uid: this.dirUids.get(p) ?? 0, isFile: false, isDirectory: true, isSymlink: false, mtimeMs: 0 };
    // A parent of a file set with setFile() exists as a directory too.
    const prefix = p.endsWith('/') ? p : `${p}/`;
    for (const k of this.files.keys()) {
      if (k.startsWith(prefix)) return { mode: 0o755, size: 4096, uid: 0, isFile: false, isDirectory: true, isSymlink: false, mtimeMs: 0 };
    }
    return undefined;
  }

  async readlink(p: string): Promise<string | undefined> {
    return this.links.get(p)?.target;
  }

  async mkdir(p: string, mode: number): Promise<void> {
    if (this.dirs.has(p)) return;
    this.calls.push({ kind: 'mkdir', path: p, mode });
    let cur = p;
    while (cur !== '/' && !this.dirs.has(cur)) {
      this.dirs.set(cur, mode);
      cur = path.dirname(cur);
    }
  }

  async remove(p: string): Promise<void> {
    this.calls.push({ kind: 'remove', path: p });
    if (this.files.delete(p)) return;
    // Like the real Host: never recursive, a non-empty directory is refused.
    const prefix = p.endsWith('/') ? p : `${p}/`;
    if ([...this.files.keys(), ...this.dirs.keys()].some((k) => k.startsWith(prefix))) {
      throw Object.assign(new Error(`ENOTEMPTY: directory not empty, rmdir '${p}'`), { code: 'ENOTEMPTY' });
    }
    this.dirs.delete(p);
  }

  async readdir(p: string): Promise<string[]> {
    const prefix = p.endsWith('/') ? p : `${p}/`;
    const names = new Set<string>();
    for (const k of [...this.files.keys(), ...this.dirs.keys(), ...this.links.keys()]) {
      if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split('/')[0]!);
    }
    return [...names].filter(Boolean).sort();
  }

  async system(): Promise<SystemFacts> {
    return { ...this.facts };
  }

  async resolve(hostname: string): Promise<string[]> {
    this.calls.push({ kind: 'resolve', hostname });
    const r = this.dns.get(hostname);
    if (r instanceof Error) throw r;
    if (!r) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return r;
  }

  async tcpProbe(host: string, port: number, timeoutMs: number): Promise<TcpProbeResult> {
    this.calls.push({ kind: 'tcp', host, port });
    const r = this.tcp.get(`${host}:${port}`);
    if (typeof r === 'function') return r(timeoutMs);
    return r ?? { ok: false, error: 'ECONNREFUSED', durationMs: 0 };
  }

  async hardware(): Promise<HardwareFacts> {
    return structuredClone(this.hw);
  }

  async tlsProbe(host: string, port: number, _caPem: string, _timeoutMs: number): Promise<TlsProbeResult> {
    this.calls.push({ kind: 'tls', host, port });
    return this.tls.get(`${host}:${port}`) ?? { connected: false, authorized: false, error: 'ECONNREFUSED', chainSha256: [], durationMs: 0 };
  }
}
