/**
 * The one port through which the agent touches the operating system.
 *
 * Everything that spawns a process, reads or writes a file, resolves a name or
 * opens a socket goes through a `Host`. The real implementation lives in
 * `real.ts`; `fake.ts` is a recording fake for tests. Nothing else in `agent/`
 * may import `node:child_process`, `execa`, or write with `node:fs`.
 *
 * Secrets never go into `argv`: pass them as `stdin` or in a 0600 file written
 * with `writeFileAtomic(..., { mode: 0o600 })`.
 */

export interface ExecOptions {
  /** Bytes fed to the child's stdin (the only way to hand it a secret). */
  stdin?: string | Buffer;
  /** Extra environment; merged over a minimal inherited environment. */
  env?: Record<string, string>;
  /** Kill the child after this many ms (default 60 000). */
  timeoutMs?: number;
  cwd?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** True when the executable could not be found or started (ENOENT/EACCES). */
  notFound: boolean;
  durationMs: number;
}

export interface FileStat {
  mode: number; // permission bits only (e.g. 0o600)
  size: number;
  uid: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  mtimeMs: number;
}

export interface WriteOptions {
  /** Required: the file is created with exactly this mode (never chmod after). */
  mode: number;
  /** Mode for parent directories created on the way (default 0o755). */
  dirMode?: number;
}

export interface SystemFacts {
  kernelRelease: string; // `uname -r`
  machine: string; // `uname -m`
  uid: number;
  hostname: string;
}

export interface TcpProbeResult {
  ok: boolean;
  error?: string; // e.g. ECONNREFUSED, ETIMEDOUT
  durationMs: number;
}

export interface TlsProbeResult {
  /** TCP + TLS handshake completed (whether or not the chain verified). */
  connected: boolean;
  /** The presented chain verified against `ca` (and the host name). */
  authorized: boolean;
  /** Why it did not verify, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE, or the connect error. */
  error?: string;
  /** sha256 (hex, lower case, no colons) of each presented certificate, leaf first. */
  chainSha256: string[];
  durationMs: number;
}

/** Raw hardware facts (bytes, Mbit/s), gathered by systeminformation in the real Host. Disks: agent/inventory/blockdev.ts (/sys/block). */
export interface HardwareFacts {
  cpus: number;
  memoryBytes: number;
  swapBytes: number;
  nics: Array<{ iface: string; speedMbps: number | null; virtual: boolean; internal: boolean }>;
}

export interface Host {
  exec(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Read a text file; `undefined` when it does not exist. Other errors throw. */
  readFile(path: string): Promise<string | undefined>;
  /**
   * Read at most `length` bytes at byte `offset` of a file or block device (shorter only at its
   * end). Bounded: never more than `length` bytes in memory. Block devices are read with O_DIRECT
   * where the kernel allows it (the device's own bytes, not a page-cache copy), else buffered.
   * Throws on a missing path or an I/O error (the error's `code`: ENOENT, EACCES, EIO, ...).
   */
  readAt(path: string, offset: number, length: number): Promise<Buffer>;
  /** Atomic write: temp file in the same directory (created with `mode`), fsync, rename. */
  writeFileAtomic(path: string, data: string | Buffer, opts: WriteOptions): Promise<void>;
  /** lstat: a symlink is reported as one (isSymlink), never followed. */
  stat(path: string): Promise<FileStat | undefined>;
  /** The target of a symlink, as stored (may be relative); `undefined` when `path` does not exist or is not a symlink. */
  readlink(path: string): Promise<string | undefined>;
  /** Create a directory (and parents) with the given mode. No-op when it exists. */
  mkdir(path: string, mode: number): Promise<void>;
  /** Remove one file or empty directory. Never recursive: we never rm -rf. */
  remove(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  system(): Promise<SystemFacts>;
  /**
   * Name lookup (getaddrinfo: /etc/hosts, DNS, nsswitch) of all addresses; throws an
   * Error with `.code` (ENOTFOUND, ETIMEOUT, ...) on failure. Gives up after
   * `timeoutMs` (default 10 000) and leaves nothing running behind.
   */
  resolve(hostname: string, timeoutMs?: number): Promise<string[]>;
  tcpProbe(host: string, port: number, timeoutMs: number): Promise<TcpProbeResult>;
  /** TLS handshake verifying the peer against exactly `caPem` (no system CAs). */
  tlsProbe(host: string, port: number, caPem: string, timeoutMs: number): Promise<TlsProbeResult>;
  /** CPU, memory, swap and NICs of this machine (disks: agent/inventory/blockdev.ts). */
  hardware(): Promise<HardwareFacts>;
}
