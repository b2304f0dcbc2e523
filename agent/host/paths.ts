/**
 * The kernel's and the OS's files the agent reads, named once; every reader imports them from here.
 * (The agent's own state files: agent/state/files.ts; k0s's paths: agent/k0s/paths.ts.)
 * Decision: docs/decisions/0210-one-home-per-fact.md.
 */

/** systemd's machine id (machine-id(5)): identifies this node to the control plane. */
export const MACHINE_ID_FILE = '/etc/machine-id';
/** A fresh random id at every boot (proc(5)). */
export const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';
/** Our mount namespace's mounts (proc_pid_mountinfo(5)); parsed by agent/storage/parse.ts parseMountinfo. */
export const MOUNTINFO_FILE = '/proc/self/mountinfo';
/** Active swap areas (proc_swaps(5)). */
export const SWAPS_FILE = '/proc/swaps';
/** Loaded kernel modules (proc_modules(5)). */
export const MODULES_FILE = '/proc/modules';
/** One entry per loaded module, or built-in one with parameters (sysfs-module). */
export const SYS_MODULE_DIR = '/sys/module';
/** One entry per block device (sysfs-block). */
export const SYS_BLOCK_DIR = '/sys/block';
/** PID 1's command name: `systemd` on a systemd host. */
export const PID1_COMM_FILE = '/proc/1/comm';
