/**
 * A full garbage collection after each reconcile pass of the daemon.
 *
 * Between passes the agent sleeps a minute; V8, left alone, lets the old generation grow for many
 * minutes before it collects (measured in the VM: RssAnon +2 MiB a minute, +20 MiB in 10 min,
 * while the live heap stayed at ~18 MiB). One mark-compact per pass keeps the resident memory at
 * the live set for ~10 ms of CPU a minute (docs/decisions/0102-idle-memory.md).
 *
 * `gc` is exposed at run time (v8 flag, then a fresh context picks it up): the single executable
 * cannot take `--expose-gc` on its command line. If that ever fails, this is a no-op.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | null | undefined;

export function collectGarbage(): boolean {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const f: unknown = vm.runInNewContext('gc');
      gc = typeof f === 'function' ? (f as () => void) : null;
    } catch {
      gc = null;
    }
  }
  gc?.();
  return Boolean(gc);
}
