/**
 * Realistic tool outputs captured from the SIMULATED storage host
 * (test/fixtures/storage/sim.ts, whose formats follow real captures) and the
 * real nvidia-smi captures: the seeds the plan-path fuzzers mutate.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FakeHost } from '../../agent/host/fake.ts';
import { parseLsblk } from '../../agent/storage/parse.ts';
import { blkidArgs, lsblkArgs, lvsArgs, pvsArgs, READ_ONLY_COMMANDS, vgsArgs, wipefsArgs } from '../../agent/storage/inspect.ts';
import { runStorageStep } from '../../agent/storage/index.ts';
import { GiB, StorageSim, TB } from '../fixtures/storage/sim.ts';
import { FIXTURES } from './fixtures.ts';

export const STATE_DIR = '/var/lib/castai-edge-initd';

export interface StorageScenario {
  name: string;
  lsblk: string;
  pvs: string;
  vgs: string;
  lvs: string;
  /** Per whole disk: wipefs -n -J stdout and blkid -p -o export (exit code + stdout). */
  probes: Record<string, { wipefs: string; blkid: { exitCode: number; stdout: string } }>;
  /** blkid of our LV, when there is one. */
  lvBlkid?: { exitCode: number; stdout: string };
  mountinfo: string;
  swaps: string;
  state?: string;
  unit?: string;
}

async function capture(name: string, sim: StorageSim): Promise<StorageScenario> {
  const h = sim.host;
  const out = async (cmd: string, args: string[]) => (await h.exec(cmd, args)).stdout;
  const lsblk = await out('lsblk', lsblkArgs());
  const disks = (JSON.parse(lsblk) as { blockdevices: Array<{ path: string; type: string }> }).blockdevices
    .filter((d) => d.type === 'disk' && d.path.includes('nvme'))
    .map((d) => d.path);
  const probes: StorageScenario['probes'] = {};
  for (const d of disks) {
    const b = await h.exec('blkid', blkidArgs(d));
    probes[d] = { wipefs: await out('wipefs', wipefsArgs(d)), blkid: { exitCode: b.exitCode, stdout: b.stdout } };
  }
  const hasLv = sim.lvs.some((l) => l.vg === 'castai-edge' && l.name === 'k0s');
  const lv = hasLv ? await h.exec('blkid', blkidArgs('/dev/castai-edge/k0s')) : undefined;
  return {
    name,
    lsblk,
    pvs: await out('pvs', pvsArgs()),
    vgs: await out('vgs', vgsArgs()),
    lvs: await out('lvs', lvsArgs()),
    probes,
    ...(lv ? { lvBlkid: { exitCode: lv.exitCode, stdout: lv.stdout } } : {}),
    mountinfo: h.files.get('/proc/self/mountinfo')?.data ?? '',
    swaps: h.files.get('/proc/swaps')?.data ?? '',
    ...(h.files.get(`${STATE_DIR}/storage.json`) ? { state: h.files.get(`${STATE_DIR}/storage.json`)!.data } : {}),
    ...(h.files.get('/etc/systemd/system/var-lib-k0s.mount') ? { unit: h.files.get('/etc/systemd/system/var-lib-k0s.mount')!.data } : {}),
  };
}

/** n blank NVMe disks (3.84 TB) next to the vda system disk. */
export function blankNvmeSim(n: number): StorageSim {
  return new StorageSim(Array.from({ length: n }, (_, i) => StorageSim.nvme(i)));
}

let cached: StorageScenario[] | undefined;

/** Blank disks; a mix of signatures, partitions and mounts; and a host the agent already set up. */
export async function storageScenarios(): Promise<StorageScenario[]> {
  if (cached) return cached;
  const blank = await capture('24 blank NVMe', blankNvmeSim(24));
  const mixed = new StorageSim([
    StorageSim.nvme(0),
    StorageSim.nvme(1, { sig: 'ext4' }),
    StorageSim.nvme(2, { sig: 'gpt', children: [{ name: 'nvme2n1p1', type: 'part', size: 100 * GiB, majMin: '259:9', mountpoints: ['/data'] }] }),
    StorageSim.nvme(3, { sig: 'lvm2-member' }),
    StorageSim.nvme(4, { sig: 'linux_raid_member' }),
    StorageSim.nvme(5, { sig: 'crypto_LUKS' }),
    StorageSim.nvme(6, { sig: 'swap' }),
    StorageSim.nvme(7, { sig: 'xfs', size: 1 * TB }),
    StorageSim.nvme(8, { sig: 'dos' }),
  ]);
  const mixedScenario = await capture('mixed signatures', mixed);
  const done = blankNvmeSim(4);
  await runStorageStep(done.host, { nvmeDevices: undefined }, STATE_DIR);
  const doneScenario = await capture('already set up', done);
  cached = [blank, mixedScenario, doneScenario];
  return cached;
}

/** A FakeHost answering the storage reads from a scenario (optionally with fuzzed parts). */
export function storageHost(s: StorageScenario, opts: { exit?: Partial<Record<'lsblk' | 'pvs' | 'vgs' | 'lvs' | 'wipefs' | 'blkid', number>> } = {}): FakeHost {
  const h = new FakeHost();
  const x = opts.exit ?? {};
  const r = (stdout: string, exitCode = 0) =>
    exitCode === 127 ? { exitCode, stdout: '', notFound: true } : { exitCode, stdout, stderr: exitCode ? 'simulated failure' : '' };
  h.onExec('lsblk', r(s.lsblk, x.lsblk));
  h.onExec('pvs', r(s.pvs, x.pvs));
  h.onExec('vgs', r(s.vgs, x.vgs));
  h.onExec('lvs', r(s.lvs, x.lvs));
  h.onExec('readlink', (args) => ({ exitCode: 0, stdout: `${args[args.length - 1]}\n` }));
  h.onExec('wipefs', (args) => {
    const p = s.probes[args[args.length - 1]!];
    return p ? r(p.wipefs, x.wipefs) : { exitCode: 1, stderr: 'wipefs: no such device' };
  });
  h.onExec('blkid', (args) => {
    const dev = args[args.length - 1]!;
    const p = s.probes[dev]?.blkid ?? (dev.startsWith('/dev/castai-edge/') ? s.lvBlkid : undefined);
    return p ? r(p.stdout, x.blkid ?? p.exitCode) : { exitCode: 2 };
  });
  // The disks' bytes (readAt): fresh disks read as zeros; with a fuzzed lsblk that does not parse, none.
  try {
    const walk = (ds: ReturnType<typeof parseLsblk>): void =>
      ds.forEach((d) => (h.blocks.set(d.path, { size: d.size, read: (_o, l) => Buffer.alloc(l) }), walk(d.children)));
    walk(parseLsblk(s.lsblk));
  } catch {
    /* no disk to read: every probe of content fails, which is never "empty" */
  }
  h.setFile('/proc/self/mountinfo', s.mountinfo);
  h.setFile('/proc/swaps', s.swaps);
  h.setFile('/usr/sbin/mkfs.xfs', '(simulated binary)', 0o755);
  if (s.state !== undefined) h.setFile(`${STATE_DIR}/storage.json`, s.state, 0o600);
  if (s.unit !== undefined) h.setFile('/etc/systemd/system/var-lib-k0s.mount', s.unit);
  return h;
}

// ---------------------------------------------------------------------------
// GPUs

const NS = path.join(FIXTURES, 'nvidia-smi');
export const smiFixture = (f: string): string => readFileSync(path.join(NS, f), 'utf8');

export interface GpuReads {
  query: string;
  /** Per GPU index: the mig reads (stdout + exit code). */
  perGpu: Array<{ lgip: [string, number]; lgipp: [string, number]; lgi: [string, number]; lci: [string, number] }>;
}

/** n A100-40GB GPUs (real A100 captures; -lgipp derived, see SOURCES.md), MIG mode on, 7x1g.5gb applied. */
export function a100Reads(n: number, migOn = true): GpuReads {
  const busId = (i: number) => `00000000:${(0x10 + i * 0x10).toString(16).toUpperCase().padStart(2, '0')}:00.0`;
  const mode = migOn ? 'Enabled, Enabled' : 'Disabled, Disabled';
  const query = Array.from({ length: n }, (_, i) => `${i}, ${busId(i)}, NVIDIA A100-PCIE-40GB, ${mode}, 40960 MiB`).join('\n') + '\n';
  const forGpu = (text: string, i: number) => text.replace(/^(\|?\s*)0(\s)/gm, (_m, a: string, b: string) => `${a}${i}${b}`).replace(/^GPU\s+0 /gm, `GPU  ${i} `);
  return {
    query,
    perGpu: Array.from({ length: n }, (_, i) => ({
      lgip: [forGpu(smiFixture('a100-40gb.lgip.txt'), i), 0],
      lgipp: [forGpu(smiFixture('a100-40gb.lgipp.derived.txt'), i), 0],
      lgi: [forGpu(smiFixture('a100-40gb.lgi-7x1g.derived.txt'), i), 0],
      lci: [forGpu(smiFixture('a100-40gb.lci-7x1g.derived.txt'), i), 0],
    })),
  };
}

/** A FakeHost answering the read-only nvidia-smi calls from `reads`. */
export function gpuHost(reads: GpuReads, queryExit = 0): FakeHost {
  const h = new FakeHost();
  const r = ([stdout, exitCode]: [string, number]) => (exitCode === 127 ? { exitCode, notFound: true } : { stdout, exitCode });
  h.onExec((cmd, args) => cmd === 'nvidia-smi' && args[0]?.startsWith('--query-gpu=') === true, r([reads.query, queryExit]));
  h.onExec(
    (cmd, args) => cmd === 'nvidia-smi' && args[0] === 'mig' && args[1] === '-i' && args.length === 4,
    (args) => {
      const g = reads.perGpu[Number(args[2])];
      const op = args[3]!.slice(1) as 'lgip' | 'lgipp' | 'lgi' | 'lci';
      if (!g || !(op in g)) return { exitCode: 6, stdout: 'No MIG-enabled devices found.\n' };
      return r(g[op]);
    },
  );
  h.setFile('/usr/bin/nvidia-container-runtime', '#!/bin/sh\n', 0o755);
  return h;
}

/** The only nvidia-smi calls a plan may make. */
export const READ_ONLY_SMI = /^nvidia-smi (--query-gpu=[a-z.,_]+ --format=csv,noheader(,nounits)?|mig -i \d+ -(lgip|lgipp|lgi|lci))$/;

/** The only ip commands a read may send on `ip -batch -`'s stdin. */
const READ_ONLY_IP_BATCH = /^(addr|link|route) show( table all)? dev [A-Za-z0-9_.-]{1,15}$/;

/** Commands the `plan` command may run: reads only (argv as one line; stdin for `ip -batch -`). */
export function isReadOnlyExec(line: string, stdin?: string): boolean {
  const [cmd, a1] = line.split(' ');
  if (STORAGE_READS.has(cmd!)) return true;
  if (cmd === 'nvidia-smi') return READ_ONLY_SMI.test(line);
  if (cmd === 'ip' && line.includes(' -batch')) return a1 === '-j' && stdin !== undefined && stdin.trim().split('\n').every((l) => READ_ONLY_IP_BATCH.test(l));
  if (cmd === 'ip') return a1 === '-j'; // ip -j ... show
  if (cmd === 'wg') return a1 === 'show';
  if (cmd === 'systemctl') return ['is-active', 'is-enabled', 'show', 'status', 'is-failed'].includes(a1!);
  if (cmd === 'timedatectl') return a1 === 'show';
  return false;
}
const STORAGE_READS: ReadonlySet<string> = READ_ONLY_COMMANDS;

/** The commands a FakeHost ran that are not reads (isReadOnlyExec, with each call's stdin), as lines. */
export function nonReadOnlyExecs(h: FakeHost): string[] {
  return h.calls.flatMap((c) => (c.kind === 'exec' && !isReadOnlyExec([c.cmd, ...c.args].join(' '), c.stdin) ? [[c.cmd, ...c.args].join(' ')] : []));
}

/** A registered Debian 12 host for the whole `plan`: /proc facts, machine-id, register.json, DNS/TCP/TLS answers, reads of ip/systemctl/timedatectl. */
export function registeredHostFacts(h: FakeHost, registerJson: string): void {
  h.setFile('/etc/machine-id', '5e1f00000000400080000000000000aa\n');
  h.setFile('/proc/1/comm', 'systemd\n');
  h.setFile('/sys/fs/cgroup/cgroup.controllers', 'cpuset cpu io memory hugetlb pids rdma misc\n');
  h.setFile('/proc/sys/net/ipv4/ip_forward', '1\n');
  h.setFile('/proc/filesystems', 'nodev\tsysfs\nnodev\ttmpfs\n\txfs\n\text4\nnodev\toverlay\n');
  h.setFile('/proc/modules', 'overlay 200704 0 - Live 0x0000000000000000\nbr_netfilter 32768 0 - Live 0x0000000000000000\n');
  h.setFile('/proc/net/tcp', '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n');
  h.setFile('/proc/net/tcp6', '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n');
  h.setFile('/var/lib/castai-edge-initd/register.json', registerJson, 0o600);
  h.dns.set('api.example.test', ['203.0.113.10']);
  h.dns.set('cp.example.test', ['203.0.113.20']);
  h.tcp.set('api.example.test:443', { ok: true, durationMs: 1 });
  h.tcp.set('cp.example.test:6443', { ok: true, durationMs: 1 });
  h.tcp.set('cp.example.test:8132', { ok: true, durationMs: 1 });
  h.tls.set('cp.example.test:8443', { connected: true, authorized: true, chainSha256: [], durationMs: 1 });
  h.onExec('timedatectl show', { stdout: 'NTPSynchronized=yes\n' });
  h.onExec('ip -j -d -batch -', { exitCode: 1, stderr: 'Device "wg0" does not exist.\nCommand failed -:1\n' });
  h.onExec('systemctl show -p ActiveState -p MainPID k0sworker.service', { stdout: 'ActiveState=inactive\nMainPID=0\n' });
}
