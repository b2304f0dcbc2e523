/**
 * A Host decorator that logs every command, probe and lookup with its duration,
 * at debug level (INITD_LOG_LEVEL=debug). It is how an operator (and `make bench`)
 * sees where a slow reconcile pass spends its time:
 *
 *   {"level":20,"cmd":"vgs","args":["--reportformat","json",…],"exitCode":0,"ms":212,"msg":"exec vgs"}
 *
 * argv is safe to log: secrets never travel in argv (host.ts). stdin is never logged.
 */
import type { Host } from './host.ts';

interface DebugLog {
  debug(obj: object, msg: string): void;
}

/** An errno code (ENOENT, ETIMEDOUT), else the error as text. */
const errorCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

export function tracingHost(inner: Host, log: DebugLog): Host {
  const timed = async <T>(what: () => Promise<T>, done: (r: T | undefined, ms: number, err?: unknown) => void): Promise<T> => {
    const t0 = performance.now();
    try {
      const r = await what();
      done(r, Math.round(performance.now() - t0));
      return r;
    } catch (e) {
      done(undefined, Math.round(performance.now() - t0), e);
      throw e;
    }
  };
  return {
    exec: (cmd, args, opts) =>
      timed(
        () => inner.exec(cmd, args, opts),
        (r, ms) => log.debug({ cmd, args, exitCode: r?.exitCode, ...(r?.timedOut ? { timedOut: true } : {}), ms }, `exec ${cmd}`),
      ),
    resolve: (name, timeoutMs) =>
      timed(
        () => inner.resolve(name, timeoutMs),
        (r, ms, err) => log.debug({ name, addresses: r?.length ?? 0, ...(err ? { error: errorCode(err) } : {}), ms }, `resolve ${name}`),
      ),
    tcpProbe: (h, port, timeoutMs) =>
      timed(
        () => inner.tcpProbe(h, port, timeoutMs),
        (r, ms) => log.debug({ host: h, port, ok: r?.ok, ...(r?.error ? { error: r.error } : {}), ms }, `tcp probe ${h}:${port}`),
      ),
    tlsProbe: (h, port, ca, timeoutMs) =>
      timed(
        () => inner.tlsProbe(h, port, ca, timeoutMs),
        (r, ms) => log.debug({ host: h, port, authorized: r?.authorized, ms }, `tls probe ${h}:${port}`),
      ),
    hardware: () => timed(() => inner.hardware(), (_r, ms) => log.debug({ ms }, 'hardware inventory')),
    readFile: (p) => inner.readFile(p),
    readAt: (p, offset, length) =>
      timed(
        () => inner.readAt(p, offset, length),
        (r, ms, err) => log.debug({ path: p, offset, length, ...(r ? { bytes: r.length } : {}), ...(err ? { error: errorCode(err) } : {}), ms }, `read ${p}`),
      ),
    writeFileAtomic: (p, d, o) => inner.writeFileAtomic(p, d, o),
    stat: (p) => inner.stat(p),
    readlink: (p) => inner.readlink(p),
    mkdir: (p, m) => inner.mkdir(p, m),
    remove: (p) => inner.remove(p),
    readdir: (p) => inner.readdir(p),
    system: () => inner.system(),
  };
}
