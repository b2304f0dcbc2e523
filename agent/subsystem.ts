import type { Host } from './host/host.ts';

/**
 * The shape every host subsystem (preflight, storage, gpu, wireguard, k0s) follows.
 *
 *   inspect(host)            -> Actual    read the host, change nothing
 *   plan(desired, actual)    -> Action[]  pure; empty when the host already matches
 *   apply(host, actions)     -> void      idempotent; running it twice is safe
 */
export interface Action {
  /** Stable machine-readable kind, e.g. "lvm.vgcreate". */
  kind: string;
  /** What an operator reads in `plan`: "create VG castai-edge on /dev/nvme1n1, /dev/nvme2n1". */
  description: string;
  /** Why this action is needed (or why something is refused). */
  reason: string;
}

export interface Subsystem<Desired, Actual, A extends Action = Action> {
  readonly name: string;
  inspect(host: Host): Promise<Actual>;
  plan(desired: Desired, actual: Actual): A[];
  apply(host: Host, actions: A[]): Promise<void>;
}
