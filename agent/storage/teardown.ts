/**
 * Storage teardown for `reset` and edge removal. Order (never the other way round):
 *   1. unmount /var/lib/k0s (systemctl disable --now; umount only if still mounted) and VERIFY it is unmounted;
 *   2. remove our mount unit, daemon-reload;
 *   3. deactivate our VG (vgchange -an);
 *   4. only with removeVolumeGroup: lvremove our LV, vgremove our VG, pvremove its PVs, forget the state file.
 * Only what carries our tag is touched. Nothing is ever deleted recursively,
 * least of all through a mount (aws/eks-hybrid#664): files under /var/lib/k0s
 * are left for `k0s reset`, which runs before this, while the volume is mounted.
 */
import { AgentError } from '../errors.ts';
import { runChecked } from '../host/command-failure.ts';
import type { Host } from '../host/host.ts';
import { LVM_ENV, inspectStorage, wantsLink } from './inspect.ts';
import { parseMountinfo } from './parse.ts';
import { censusPath } from './quick.ts';
import type { StorageActual, StorageDesired } from './types.ts';
import { MOUNTINFO_FILE } from '../host/paths.ts';

const requiresLink = (d: StorageDesired) => `/etc/systemd/system/${d.k0sUnit}.requires/${d.unitName}`;

export interface TeardownOptions {
  /** Also remove our LV, VG and PV labels (the data is lost). */
  removeVolumeGroup: boolean;
}

export interface TeardownAction {
  kind: 'storage.unmount' | 'storage.remove-unit' | 'storage.deactivate' | 'storage.remove-vg' | 'storage.forget' | 'storage.refuse';
  description: string;
  reason: string;
  commands?: string[][];
}

export interface TeardownPlan {
  actions: TeardownAction[];
  notes: string[];
}

/** PURE: what teardown would do on this host. */
export function planTeardown(d: StorageDesired, a: StorageActual, o: TeardownOptions): TeardownPlan {
  const actions: TeardownAction[] = [];
  const notes: string[] = [];
  const vg = a.lvm.vgs.find((v) => v.vgName === d.vgName && v.tags.includes(d.tag));
  const foreignVg = a.lvm.vgs.find((v) => v.vgName === d.vgName && !v.tags.includes(d.tag));
  const lv = vg ? a.lvm.lvs.find((l) => l.vgName === vg.vgName && l.lvName === d.lvName) : undefined;
  const atMp = a.mounts.filter((m) => m.mountPoint === d.mountPoint);
  const ourMount = lv?.kernelMajMin ? atMp.find((m) => m.majMin === lv.kernelMajMin) : undefined;
  const otherMount = atMp.find((m) => m !== ourMount);
  if (otherMount) notes.push(`${d.mountPoint} is also a mount of ${otherMount.source} (not ours): left alone`);
  if (foreignVg) notes.push(`volume group ${foreignVg.vgName} has no tag ${d.tag}: not ours, left alone`);

  if (a.unit.content !== undefined || ourMount) {
    actions.push({
      kind: 'storage.unmount',
      description: `unmount ${d.mountPoint} (systemctl disable --now ${d.unitName})`,
      reason: 'the volume is unmounted before anything else happens to it',
      commands: [
        ...(a.unit.content !== undefined ? [['systemctl', 'disable', '--now', d.unitName]] : []),
        ...(ourMount ? [['umount', d.mountPoint]] : []), // run only if still mounted after the stop
      ],
    });
  }
  if (a.unit.content !== undefined)
    actions.push({
      kind: 'storage.remove-unit',
      description: `remove ${d.unitPath}; systemctl daemon-reload`,
      reason: 'no mount of a removed volume at the next boot',
      commands: [['systemctl', 'daemon-reload']],
    });
  if (vg) {
    actions.push({
      kind: 'storage.deactivate',
      description: `vgchange -an ${vg.vgName}`,
      reason: `deactivate our volume group (tag ${d.tag})`,
      commands: [['vgchange', '-an', vg.vgName]],
    });
    if (o.removeVolumeGroup) {
      const others = a.lvm.lvs.filter((l) => l.vgName === vg.vgName && l.lvName !== d.lvName);
      if (others.length)
        actions.push({
          kind: 'storage.refuse',
          description: `keep volume group ${vg.vgName}`,
          reason: `it also holds LVs we did not make (${others.map((l) => l.lvName).join(', ')}); remove them yourself first`,
        });
      else {
        const pvs = a.lvm.pvs.filter((p) => p.vgName === vg.vgName && p.pvName.startsWith('/dev/')).map((p) => p.pvName);
        actions.push({
          kind: 'storage.remove-vg',
          description: `remove LV ${vg.vgName}/${d.lvName}, volume group ${vg.vgName}, PV labels on ${pvs.join(', ')}`,
          reason: '--remove-volume-group: the data on it is discarded',
          commands: [
            ...(lv ? [['lvremove', '--yes', `${vg.vgName}/${d.lvName}`]] : []),
            ['vgremove', '--yes', vg.vgName],
            ...(pvs.length ? [['pvremove', '--yes', ...pvs]] : []),
          ],
        });
      }
    }
  }
  if (o.removeVolumeGroup && a.state && !actions.some((x) => x.kind === 'storage.refuse'))
    actions.push({
      kind: 'storage.forget',
      description: `remove ${d.stateFile} (and the disk census beside it)`,
      reason: 'the recorded volume no longer exists',
    });
  if (!o.removeVolumeGroup && vg) notes.push(`volume group ${vg.vgName} kept (deactivated); add --remove-volume-group to remove it`);
  return { actions, notes };
}

export interface TeardownResult {
  plan: TeardownPlan;
  ran: string[];
}

/** Inspect, plan and run the teardown. Throws (having stopped) when the volume cannot be unmounted. */
export async function teardownStorage(host: Host, d: StorageDesired, o: TeardownOptions, onProgress?: (l: string) => void): Promise<TeardownResult> {
  const actual = await inspectStorage(host, { ...d, devices: undefined });
  const plan = planTeardown(d, actual, o);
  const ran: string[] = [];
  const exec = async (argv: string[], allowFail = false) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    ran.push(argv.join(' '));
    if (allowFail) return host.exec(cmd, args, { timeoutMs: 120_000, env: { ...LVM_ENV } }); // verified by the caller
    return runChecked(host, [cmd, ...args], {
      what: 'storage teardown',
      fix: 'fix the cause and run reset again; it resumes',
      timeoutMs: 120_000,
      env: { ...LVM_ENV },
    });
  };
  const mountedHere = async () => parseMountinfo((await host.readFile(MOUNTINFO_FILE)) ?? '').filter((m) => m.mountPoint === d.mountPoint);
  const ourMajMin = actual.lvm.lvs.find((l) => l.vgName === d.vgName && l.lvName === d.lvName)?.kernelMajMin ?? null;

  for (const a of plan.actions) {
    onProgress?.(`storage teardown: ${a.description}`);
    switch (a.kind) {
      case 'storage.unmount': {
        for (const argv of a.commands ?? []) {
          if (argv[0] === 'umount') {
            if (!(await mountedHere()).some((m) => m.majMin === ourMajMin)) continue;
            await exec(argv, true);
          } else await exec(argv, true); // disable --now reports a failed stop; verified below
        }
        const still = (await mountedHere()).filter((m) => m.majMin === ourMajMin);
        if (still.length)
          throw new AgentError(
            `storage teardown: ${d.mountPoint} is still mounted (busy); stopped before removing anything`,
            `stop what uses it (systemctl stop k0sworker; k0s reset), check with: fuser -vm ${d.mountPoint}; then run reset again`,
          );
        break;
      }
      case 'storage.remove-unit':
        await host.remove(d.unitPath);
        ran.push(`remove ${d.unitPath}`);
        // `disable` removed these links; without a running systemd they may remain.
        for (const link of [wantsLink(d.unitName), requiresLink(d)]) {
          if (await host.stat(link)) {
            await host.remove(link);
            ran.push(`remove ${link}`);
          }
        }
        for (const argv of a.commands ?? []) await exec(argv, true);
        break;
      case 'storage.deactivate':
      case 'storage.remove-vg':
        for (const argv of a.commands ?? []) await exec(argv);
        break;
      case 'storage.forget': {
        await host.remove(d.stateFile);
        ran.push(`remove ${d.stateFile}`);
        // The disk census (./census.ts) describes disks around a volume that is gone.
        const census = censusPath(d);
        if (await host.stat(census)) {
          await host.remove(census);
          ran.push(`remove ${census}`);
        }
        break;
      }
      case 'storage.refuse':
        throw new AgentError(`storage teardown: ${a.description}: ${a.reason}`, 'remove the other LVs yourself, then run reset again');
    }
  }
  return { plan, ran };
}
