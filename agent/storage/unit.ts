import type { StorageDesired } from './types.ts';

/** A filesystem UUID fit for `What=/dev/disk/by-uuid/…` (what mkfs.xfs prints; anything else is damage). */
export const isFsUuid = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-fA-F-]{8,64}$/.test(v);

/**
 * The systemd mount unit for /var/lib/k0s (pure).
 *
 * - `What=` by filesystem UUID: NVMe names change across boots.
 * - `noatime`: containerd/kubelet churn; access times are useless here.
 * - `WantedBy=local-fs.target`: mounted at boot with the local filesystems,
 *   before the agent and long before the join step.
 * - `Before=` + `RequiredBy=` k0sworker.service: k0s never starts on the root
 *   disk underneath an absent mount (after an instance-store stop/start the
 *   mount fails, k0sworker waits, and the agent rebuilds the volume first).
 */
export function renderMountUnit(d: Pick<StorageDesired, 'mountPoint' | 'vgName' | 'lvName' | 'k0sUnit'>, fsUuid: string): string {
  if (!isFsUuid(fsUuid)) throw new Error(`refusing to write a mount unit for an invalid filesystem UUID "${String(fsUuid)}"`);
  return [
    '# Written by castai-edge-initd: k0s data on the NVMe LVM volume.',
    '# Do not edit: the agent rewrites it; `castai-edge-initd reset` removes it.',
    '[Unit]',
    `Description=castai-edge-initd: ${d.mountPoint} on LVM ${d.vgName}/${d.lvName} (NVMe)`,
    `Before=${d.k0sUnit}`,
    '',
    '[Mount]',
    `What=/dev/disk/by-uuid/${fsUuid}`,
    `Where=${d.mountPoint}`,
    'Type=xfs',
    'Options=noatime',
    '',
    '[Install]',
    'WantedBy=local-fs.target',
    `RequiredBy=${d.k0sUnit}`,
    '',
  ].join('\n');
}

/** The fs UUID a unit we wrote mounts, or undefined. */
export function unitFsUuid(content: string | undefined): string | undefined {
  return content?.match(/^What=\/dev\/disk\/by-uuid\/(\S+)$/m)?.[1];
}
