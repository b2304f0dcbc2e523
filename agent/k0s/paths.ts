/**
 * k0s's own paths and unit on the host, named once. Everything else that names them (preflight, storage,
 * status, register, tests) imports them from here. The binary, token file and unit file the k0s step
 * installs are in k0s.ts. Decision: docs/decisions/0210-one-home-per-fact.md.
 */

/** k0s's data directory: the storage step mounts its volume here; teardown unmounts below it. */
export const K0S_DATA_DIR = '/var/lib/k0s';
/** Written by k0s once the kubelet holds credentials (its TLS bootstrap finished). */
export const KUBELET_CONF = `${K0S_DATA_DIR}/kubelet.conf`;
/** The worker's systemd unit (`k0s install worker` writes it). */
export const K0S_UNIT = 'k0sworker.service';
