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
import { execute, isRefusal, refusal, refusalError, type Action, type Executors, type Refusal } from '../contract.ts';
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

export interface TeardownAction extends Action {
  kind: 'storage.unmount' | 'storage.remove-unit' | 'storage.deactivate' | 'storage.remove-vg' | 'storage.forget';
  commands?: string[][];
}

export interface TeardownPlan {
  actions: TeardownAction[];
  notes: string[];
}

/**
 * PURE: what teardown would do on this host, or a refusal (with --remove-volume-group, our VG also
 * holds LVs we did not make): then teardown changes nothing of storage, not even the mount.
 */
export function planTeardown(d: StorageDesired, a: StorageActual, o: TeardownOptions): TeardownPlan | Refusal {
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
  const others = vg && o.removeVolumeGroup ? a.lvm.lvs.filter((l) => l.vgName === vg.vgName && l.lvName !== d.lvName) : [];
  if (vg && others.length)
    return {
      ...refusal(
        `storage teardown: keep volume group ${vg.vgName}: it also holds LVs we did not make (${others.map((l) => l.lvName).join(', ')}); nothing of storage was changed`,
        `remove those LVs yourself (lvremove ${vg.vgName}/<lv>), then run reset --remove-volume-group again; or run reset without --remove-volume-group to keep the volume group`,
      ),
      notes,
    };

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
  if (o.removeVolumeGroup && a.state)
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

/** What the teardown executors share. */
interface TeardownContext {
  host: Host;
  d: StorageDesired;
  /** Every command and removal, in order, for the caller's report. */
  ran: string[];
  /** Our LV's major:minor: a mount of it at the mount point is ours. */
  ourMajMin: string | null;
}

async function teardownExec(c: TeardownContext, argv: string[], allowFail = false) {
  const [cmd, ...args] = argv as [string, ...string[]];
  c.ran.push(argv.join(' '));
  if (allowFail) return c.host.exec(cmd, args, { timeoutMs: 120_000, env: { ...LVM_ENV } }); // verified by the caller
  return runChecked(c.host, [cmd, ...args], {
    what: 'storage teardown',
    fix: 'fix the cause and run reset again; it resumes',
    timeoutMs: 120_000,
    env: { ...LVM_ENV },
  });
}

const mountedHere = async (c: TeardownContext) =>
  parseMountinfo((await c.host.readFile(MOUNTINFO_FILE)) ?? '').filter((m) => m.mountPoint === c.d.mountPoint && m.majMin === c.ourMajMin);

/** One executor per teardown action kind; the compiler checks the table is complete. */
const teardownExecutors: Executors<TeardownAction, TeardownContext> = {
  'storage.unmount': async (a, c) => {
    for (const argv of a.commands ?? []) {
      if (argv[0] === 'umount' && !(await mountedHere(c)).length) continue; // the stop already unmounted it
      await teardownExec(c, argv, true); // disable --now reports a failed stop; verified below
    }
    if ((await mountedHere(c)).length)
      throw new AgentError(
        `storage teardown: ${c.d.mountPoint} is still mounted (busy); stopped before removing anything`,
        `stop what uses it (systemctl stop k0sworker; k0s reset), check with: fuser -vm ${c.d.mountPoint}; then run reset again`,
      );
  },
  'storage.remove-unit': async (a, c) => {
    await c.host.remove(c.d.unitPath);
    c.ran.push(`remove ${c.d.unitPath}`);
    // `disable` removed these links; without a running systemd they may remain.
    for (const link of [wantsLink(c.d.unitName), requiresLink(c.d)]) {
      if (await c.host.stat(link)) {
        await c.host.remove(link);
        c.ran.push(`remove ${link}`);
      }
    }
    for (const argv of a.commands ?? []) await teardownExec(c, argv, true);
  },
  'storage.deactivate': async (a, c) => {
    for (const argv of a.commands ?? []) await teardownExec(c, argv);
  },
  'storage.remove-vg': async (a, c) => {
    for (const argv of a.commands ?? []) await teardownExec(c, argv);
  },
  'storage.forget': async (_a, c) => {
    await c.host.remove(c.d.stateFile);
    c.ran.push(`remove ${c.d.stateFile}`);
    // The disk census (./census.ts) describes disks around a volume that is gone.
    const census = censusPath(c.d);
    if (await c.host.stat(census)) {
      await c.host.remove(census);
      c.ran.push(`remove ${census}`);
    }
  },
};

/** Inspect, plan and run the teardown. Throws a refusal before changing anything, or (having stopped) when the volume cannot be unmounted. */
export async function teardownStorage(host: Host, d: StorageDesired, o: TeardownOptions, onProgress?: (l: string) => void): Promise<TeardownResult> {
  const actual = await inspectStorage(host, { ...d, devices: undefined });
  const plan = planTeardown(d, actual, o);
  if (isRefusal(plan)) throw refusalError(plan);
  const c: TeardownContext = {
    host,
    d,
    ran: [],
    ourMajMin: actual.lvm.lvs.find((l) => l.vgName === d.vgName && l.lvName === d.lvName)?.kernelMajMin ?? null,
  };
  for (const a of plan.actions) {
    onProgress?.(`storage teardown: ${a.description}`);
    await execute(teardownExecutors, [a], c);
  }
  return { plan, ran: c.ran };
}
