/**
 * apply: run a storage plan. Idempotent: every action re-checks what it can
 * (mkfs probes the LV first and never reformats; the unit is written only when
 * it differs), so re-running after a crash at any point converges.
 * A plan with a refusal changes nothing: it throws before the first command.
 */
import { execute, refusal, refusalError as toError, type Executors, type Refusal } from '../contract.ts';
import { AgentError, EXIT } from '../errors.ts';
import { runChecked } from '../host/command-failure.ts';
import type { ExecResult, Host } from '../host/host.ts';
import { LVM_ENV, blkidArgs } from './inspect.ts';
import { parseBlkidExport, parseMountinfo } from './parse.ts';
import { renderMountUnit } from './unit.ts';
import type { StorageAction, StorageDesired, StoragePlan, StorageState } from './types.ts';

export interface ApplyResult {
  changed: boolean;
  fsUuid?: string;
  /** Commands run, as lines, in order (for the log). */
  ran: string[];
}

export interface ApplyOptions {
  /** Progress lines for the log. */
  onProgress?: (line: string) => void;
  /** Device facts recorded in the state file for the operator (path -> serial/model/size). */
  deviceInfo?: StorageState['deviceInfo'];
  now?: () => Date;
}

/** The refusal of a refused plan: every device and reason, one per line. Exit code 2 (the operator's input is the problem). */
export function storageRefusal(plan: StoragePlan): Refusal {
  const lines = plan.refusals.map((r) => `  ${r.device ?? 'storage'}: ${r.reason}`);
  return refusal(
    `storage: refusing to touch any disk (nothing was changed):\n${lines.join('\n')}`,
    'fix the listed devices (or NVME_DEVICES) and run again; castai-edge-initd never formats a disk that holds data or is not proven ours',
    EXIT.CONFIG,
    plan.summary,
  );
}

/** The error a refused plan raises (the words `plan` shows). */
export const refusalError = (plan: StoragePlan): AgentError => toError(storageRefusal(plan));

/** A fix for what the failing storage command said, when there is a more specific one than "run again". */
export function fixForStorage(why: string[]): string | undefined {
  const text = why.join('\n');
  if (/busy/i.test(text)) return 'a device was busy (udev race or another user); run again, the step resumes where it stopped';
  if (/must be larger than|too small|Insufficient (suitable )?(allocatable )?(free )?extents/i.test(text))
    return 'the disks are too small for the volume the plan computed; check `castai-edge-initd plan`, use larger disks, then run again';
  if (/read-only/i.test(text)) return 'a device is read-only; check it (lsblk -o NAME,RO) and run again';
  return undefined;
}

const LONG: Record<string, number> = { 'mkfs.xfs': 600_000, lvcreate: 300_000, pvcreate: 120_000, vgcreate: 120_000, vgchange: 120_000 };

/** What the storage executors share during one apply. */
interface StorageApplyContext {
  host: Host;
  d: StorageDesired;
  lvPath: string;
  res: ApplyResult;
  say: (line: string) => void;
  /** Run a command of the plan; throws the one-format error unless it succeeded (udevadm settle: best effort). */
  run: (argv: string[], what: string) => Promise<ExecResult>;
  probeLv: () => Promise<{ type?: string; uuid?: string }>;
  xfsUnfinished: () => Promise<boolean>;
  writeState: (a: StorageAction) => Promise<void>;
}

/** The LVM commands of a plan: run in order, exactly as planned. */
const runCommands = async (a: StorageAction, c: StorageApplyContext): Promise<void> => {
  for (const argv of a.commands ?? []) await c.run(argv, a.description);
  c.res.changed = true;
};

/** One executor per storage action kind; the compiler checks the table is complete. */
const storageExecutors: Executors<StorageAction, StorageApplyContext> = {
  'storage.record': (a, c) => c.writeState(a),
  'storage.pvcreate': runCommands,
  'storage.vgcreate': runCommands,
  'storage.lvcreate': runCommands,
  'storage.activate': runCommands,
  'storage.mkfs': async (a, c) => {
    // Always probe first: a filesystem found here is never reformatted, except an unfinished xfs
    // of our own interrupted build (below).
    const fs = await c.probeLv();
    let remake = false;
    if (fs.type === 'xfs') {
      if (!a.checkUnfinished || !(await c.xfsUnfinished())) {
        c.res.fsUuid = fs.uuid;
        return;
      }
      // Our tagged LV, our state file says the build never completed, and the superblock says
      // mkfs.xfs never finished: the kernel refuses to mount it, so nothing can be on it.
      c.say(`storage: ${c.lvPath} holds an unfinished xfs (sb_inprogress set: mkfs.xfs was stopped midway); making it again`);
      remake = true;
    } else if (fs.type)
      throw new AgentError(
        `storage: our LV ${c.lvPath} holds a ${fs.type} filesystem, not xfs; refusing to reformat it (nothing else was changed by this step)`,
        `if its data is not needed: castai-edge-initd reset --yes-really-reset --remove-volume-group, then run again`,
        EXIT.CONFIG,
      );
    for (const argv of a.commands ?? []) await c.run(remake && argv[0] === 'mkfs.xfs' ? ['mkfs.xfs', '-f', ...argv.slice(1)] : argv, a.description);
    c.res.changed = true;
    const after = await c.probeLv();
    if (after.type !== 'xfs' || !after.uuid)
      throw new AgentError(`storage: mkfs.xfs on ${c.lvPath} finished but blkid does not see an xfs filesystem`, `check dmesg and run again`);
    c.res.fsUuid = after.uuid;
  },
  'storage.mount-unit': async (_a, c) => {
    if (!c.res.fsUuid) c.res.fsUuid = (await c.probeLv()).uuid;
    if (!c.res.fsUuid)
      throw new AgentError(
        `storage: ${c.lvPath} has no filesystem UUID; cannot write ${c.d.unitPath}`,
        'run again; if it persists, check `blkid -p ' + c.lvPath + '`',
      );
    const text = renderMountUnit(c.d, c.res.fsUuid);
    if ((await c.host.readFile(c.d.unitPath)) !== text) {
      await c.host.writeFileAtomic(c.d.unitPath, text, { mode: 0o644 });
      c.res.ran.push(`write ${c.d.unitPath}`);
      c.res.changed = true;
    }
  },
  'storage.mount': async (a, c) => {
    await runCommands(a, c);
    const mi = parseMountinfo((await c.host.readFile('/proc/self/mountinfo')) ?? '');
    if (!mi.some((m) => m.mountPoint === c.d.mountPoint))
      throw new AgentError(
        `storage: ${c.d.unitName} started but ${c.d.mountPoint} is not mounted`,
        `see: systemctl status ${c.d.unitName}; journalctl -u ${c.d.unitName}`,
      );
  },
};

export async function applyStorage(host: Host, d: StorageDesired, plan: StoragePlan, opts: ApplyOptions = {}): Promise<ApplyResult> {
  if (plan.refused) throw refusalError(plan);
  const now = opts.now ?? (() => new Date());
  const res: ApplyResult = { changed: false, ran: [] };
  const say = (l: string) => opts.onProgress?.(l);
  const lvPath = `/dev/${d.vgName}/${d.lvName}`;

  const run = async (argv: string[], what: string): Promise<ExecResult> => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const isLvm = ['pvcreate', 'vgcreate', 'lvcreate', 'vgchange', 'lvremove', 'vgremove', 'pvremove'].includes(cmd);
    const opts = { timeoutMs: LONG[cmd] ?? 60_000, ...(isLvm ? { env: { ...LVM_ENV } } : {}) };
    res.ran.push(argv.join(' '));
    if (cmd === 'udevadm') return host.exec(cmd, args, opts); // settle is best effort (no udev in a container: nothing to wait for)
    return runChecked(host, [cmd, ...args], {
      ...opts,
      what: `storage: ${what}`,
      fix: 'run again after fixing the cause; the step resumes where it stopped (state in the state dir)',
      fixFor: fixForStorage,
      notFoundFix: 'install it (Debian: apt-get install lvm2 xfsprogs), then run again',
    });
  };

  const probeLv = async (): Promise<{ type?: string; uuid?: string }> => {
    res.ran.push(['blkid', ...blkidArgs(lvPath)].join(' '));
    // blkid exits 2 when it finds nothing: an LV without a filesystem yet.
    const r = await runChecked(host, ['blkid', ...blkidArgs(lvPath)], {
      what: `storage: cannot probe ${lvPath}`,
      fix: 'check that the volume group is active: vgchange -ay ' + d.vgName,
      timeoutMs: 30_000,
      okExitCodes: [2],
    });
    if (r.exitCode === 2) return {};
    const kv = parseBlkidExport(r.stdout);
    return { ...(kv.TYPE ? { type: kv.TYPE } : {}), ...(kv.UUID ? { uuid: kv.UUID } : {}) };
  };

  /**
   * True when the xfs on our LV was never finished: mkfs.xfs sets sb_inprogress in the first
   * superblock it writes and clears it last, and the kernel refuses to mount while it is set.
   * `xfs_db -r` opens the device read-only. When it cannot tell (not installed, odd output), the
   * filesystem is kept: the mount then fails loudly rather than anything being reformatted.
   */
  const xfsUnfinished = async (): Promise<boolean> => {
    const args = ['-r', '-c', 'sb 0', '-c', 'p inprogress', lvPath];
    const r = await host.exec('xfs_db', args, { timeoutMs: 60_000 });
    res.ran.push(['xfs_db', ...args].join(' '));
    return r.exitCode === 0 && /^inprogress = 1$/m.test(r.stdout);
  };

  const writeState = async (a: StorageAction) => {
    const s = a.state!;
    const prevText = await host.readFile(d.stateFile);
    let prev: StorageState | undefined;
    try {
      prev = prevText ? (JSON.parse(prevText) as StorageState) : undefined;
    } catch {
      prev = undefined;
    }
    if (s.phase === 'ready' && !res.fsUuid) res.fsUuid = (await probeLv()).uuid;
    const ts = now().toISOString();
    const keepCreated = prev && prev.vgName === d.vgName && [...prev.devices].sort().join() === [...s.devices].sort().join();
    const state: StorageState = {
      version: 1,
      phase: s.phase,
      vgName: d.vgName,
      lvName: d.lvName,
      devices: [...s.devices].sort(),
      ...(opts.deviceInfo
        ? { deviceInfo: opts.deviceInfo.filter((x) => s.devices.includes(x.path)).sort((x, y) => x.path.localeCompare(y.path)) }
        : prev?.deviceInfo
          ? { deviceInfo: prev.deviceInfo }
          : {}),
      stripes: s.stripes,
      ...(res.fsUuid ? { fsUuid: res.fsUuid } : {}),
      createdAt: keepCreated && prev?.createdAt ? prev.createdAt : ts,
      updatedAt: ts,
    };
    await host.writeFileAtomic(d.stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
    res.ran.push(`write ${d.stateFile} (${s.phase})`);
  };

  const c: StorageApplyContext = { host, d, lvPath, res, say, run, probeLv, xfsUnfinished, writeState };
  for (const a of plan.actions) {
    say(`storage: ${a.description}`);
    await execute(storageExecutors, [a], c);
  }
  return res;
}
