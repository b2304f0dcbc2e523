/**
 * The agent's state: the directory and the name of every file in it, in one place. Who writes each
 * file says so where it is written; everything that names one (status, reset, lifecycle, preflight,
 * tests) imports it from here. Paths that belong to k0s (/var/lib/k0s, its kubelet.conf) live in
 * agent/k0s/; paths of the OS (/proc, /sys, /etc/machine-id) in agent/host/paths.ts.
 * Decision: docs/decisions/0210-one-home-per-fact.md.
 */

/** INITD_STATE_DIR's default (0700, root). */
export const DEFAULT_STATE_DIR = '/var/lib/castai-edge-initd';

/** The register response (edge, node, k0s join token); its presence proves the state dir is ours and populated. */
export const REGISTER_FILE = 'register.json';
/** What register.json was made for (API URL, org, cluster, edge location) and the poll bookkeeping. */
export const REGISTER_META_FILE = 'register-meta.json';
/** The control plane's last answers (liveness). */
export const CONTROL_PLANE_FILE = 'control-plane.json';
/** Authenticated NotFound sightings, the evidence removal needs. */
export const REMOVAL_EVIDENCE_FILE = 'removal-evidence.json';
/** What the agent installed and changed, for teardown (reconcile/journal.ts). */
export const JOURNAL_FILE = 'journal.json';
/** What k0s was installed with (version, checksum, arguments' digest). */
export const K0S_STATE_FILE = 'k0s.json';
/** Host files the k0s step wrote (modules-load, sysctl, drop-ins) with their digests. */
export const OWNED_FILES_STATE = 'owned-files.json';
/** The WireGuard key's directory (0700) below the state dir; the two files below live in it. */
export const KEY_DIR_NAME = 'wireguard';
/** The WireGuard private key (0600). */
export const KEY_FILE_NAME = 'private.key';
/** Proof that the WireGuard interface is ours (name, key, boot id). */
export const OWNER_FILE_NAME = 'interface.json';
/** The last WireGuard health reading, for `status`. */
export const WG_STATUS_FILE = 'wireguard-status.json';
/** What the storage step made (VG, LV, filesystem, unit). */
export const STORAGE_STATE_FILE = 'storage.json';
/** The disks the storage step proved empty before it used them. */
export const CENSUS_FILE = 'storage-disks.json';
