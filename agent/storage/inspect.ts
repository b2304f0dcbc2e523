/**
 * inspect: read everything the storage plan needs, through the Host port.
 * Changes nothing. Every command here is read-only:
 *
 *   lsblk -J -b -o <cols>          block device tree (sizes in bytes)
 *   /proc/self/mountinfo           current mounts (by major:minor, not by name)
 *   /proc/swaps                    swap partitions
 *   pvs|vgs|lvs --reportformat json  LVM with tags
 *   wipefs -n -J <disk>            every signature (fs, RAID, LVM, GPT incl. backup, PMBR)
 *   blkid -p -o export <disk>      low-level probe (TYPE, PTTYPE, USAGE) - not the udev cache
 *   blkid -p -o export <our LV>    the filesystem UUID for the mount unit (skipped when the LV is
 *                                  mounted at our mount point as xfs and the state file has its UUID)
 *   systemctl is-enabled <unit>
 * and, without a process:
 *   /sys/block/<disk>/queue/{minimum,optimal}_io_size, alignment_offset   LVM's PV alignment (./layout.ts)
 *   sample reads of each whole NVMe disk (auto-discovery only)             "provably empty" (./content.ts)
 */
import type { AgentError } from '../errors.ts';
import { commandFailure } from '../host/command-failure.ts';
import type { ExecResult, Host } from '../host/host.ts';
import {
  LVS_FIELDS,
  PVS_FIELDS,
  VGS_FIELDS,
  parseBlkidExport,
  parseLsblk,
  parseLvs,
  parseMountinfo,
  parsePvs,
  parseSwaps,
  parseVgs,
  parseWipefs,
} from './parse.ts';
import { readContent } from './content.ts';
import { isFsUuid } from './unit.ts';
import {
  LSBLK_COLUMNS,
  type BlockDevice,
  type DiskProbe,
  type LvmReport,
  type StorageActual,
  type StorageDesired,
  type StorageState,
  type Topology,
} from './types.ts';
import { MOUNTINFO_FILE, SWAPS_FILE, SYS_BLOCK_DIR } from '../host/paths.ts';

/** Commands inspect may run: none of them changes the host (used by tests with FakeHost.mutations()). */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set(['lsblk', 'wipefs', 'blkid', 'pvs', 'vgs', 'lvs', 'readlink']);

const MKFS_XFS_PATHS = ['/usr/sbin/mkfs.xfs', '/sbin/mkfs.xfs', '/usr/bin/mkfs.xfs'];
/** The link `systemctl enable` creates for WantedBy=local-fs.target. */
export const wantsLink = (unitName: string): string => `/etc/systemd/system/local-fs.target.wants/${unitName}`;

/** LVM prints "File descriptor N leaked" when the parent leaks fds; it is noise. */
export const LVM_ENV = { LVM_SUPPRESS_FD_WARNINGS: '1' } as const;

export const lsblkArgs = (): string[] => ['-J', '-b', '-o', LSBLK_COLUMNS];
export const wipefsArgs = (dev: string): string[] => ['-n', '-J', dev];
export const blkidArgs = (dev: string): string[] => ['-p', '-o', 'export', dev];
const lvmArgs = (fields: string): string[] => ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', fields];
export const pvsArgs = (): string[] => lvmArgs(PVS_FIELDS);
export const vgsArgs = (): string[] => lvmArgs(VGS_FIELDS);
export const lvsArgs = (): string[] => lvmArgs(LVS_FIELDS);

/** An NVMe namespace as the kernel names it (nvme0n1), or lsblk's transport says so. */
export function isNvme(d: Pick<BlockDevice, 'name' | 'tran'>): boolean {
  return d.tran === 'nvme' || /^nvme\d+n\d+$/.test(d.name);
}

function failed(cmd: string, args: string[], r: ExecResult): AgentError {
  return commandFailure([cmd, ...args], r, {
    what: 'storage',
    fix: 'run the command by hand to see the full error',
    notFoundFix: 'install it (Debian: apt-get install util-linux lvm2 xfsprogs)',
  });
}

/** LVM's inputs for a new PV's alignment, from sysfs (absent files read as "not reported"). */
async function topology(host: Host, kname: string): Promise<Topology> {
  const num = async (p: string) => {
    const n = Number((await host.readFile(`${SYS_BLOCK_DIR}/${kname}/${p}`))?.trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  };
  const [minIo, optIo, alignOffset] = await Promise.all([num('queue/minimum_io_size'), num('queue/optimal_io_size'), num('alignment_offset')]);
  return { ...(minIo ? { minIo } : {}), ...(optIo ? { optIo } : {}), ...(alignOffset ? { alignOffset } : {}) };
}

/** Disks whose structure alone already makes them unsafe need no content reads (nor a fingerprint). */
const needsContent = (d: BlockDevice): boolean => d.children.length === 0 && !d.ro && d.size > 0;

async function probeDisk(host: Host, d: BlockDevice, auto: boolean): Promise<DiskProbe> {
  const dev = d.path;
  const [w, b, topo, content] = await Promise.all([
    host.exec('wipefs', wipefsArgs(dev), { timeoutMs: 30_000 }),
    host.exec('blkid', blkidArgs(dev), { timeoutMs: 30_000 }),
    topology(host, d.kname),
    auto && needsContent(d) ? readContent(host, dev, d.size) : undefined,
  ]);
  const probe: DiskProbe = { signatures: [], blkid: {}, ...(content ? { content } : {}), ...(Object.keys(topo).length ? { topology: topo } : {}) };
  const errors: string[] = [];
  if (w.exitCode === 0) {
    try {
      probe.signatures = parseWipefs(w.stdout);
    } catch (e) {
      errors.push((e as Error).message);
    }
  } else errors.push(`wipefs: ${w.notFound ? 'not found' : (w.stderr || `exit ${w.exitCode}`).trim()}`);
  // blkid exit 2 = nothing found; 0 = found; anything else is an error.
  if (b.exitCode === 0) probe.blkid = parseBlkidExport(b.stdout);
  else if (b.exitCode !== 2) errors.push(`blkid: ${b.notFound ? 'not found' : (b.stderr || `exit ${b.exitCode}`).trim()}`);
  if (errors.length) probe.error = errors.join('; ');
  return probe;
}

async function lvmReport(host: Host): Promise<LvmReport> {
  const run = (cmd: string, args: string[]) => host.exec(cmd, args, { env: { ...LVM_ENV }, timeoutMs: 60_000 });
  const [p, v, l] = await Promise.all([run('pvs', pvsArgs()), run('vgs', vgsArgs()), run('lvs', lvsArgs())]);
  if (p.notFound) return { available: false, pvs: [], vgs: [], lvs: [] };
  // LVM exits non-zero for e.g. a partial VG but still prints the report: use the JSON when it parses.
  const parse = <T>(cmd: string, args: string[], r: ExecResult, f: (t: string) => T): T => {
    try {
      if (r.stdout.trim() === '' && r.exitCode !== 0) throw new Error('no output');
      return f(r.stdout);
    } catch {
      throw failed(cmd, args, r);
    }
  };
  return {
    available: true,
    pvs: parse('pvs', pvsArgs(), p, parsePvs),
    vgs: parse('vgs', vgsArgs(), v, parseVgs),
    lvs: parse('lvs', lvsArgs(), l, parseLvs),
  };
}

function parseState(text: string | undefined): { state?: StorageState; error?: string } {
  if (text === undefined) return {};
  try {
    const s = JSON.parse(text) as StorageState;
    if (s && s.version === 1 && Array.isArray(s.devices) && typeof s.vgName === 'string') return { state: s };
    return { error: 'unexpected content' };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function allNodes(devs: BlockDevice[]): BlockDevice[] {
  const out: BlockDevice[] = [];
  const walk = (d: BlockDevice) => {
    out.push(d);
    d.children.forEach(walk);
  };
  devs.forEach(walk);
  return out;
}

/** Run `fn` over `items` with at most `limit` in flight. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function inspectStorage(host: Host, desired: StorageDesired): Promise<StorageActual> {
  const [ls, mountinfo, swaps, lvm, unitContent, stateText] = await Promise.all([
    host.exec('lsblk', lsblkArgs(), { timeoutMs: 30_000 }),
    host.readFile(MOUNTINFO_FILE),
    host.readFile(SWAPS_FILE),
    lvmReport(host),
    host.readFile(desired.unitPath),
    host.readFile(desired.stateFile),
  ]);
  if (ls.exitCode !== 0) throw failed('lsblk', lsblkArgs(), ls);
  const blockDevices = parseLsblk(ls.stdout);
  const mounts = parseMountinfo(mountinfo ?? '');
  const st = parseState(stateText);
  const nodes = allNodes(blockDevices);
  const byPath = new Set(nodes.flatMap((n) => [n.path, `/dev/${n.kname}`]));

  // NVME_DEVICES entries that are not a /dev path lsblk prints (e.g. /dev/disk/by-id/nvme-...): resolve the symlink.
  const resolved: Record<string, string> = {};
  for (const entry of desired.devices ?? []) {
    if (byPath.has(entry) || !entry.startsWith('/dev/')) continue;
    const r = await host.exec('readlink', ['-e', '--', entry], { timeoutMs: 5_000 });
    const target = r.stdout.trim();
    if (r.exitCode === 0 && target) resolved[entry] = target;
  }

  // Our VG's PVs are proven ours by pvs (the tag is on the VG): no need to probe them.
  const ourVg = lvm.vgs.find((v) => v.vgName === desired.vgName && v.tags.includes(desired.tag));
  const ourPvs = new Set(ourVg ? lvm.pvs.filter((p) => p.vgName === ourVg.vgName).map((p) => p.pvName) : []);
  const requested = new Set((desired.devices ?? []).map((e) => resolved[e] ?? e));
  const toProbe = blockDevices
    .filter((d) => d.type === 'disk' && (isNvme(d) || requested.has(d.path) || requested.has(`/dev/${d.kname}`)))
    .filter((d) => !ourPvs.has(d.path));
  const auto = desired.devices === undefined;
  const probed = await mapLimit(toProbe, 8, (d) => probeDisk(host, d, auto));
  const probes: Record<string, DiskProbe> = {};
  toProbe.forEach((d, i) => (probes[d.path] = probed[i]!));

  const actual: StorageActual = {
    blockDevices,
    mounts,
    swaps: parseSwaps(swaps ?? ''),
    probes,
    resolved,
    lvm,
    unit: {},
    tools: { mkfsXfs: true },
  };
  if (st.state) actual.state = st.state;
  if (st.error) actual.stateError = `${desired.stateFile}: ${st.error}`;

  const ourLv = ourVg && lvm.lvs.find((l) => l.vgName === ourVg.vgName && l.lvName === desired.lvName);
  // Steady state: the kernel already proves what is on our LV when it is mounted at our mount
  // point as xfs, and the state file recorded its UUID when we made it: no blkid needed.
  const mountedXfs = ourLv?.kernelMajMin && mounts.some((m) => m.majMin === ourLv.kernelMajMin && m.mountPoint === desired.mountPoint && m.fstype === 'xfs');
  const recordedUuid = isFsUuid(st.state?.fsUuid) ? st.state.fsUuid : undefined;
  if (mountedXfs && recordedUuid) {
    actual.lvFs = { type: 'xfs', uuid: recordedUuid };
  } else if (ourLv?.kernelMajMin) {
    const dev = ourLv.lvPath || `/dev/${ourLv.vgName}/${ourLv.lvName}`;
    const b = await host.exec('blkid', blkidArgs(dev), { timeoutMs: 30_000 });
    if (b.exitCode === 0) {
      const kv = parseBlkidExport(b.stdout);
      actual.lvFs = { ...(kv.TYPE ? { type: kv.TYPE } : {}), ...(kv.UUID ? { uuid: kv.UUID } : {}) };
    } else if (b.exitCode === 2) actual.lvFs = {};
    else throw failed('blkid', blkidArgs(dev), b);
  }
  if (actual.lvFs?.type !== 'xfs') {
    const found = await Promise.all(MKFS_XFS_PATHS.map((p) => host.stat(p)));
    actual.tools.mkfsXfs = found.some((s) => s?.isFile || s?.isSymlink);
  }

  if (unitContent !== undefined) {
    actual.unit.content = unitContent;
    // `systemctl enable` of our unit creates this link (WantedBy=local-fs.target); no process needed to check it.
    const link = await host.stat(wantsLink(desired.unitName));
    actual.unit.enabled = link ? 'enabled' : 'disabled';
  }

  if (!mounts.some((m) => m.mountPoint === desired.mountPoint)) {
    const entries = await host.readdir(desired.mountPoint);
    if (entries.length) actual.mountPointEntries = entries.slice(0, 20);
  }
  return actual;
}
