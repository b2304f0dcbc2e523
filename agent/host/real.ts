import { constants as fsc, promises as fs } from 'node:fs';
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { connect, isIP, type LookupFunction } from 'node:net';
import { connect as tlsConnect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TlsProbeResult, HardwareFacts, ExecOptions, ExecResult, FileStat, Host, SystemFacts, TcpProbeResult, WriteOptions } from './host.ts';
import { spawnCollect } from './spawn.ts';

/** readAt never holds more than this in memory at once (16 MiB). */
const MAX_READ_AT = 16 * 1024 * 1024;

/**
 * One page-aligned scratch buffer for O_DIRECT reads (a WebAssembly memory is mapped on page
 * boundaries; V8 reserves address space for each one, so it is made once and grown only when a
 * larger read comes), used by one read at a time.
 */
let scratch: Buffer | undefined;
let scratchTurn: Promise<unknown> = Promise.resolve();
function withScratch<T>(n: number, f: (b: Buffer) => Promise<T>): Promise<T> {
  const run = async () => {
    if (!scratch || scratch.length < n) {
      const pages = Math.max(1, Math.ceil(n / 65_536));
      // Typed by hand: this project's TypeScript lib has no WebAssembly JS API (it is V8's, in every Node).
      const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
      scratch = Buffer.from(new wasm.Memory({ initial: pages, maximum: pages }).buffer);
    }
    return f(scratch.subarray(0, n));
  };
  const turn = scratchTurn.then(run, run);
  scratchTurn = turn.catch(() => undefined);
  return turn;
}

/** Name lookups without an explicit timeout give up after this long. */
const DEFAULT_LOOKUP_TIMEOUT_MS = 10_000;

/** Environment every child gets: enough to find tools, nothing more. */
function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'LANG', 'LC_ALL', 'HOME', 'TERM', 'TZ', 'SYSTEMD_LOG_LEVEL'];
  const env: Record<string, string> = { LC_ALL: 'C' };
  for (const k of keep) {
    const v = process.env[k];
    if (v !== undefined && k !== 'LC_ALL') env[k] = v;
  }
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return env;
}

export class RealHost implements Host {
  async exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    // node:child_process, not execa: ~6 MiB less resident in the daemon (agent/host/spawn.ts).
    return spawnCollect(cmd, args, { stdin: opts.stdin, env: { ...baseEnv(), ...(opts.env ?? {}) }, timeoutMs: opts.timeoutMs ?? 60_000, cwd: opts.cwd });
  }

  async readFile(p: string): Promise<string | undefined> {
    try {
      return await fs.readFile(p, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async readAt(p: string, offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || length > MAX_READ_AT) {
      throw new RangeError(`readAt ${p}: offset ${offset} / length ${length} out of range (at most ${MAX_READ_AT} bytes)`);
    }
    // O_DIRECT: the device's own bytes, not a page-cache copy another writer (a partition, a
    // filesystem, another host on shared storage) could have left stale, and nothing left in the
    // page cache. It needs the offset and length aligned to the logical block size, and memory
    // aligned to the device's DMA alignment (up to 512 bytes, e.g. loop and virtio devices): the
    // buffer is a WebAssembly memory, which V8 maps page-aligned. Where O_DIRECT is refused
    // (EINVAL: tmpfs, unaligned offsets), the same bytes are read buffered.
    const direct = fsc.O_DIRECT ?? 0;
    const einval = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EINVAL';
    const readInto = async (flags: number, buf: Buffer): Promise<number> => {
      const fh = await fs.open(p, flags);
      try {
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break; // end of the file or device
          got += bytesRead;
        }
        return got;
      } finally {
        await fh.close();
      }
    };
    if (direct && length > 0) {
      try {
        // Copied out of the shared scratch buffer before the next read may use it.
        return await withScratch(length, async (b) => Buffer.from(b.subarray(0, await readInto(fsc.O_RDONLY | direct, b))));
      } catch (e) {
        if (!einval(e)) throw e;
      }
    }
    const buf = Buffer.alloc(length);
    return buf.subarray(0, await readInto(fsc.O_RDONLY, buf));
  }

  async writeFileAtomic(p: string, data: string | Buffer, opts: WriteOptions): Promise<void> {
    const dir = path.dirname(p);
    await this.mkdir(dir, opts.dirMode ?? 0o755);
    const tmp = path.join(dir, `.${path.basename(p)}.${randomBytes(6).toString('hex')}.tmp`);
    // O_EXCL + explicit mode: the file never exists with looser permissions.
    const fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, opts.mode);
    try {
      try {
        await fh.chmod(opts.mode); // umask may have narrowed it; make it exact before any byte is written
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, p);
    } catch (e) {
      // Never leave a temp file behind (full disk, EISDIR target, ...).
      await fs.unlink(tmp).catch(() => undefined);
      throw e;
    }
    const dh = await fs.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async stat(p: string): Promise<FileStat | undefined> {
    try {
      const s = await fs.lstat(p);
      return {
        mode: s.mode & 0o7777,
        size: s.size,
        uid: s.uid,
        isFile: s.isFile(),
        isDirectory: s.isDirectory(),
        isSymlink: s.isSymbolicLink(),
        mtimeMs: s.mtimeMs,
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async readlink(p: string): Promise<string | undefined> {
    try {
      return await fs.readlink(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL') return undefined; // missing, or not a symlink
      throw e;
    }
  }

  async mkdir(p: string, mode: number): Promise<void> {
    await fs.mkdir(p, { recursive: true, mode });
  }

  async remove(p: string): Promise<void> {
    const s = await this.stat(p);
    if (!s) return;
    if (s.isDirectory) await fs.rmdir(p);
    else await fs.unlink(p);
  }

  async readdir(p: string): Promise<string[]> {
    try {
      return await fs.readdir(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async system(): Promise<SystemFacts> {
    return {
      kernelRelease: os.release(),
      machine: os.machine(),
      uid: process.getuid ? process.getuid() : -1,
      hostname: os.hostname(),
    };
  }

  async resolve(hostname: string, timeoutMs: number = DEFAULT_LOOKUP_TIMEOUT_MS): Promise<string[]> {
    return (await this.lookupBounded(hostname, timeoutMs)).map((a) => a.address);
  }

  /**
   * Name lookup that can be abandoned. `dns.lookup` runs getaddrinfo in libuv's
   * thread pool and cannot be cancelled: behind a black-holed DNS server it keeps
   * the process alive for 20+ s after any deadline (measured). So the same
   * getaddrinfo (same nsswitch.conf, /etc/hosts, resolv.conf) runs as
   * `getent ahosts NAME`, which is killed at the timeout. Without getent
   * (busybox/musl images) it falls back to `dns.lookup`.
   */
  private async lookupBounded(hostname: string, timeoutMs: number): Promise<LookupAddress[]> {
    const fam = isIP(hostname);
    if (fam) return [{ address: hostname, family: fam }];
    const fail = (code: string) => Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, hostname });
    if (!hostname || hostname.startsWith('-') || /\s/.test(hostname)) throw fail('ENOTFOUND');
    const r = await this.exec('getent', ['ahosts', hostname], { timeoutMs: Math.max(1, Math.floor(timeoutMs)) });
    if (r.notFound) return lookup(hostname, { all: true, verbatim: true });
    if (r.timedOut) throw fail('ETIMEOUT');
    if (r.exitCode === 2) throw fail('ENOTFOUND'); // getent: key not found (NXDOMAIN, no data, SERVFAIL)
    if (r.exitCode !== 0) throw fail(`EAI_FAIL(getent exit ${r.exitCode})`);
    const seen = new Map<string, LookupAddress>();
    for (const line of r.stdout.split('\n')) {
      const addr = line.trim().split(/\s+/)[0] ?? '';
      const f = isIP(addr);
      if (f && !seen.has(addr)) seen.set(addr, { address: addr, family: f });
    }
    if (seen.size === 0) throw fail('ENOTFOUND');
    return [...seen.values()];
  }

  /** A `lookup` for net/tls.connect that uses lookupBounded, so a probe never outlives its timeout. */
  private boundedLookup(deadline: number): LookupFunction {
    return (hostname, options, callback) => {
      this.lookupBounded(hostname, deadline - performance.now()).then(
        (addrs) => {
          const want = options.family === 4 || options.family === 6 ? addrs.filter((a) => a.family === options.family) : addrs;
          if (want.length === 0) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
          else if (options.all) callback(null, want);
          else callback(null, want[0]!.address, want[0]!.family);
        },
        (e: NodeJS.ErrnoException) => callback(e, ''),
      );
    };
  }

  tcpProbe(host: string, port: number, timeoutMs: number): Promise<TcpProbeResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      const sock = connect({ host, port, lookup: this.boundedLookup(started + timeoutMs) });
      let done = false;
      const finish = (ok: boolean, error?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve({ ok, ...(error ? { error } : {}), durationMs: Math.round(performance.now() - started) });
      };
      const timer = setTimeout(() => finish(false, 'ETIMEDOUT'), timeoutMs);
      sock.once('connect', () => finish(true));
      sock.once('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
    });
  }

  async hardware(): Promise<HardwareFacts> {
    // systeminformation runs lsblk/ip/... itself: it is loaded only here, inside the real Host.
    const si = (await import('systeminformation')).default;
    const [cpu, mem, nics] = await Promise.all([si.cpu(), si.mem(), si.networkInterfaces()]);
    const list = Array.isArray(nics) ? nics : [nics];
    return {
      cpus: cpu.cores,
      memoryBytes: mem.total,
      swapBytes: mem.swaptotal,
      nics: list.map((n) => ({
        iface: n.iface,
        speedMbps: typeof n.speed === 'number' && n.speed > 0 ? n.speed : null,
        virtual: n.virtual,
        internal: n.internal,
      })),
    };
  }

  tlsProbe(host: string, port: number, caPem: string, timeoutMs: number): Promise<TlsProbeResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      let done = false;
      const sock = tlsConnect({
        host,
        port,
        ca: caPem,
        rejectUnauthorized: false,
        lookup: this.boundedLookup(started + timeoutMs),
        ...(isIP(host) ? {} : { servername: host }),
      });
      const finish = (r: Omit<TlsProbeResult, 'durationMs'>) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve({ ...r, durationMs: Math.round(performance.now() - started) });
      };
      const timer = setTimeout(() => finish({ connected: false, authorized: false, error: 'ETIMEDOUT', chainSha256: [] }), timeoutMs);
      sock.once('secureConnect', () => {
        const chain: string[] = [];
        const seen = new Set<string>();
        let cert: PeerCertificate | DetailedPeerCertificate | undefined = sock.getPeerCertificate(true);
        while (cert && cert.fingerprint256 && !seen.has(cert.fingerprint256)) {
          seen.add(cert.fingerprint256);
          chain.push(cert.fingerprint256.replace(/:/g, '').toLowerCase());
          cert = (cert as DetailedPeerCertificate).issuerCertificate;
        }
        finish({
          connected: true,
          authorized: sock.authorized,
          ...(sock.authorizationError ? { error: String(sock.authorizationError) } : {}),
          chainSha256: chain,
        });
      });
      sock.once('error', (e: NodeJS.ErrnoException) => finish({ connected: false, authorized: false, error: e.code ?? e.message, chainSha256: [] }));
    });
  }
}
