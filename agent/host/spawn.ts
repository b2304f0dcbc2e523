/**
 * Run one program to completion with node:child_process — what RealHost.exec does (agent/host/real.ts).
 *
 * It replaced execa there: execa (ESM, a dozen packages of stream plumbing) kept ~6 MiB more
 * resident in the idle daemon than node:child_process for the same processes, measured in a single
 * executable of the pinned Node (docs/decisions/0192-idle-memory-floor.md); the agent needs none of
 * its features. The contract is the Host port's (agent/host/host.ts), as execa gave it:
 *  - argv verbatim, never a shell; `stdin` written then closed (EOF at once when empty);
 *  - exactly `env` (the caller builds the minimal environment), `cwd`;
 *  - at `timeoutMs` SIGTERM, and SIGKILL 5 s later if it is still there (execa's
 *    forceKillAfterDelay); `timedOut` says so;
 *  - exit code; 128 + signal number when a signal ended it (as a shell reports it);
 *  - a program that cannot be started (ENOENT, EACCES): `notFound`, 127, "<cmd>: not found (<code>)";
 *  - output kept up to MAX_OUTPUT bytes per stream (execa's default maxBuffer, 100 MB); beyond it
 *    the child is killed like at a timeout.
 * The result waits for the child's exit and for its stdout/stderr to close — but not past the
 * deadline: a grandchild that keeps the pipes open cannot hold the caller.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { ExecResult } from './host.ts';

export const MAX_OUTPUT = 100_000_000;
const KILL_AFTER_MS = 5000;

export interface SpawnOptions {
  stdin?: string | Buffer;
  env: Record<string, string>;
  timeoutMs: number;
  cwd?: string;
}

export function spawnCollect(cmd: string, args: readonly string[], o: SpawnOptions): Promise<ExecResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let startError: NodeJS.ErrnoException | undefined;
    let settled = false;
    let open = 2; // stdout, stderr
    let killTimer: NodeJS.Timeout | undefined;

    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, [...args], { env: o.env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'], shell: false });
    } catch (e) {
      // Invalid arguments (a NUL byte in argv, ...): nothing was started.
      resolve({ exitCode: 126, stdout: '', stderr: `${cmd}: cannot run (${(e as Error).message})`, timedOut: false, notFound: false, durationMs: 0 });
      return;
    }

    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      const durationMs = Math.round(performance.now() - started);
      if (startError) {
        const code = startError.code ?? 'ESPAWN';
        const notFound = code === 'ENOENT' || code === 'EACCES';
        resolve({
          exitCode: notFound ? 127 : 126,
          stdout: '',
          stderr: `${cmd}: ${notFound ? 'not found' : 'cannot run'} (${code})`,
          timedOut: false,
          notFound,
          durationMs,
        });
        return;
      }
      const signo = exit?.signal ? os.constants.signals[exit.signal] : undefined;
      resolve({
        exitCode: typeof exit?.code === 'number' ? exit.code : signo ? 128 + signo : 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        notFound: false,
        durationMs,
      });
    };
    const kill = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      killTimer.unref();
    };
    /** Exited, but something it started still holds stdout/stderr: stop waiting for them. */
    const abandonPipes = () => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      finish();
    };
    const timer = setTimeout(() => {
      if (exit) return abandonPipes();
      timedOut = true;
      kill();
    }, o.timeoutMs);

    const collect = (chunks: Buffer[], add: (n: number) => number) => (d: Buffer) => {
      if (add(d.length) > MAX_OUTPUT) {
        if (!exit) kill();
        return;
      }
      chunks.push(d);
    };
    child.stdout!.on('data', collect(out, (n) => (outBytes += n)));
    child.stderr!.on('data', collect(err, (n) => (errBytes += n)));
    const closed = () => {
      if (--open === 0 && exit) finish();
    };
    child.stdout!.on('close', closed);
    child.stderr!.on('close', closed);
    child.on('error', (e: NodeJS.ErrnoException) => {
      // Only a failure to start reaches us here before 'exit' (kill() on a gone child is a no-op).
      if (!exit) {
        startError = e;
        finish();
      }
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      clearTimeout(killTimer);
      if (open === 0) finish();
      else if (timedOut) setTimeout(abandonPipes, 1000).unref(); // past the deadline already
    });
    child.stdin!.on('error', () => {}); // the child may exit without reading its input (EPIPE)
    child.stdin!.end(o.stdin ?? '');
  });
}
