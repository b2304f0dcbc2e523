/**
 * VM lab driver: real Debian 12 guests (kernel 6.1, systemd, NVMe, device-mapper, WireGuard)
 * under qemu TCG, for the end-to-end tests. TEST CODE ONLY (it may spawn processes freely).
 * Design and rationale: docs/decisions/0030-vm-lab.md. Image recipe: vm-images/.
 *
 *   const lab = await Lab.create({ name: 'storage' });          // confined lab network (netns)
 *   const lab = await Lab.create({ name: 'x', arch: 'arm64' });   // arm64 guests (qemu-system-aarch64)
 *   const [vm] = await lab.boot([{ disks: [{ sizeGiB: 4 }, { sizeGiB: 4 }] }]);
 *   const r = await vm.exec('lsblk -J');                          // { stdout, stderr, exitCode, ... }
 *   vm.putFile('dist/castai-edge-initd-linux-amd64', 'bin/agent', 0o755);  // -> /mnt/lab/bin/agent
 *   const emu = lab.spawnInNetns(process.execPath, ['emulator.ts']);      // reachable at lab.hostIp
 *   await vm.reboot();                                            // NVMe disks keep their data
 *   await lab.close();                                            // kills every process, always
 *
 * Architecture: `arch` (LabOptions) picks the image (`make vm-image` / `make vm-image-arm64`), the
 * qemu system emulator and machine, and the agent binary `installAgent()` copies; amd64 is the
 * default and its guests are exactly what they were before arm64 existed
 * (docs/decisions/0190-arm64-vm-lab.md).
 *
 * Guarantees:
 * - Every child process (qemu, the netns holder, host-side services) runs in its own process
 *   group with PR_SET_PDEATHSIG=SIGKILL (util-linux `setpriv`), is killed by `close()`, by a
 *   process 'exit' hook, and by the kernel if the test process dies (even on SIGKILL).
 * - The lab network is a fresh network namespace with one bridge (lab.hostIp) and one TAP per
 *   VM, and nothing else: no uplink, no NAT, forwarding off. Guests reach only processes
 *   started with `lab.spawnInNetns` / `lab.hostExec`, and those reach only the guests.
 * - Every wait is bounded by a timeout and fails with the VM's console and qemu log attached.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const IMAGE_DIR = path.join(REPO_ROOT, 'vm-images');
/** Guest architectures the lab boots (Debian's names). */
export type LabArch = 'amd64' | 'arm64';
export const LAB_ARCHES: readonly LabArch[] = ['amd64', 'arm64'];

/** The agent binary `make build` produces for an arch; `vm.installAgent()` puts it on the guest's PATH. */
export function agentBinary(arch: LabArch): string {
  return path.join(REPO_ROOT, 'dist', `castai-edge-initd-linux-${arch}`);
}
export const AGENT_BINARY_AMD64 = agentBinary('amd64');

/**
 * Per architecture: how the image is built and where it lives, and how qemu boots it. amd64 keeps
 * the layout and command line it had before arm64 existed (vm-images/out/<hash>); any other arch
 * lives under vm-images/out/<arch>/ (the same split as vm-images/build.sh).
 */
interface ArchProfile {
  /** Image output directory (holds <recipe-hash>/ and current). */
  outDir: string;
  /** The make target that builds the image. */
  makeTarget: string;
  qemu: string;
  /** Machine selection before -accel (none for amd64: qemu's default pc machine). */
  machine: string[];
  cpu: string;
  /** The serial console device the kernel logs to (the lab's console.log). */
  console: string;
  /** Arch-specific kernel arguments, after the common ones. */
  kernelArgs: string[];
}

const ARCH_PROFILES: Record<LabArch, ArchProfile> = {
  amd64: {
    outDir: path.join(IMAGE_DIR, 'out'),
    makeTarget: 'make vm-image',
    qemu: 'qemu-system-x86_64',
    machine: [],
    cpu: 'max',
    console: 'ttyS0',
    kernelArgs: ['i8042.noaux', '8250.nr_uarts=1'],
  },
  arm64: {
    outDir: path.join(IMAGE_DIR, 'out', 'arm64'),
    makeTarget: 'make vm-image-arm64',
    qemu: 'qemu-system-aarch64',
    // virt: the generic Arm machine (PCIe, GIC, PL011 UART, no firmware needed for -kernel).
    machine: ['-machine', 'virt'],
    // The newest Armv8/9 features TCG has; the architected pointer-authentication hash (QARMA)
    // costs TCG dearly, the implementation-defined one is what qemu recommends for speed.
    cpu: 'max,pauth-impdef=on',
    console: 'ttyAMA0',
    kernelArgs: [],
  },
};

export function archProfile(arch: LabArch): Readonly<ArchProfile> {
  const p = ARCH_PROFILES[arch];
  if (!p) throw new LabError(`unsupported lab arch ${JSON.stringify(arch)} (have: ${LAB_ARCHES.join(', ')})`);
  return p;
}

/** Fixed lab addresses: every lab has its own namespace, so they never clash between labs. */
export const LAB_SUBNET = '10.77.0.0/24';
export const LAB_HOST_IP = '10.77.0.1';
export const LAB_PREFIX = 24;
/** Guest n (0-based) gets 10.77.0.(10+n). */
export function labGuestIp(index: number): string {
  return `10.77.0.${10 + index}`;
}

// ---------------------------------------------------------------------------------------------
// Types

export interface DiskSpec {
  /** Size in GiB (sparse; nothing is allocated until the guest writes). */
  sizeGiB?: number;
  /** Size in bytes; wins over sizeGiB. */
  sizeBytes?: number;
  /** NVMe serial number (default `LAB-<vm>-<n>`). */
  serial?: string;
}

export interface ShareSpec {
  /** 9p mount tag (letters, digits, - and _). */
  tag: string;
  hostPath: string;
  /** Where the lab mounts it in the guest after boot. */
  guestPath: string;
  readonly?: boolean;
}

export interface VmSpec {
  /** Hostname and directory name; default vm1, vm2, ... */
  name?: string;
  /** Fresh sparse NVMe disks, in order (nvme0n1, nvme1n1, ...). */
  disks?: DiskSpec[];
  memoryMiB?: number; // default 1024
  cpus?: number; // default 2
  /** Extra 9p shares (the lab share /mnt/lab is always there). */
  shares?: ShareSpec[];
  /** Extra kernel command line words. */
  kernelArgs?: string[];
  /** Wait for `systemctl is-system-running --wait` and `udevadm settle` after the channel is up (default true). */
  waitForSystem?: boolean;
  bootTimeoutMs?: number; // default 300 000 (TCG on a busy 2-core host)
  /** /etc/machine-id (32 lower-case hex; default random). Two guests may share one (a cloned image). */
  machineId?: string;
}

export interface LabOptions {
  /** Used in directory names and diagnostics. */
  name?: string;
  /** Guest architecture (default amd64): its image, qemu and agent binary. */
  arch?: LabArch;
  /** Create the confined lab network (default true). Without it guests have no NIC at all. */
  network?: boolean;
  /** Keep the run directory after close() (also: env LAB_KEEP=1). */
  keep?: boolean;
  /** Echo lab progress to stderr (also: env LAB_VERBOSE=1). */
  verbose?: boolean;
}

export interface ExecOptions {
  /** Guest-side timeout; the command's whole process group is killed after it. Default 120 000. */
  timeoutMs?: number;
  stdin?: string | Buffer;
  env?: Record<string, string>;
  /** Working directory in the guest (default /root). */
  cwd?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** True when the guest-side timeout killed the command (exit code 124 or 137). */
  timedOut: boolean;
  durationMs: number;
}

export class LabError extends Error {
  override name = 'LabError';
}

export class GuestCommandError extends LabError {
  override name = 'GuestCommandError';
  readonly result: ExecResult;
  readonly script: string;
  constructor(vm: string, script: string, result: ExecResult) {
    super(
      `${vm}: command failed with exit code ${result.exitCode}${result.timedOut ? ' (timed out)' : ''}: ` +
        `${clip(script, 300)}\n--- stdout ---\n${clip(result.stdout, 4000)}\n--- stderr ---\n${clip(result.stderr, 4000)}`,
    );
    this.result = result;
    this.script = script;
  }
}

// ---------------------------------------------------------------------------------------------
// Process registry: nothing the lab starts may outlive the test process.

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  if (await raceTimeout(exited, graceMs)) return;
  killGroup(child, 'SIGKILL');
  await raceTimeout(exited, 5000);
}

/**
 * Spawn `argv` in a new process group, with SIGKILL delivered by the kernel when this process
 * dies, optionally inside the network namespace at `netns` (a /proc/<pid>/ns/net path).
 */
function spawnGuarded(
  argv: string[],
  opts: { netns?: string; stdio?: ('ignore' | 'pipe' | number)[]; env?: NodeJS.ProcessEnv; cwd?: string },
): ChildProcess {
  const pre = ['--pdeathsig', 'KILL'];
  const ns = opts.netns ? ['nsenter', `--net=${opts.netns}`, '--'] : [];
  const child = spawn('setpriv', [...pre, ...ns, ...argv], {
    detached: true,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  return track(child);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}… (${s.length - n} more chars)`;
}

function tail(file: string, bytes = 6000): string {
  try {
    const b = fs.readFileSync(file);
    return b.subarray(Math.max(0, b.length - bytes)).toString('utf8');
  } catch {
    return '';
  }
}

async function raceTimeout<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), t]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Quote one word for bash. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface HostExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  timedOut: boolean;
}

/** Run a host command to completion with a timeout (process group killed on timeout). */
function runGuarded(
  argv: string[],
  opts: { netns?: string; timeoutMs?: number; input?: string | Buffer } = {},
): Promise<HostExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnGuarded(argv, { netns: opts.netns, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exitCode: code ?? (signal ? 128 : 1), timedOut });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

function execFileP(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new LabError(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Image

export interface ImageInfo {
  arch: LabArch;
  dir: string;
  kernel: string;
  initrd: string;
  base: string;
  recipeHash: string;
  kernelRelease: string;
  buildSeconds: number;
  /** What the build could reuse: cold (nothing: an honest full build time), debs, or rootfs. */
  cache: string;
}

/** The image `make vm-image` (amd64) or `make vm-image-arm64` built for the current recipe; throws with the fix when stale. */
export async function currentImage(arch: LabArch = 'amd64'): Promise<ImageInfo> {
  const prof = archProfile(arch);
  // LAB_IMAGE=<dir> boots an amd64 image directory as is (debugging an older build); no staleness check.
  const override = arch === 'amd64' ? process.env.LAB_IMAGE : process.env[`LAB_IMAGE_${arch.toUpperCase()}`];
  const want = override ? path.basename(override) : (await execFileP(path.join(IMAGE_DIR, 'recipe-hash.sh'), [arch])).trim();
  const dir = override ? path.resolve(override) : path.join(prof.outDir, want);
  const meta = path.join(dir, 'build.json');
  if (!fs.existsSync(meta)) {
    throw new LabError(
      `${arch} VM image for recipe ${want} is missing or stale (no ${path.relative(REPO_ROOT, meta)}). ` +
        `Build it with \`${prof.makeTarget}\` (needs root; ${arch === 'amd64' ? 'about 4 minutes cold' : 'about 25 minutes cold: every arm64 program of the build runs under qemu-user'}).`,
    );
  }
  const j = JSON.parse(fs.readFileSync(meta, 'utf8')) as Record<string, unknown>;
  const built = typeof j.arch === 'string' ? j.arch : 'amd64';
  if (built !== arch) throw new LabError(`${dir} holds an ${built} image, not ${arch}`);
  return {
    arch,
    dir,
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    base: path.join(dir, 'base.qcow2'),
    recipeHash: want,
    kernelRelease: String(j.kernel),
    buildSeconds: Number(j.build_s),
    cache: String(j.cache),
  };
}

// ---------------------------------------------------------------------------------------------
// Host-side processes inside the lab namespace

/** A process started with `lab.spawnInNetns`. Output is kept (last 1 MiB of each stream). */
export class LabProcess {
  readonly child: ChildProcess;
  readonly argv: string[];
  stdout = '';
  stderr = '';
  private readonly exited: Promise<number>;

  constructor(child: ChildProcess, argv: string[]) {
    this.child = child;
    this.argv = argv;
    const keep = (s: string, d: Buffer) => (s + d.toString()).slice(-(1 << 20));
    child.stdout?.on('data', (d: Buffer) => (this.stdout = keep(this.stdout, d)));
    child.stderr?.on('data', (d: Buffer) => (this.stderr = keep(this.stderr, d)));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
      child.once('error', () => resolve(127));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolve when stdout+stderr matches `re`; reject on exit or timeout. */
  async waitForOutput(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = (this.stdout + '\n' + this.stderr).match(re);
      if (m) return m;
      if (!this.running) {
        throw new LabError(`${this.argv.join(' ')} exited before printing ${re}:\n${clip(this.stderr || this.stdout, 4000)}`);
      }
      if (Date.now() > deadline) {
        throw new LabError(`${this.argv.join(' ')} did not print ${re} within ${timeoutMs} ms:\n${clip(this.stderr + this.stdout, 4000)}`);
      }
      await sleep(50);
    }
  }

  /** Exit code, or throw after timeoutMs. */
  async wait(timeoutMs = 30_000): Promise<number> {
    let code: number | undefined;
    const ok = await raceTimeout(this.exited.then((c) => (code = c)), timeoutMs);
    if (!ok) throw new LabError(`${this.argv.join(' ')} still running after ${timeoutMs} ms`);
    return code!;
  }

  /** SIGTERM the process group, SIGKILL after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    await stopChild(this.child, graceMs);
  }
}

// ---------------------------------------------------------------------------------------------
// The lab

let labCounter = 0;

export class Lab {
  readonly name: string;
  /** Run directory (overlays, disks, sockets, logs); removed by close() unless kept. */
  readonly dir: string;
  readonly network: boolean;
  /** Guest architecture of every VM of this lab. */
  readonly arch: LabArch;
  /** The host side of the lab network, as guests see it. Services bind here (or 0.0.0.0). */
  readonly hostIp = LAB_HOST_IP;
  readonly subnet = LAB_SUBNET;
  readonly vms: Vm[] = [];
  readonly processes: LabProcess[] = [];
  readonly verbose: boolean;
  image!: ImageInfo;
  private holder: ChildProcess | undefined;
  private keep: boolean;
  private closed = false;
  private vmCounter = 0;

  private constructor(opts: LabOptions) {
    this.name = (opts.name ?? 'lab').replace(/[^A-Za-z0-9_.-]/g, '-');
    this.network = opts.network ?? true;
    this.arch = opts.arch ?? 'amd64';
    archProfile(this.arch);
    this.keep = opts.keep ?? process.env.LAB_KEEP === '1';
    this.verbose = opts.verbose ?? process.env.LAB_VERBOSE === '1';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `edge-lab-${this.name}-${process.pid}-${++labCounter}-`));
  }

  /** Check the image and create the confined network namespace. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const lab = new Lab(opts);
    try {
      lab.image = await currentImage(lab.arch);
      if (lab.network) await lab.createNetns();
    } catch (e) {
      await lab.close();
      throw e;
    }
    return lab;
  }

  log(msg: string): void {
    if (this.verbose) process.stderr.write(`[lab ${this.name} +${Math.round(process.uptime())}s] ${msg}\n`);
  }

  /** /proc/<pid>/ns/net of the lab namespace (for `nsenter --net=`). Throws without network. */
  get netnsPath(): string {
    if (!this.holder?.pid) throw new LabError('this lab has no network namespace (created with network: false)');
    return `/proc/${this.holder.pid}/ns/net`;
  }

  private async createNetns(): Promise<void> {
    // The namespace lives as long as this holder process (or anything else inside it).
    this.holder = spawnGuarded(['unshare', '--net', '--', 'sleep', 'infinity'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const own = fs.readlinkSync('/proc/self/ns/net');
    const deadline = Date.now() + 10_000;
    for (;;) {
      let ns = '';
      try {
        ns = fs.readlinkSync(`/proc/${this.holder.pid}/ns/net`);
      } catch {
        /* not yet */
      }
      // setpriv and unshare exec in place; once the namespace differs, unshare has done its job.
      if (ns && ns !== own) break;
      if (this.holder.exitCode !== null || Date.now() > deadline) {
        throw new LabError('could not create the lab network namespace (unshare --net failed; needs root)');
      }
      await sleep(10);
    }
    const r = await this.hostExec('ip', ['-batch', '-'], {
      input: ['link set lo up', 'link add br0 type bridge', `addr add ${LAB_HOST_IP}/${LAB_PREFIX} dev br0`, 'link set br0 up', ''].join('\n'),
    });
    if (r.exitCode !== 0) throw new LabError(`lab network setup failed: ${r.stderr}`);
    this.log(`netns ${this.netnsPath}: br0 ${LAB_HOST_IP}/${LAB_PREFIX}, no uplink`);
  }

  /**
   * Start a host-side process inside the lab namespace (emulator, WireGuard gateway, ...).
   * It can bind `lab.hostIp` and reach the guests, and nothing outside the lab. It is killed
   * with its process group by `close()` (or `handle.stop()`).
   */
  spawnInNetns(cmd: string, args: string[] = [], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): LabProcess {
    const argv = [cmd, ...args];
    const p = new LabProcess(spawnGuarded(argv, { netns: this.netnsPath, env: opts.env, cwd: opts.cwd }), argv);
    this.processes.push(p);
    return p;
  }

  /** Run a host command inside the lab namespace to completion (default timeout 30 s). */
  hostExec(cmd: string, args: string[] = [], opts: { timeoutMs?: number; input?: string | Buffer } = {}): Promise<HostExecResult> {
    return runGuarded([cmd, ...args], { netns: this.netnsPath, timeoutMs: opts.timeoutMs, input: opts.input });
  }

  /** Boot VMs in parallel; resolves when every channel is up (and systemd finished booting). */
  async boot(specs: VmSpec[] | number): Promise<Vm[]> {
    if (this.closed) throw new LabError('lab is closed');
    const list = typeof specs === 'number' ? Array.from({ length: specs }, () => ({})) : specs;
    const vms: Vm[] = [];
    for (const spec of list) {
      const index = this.vmCounter++;
      const vm = new Vm(this, index, spec);
      this.vms.push(vm);
      vms.push(vm);
    }
    if (this.network) {
      const cmds = vms.flatMap((vm) => [`tuntap add dev ${vm.tap} mode tap`, `link set ${vm.tap} master br0`, `link set ${vm.tap} up`]);
      const r = await this.hostExec('ip', ['-batch', '-'], { input: cmds.join('\n') + '\n' });
      if (r.exitCode !== 0) throw new LabError(`creating TAP devices failed: ${r.stderr}`);
    }
    await Promise.all(vms.map((vm) => vm.prepare()));
    await Promise.all(vms.map((vm) => vm.start()));
    return vms;
  }

  vm(name: string): Vm {
    const vm = this.vms.find((v) => v.name === name);
    if (!vm) throw new LabError(`no VM named ${name} (have: ${this.vms.map((v) => v.name).join(', ')})`);
    return vm;
  }

  /**
   * Save what explains a failure: per VM the journal of every boot, failed units, the serial
   * console and the qemu log, plus the output of host-side lab processes. Returns the directory
   * (under vm-images/out/artifacts/). Never throws.
   */
  async collectDiagnostics(label: string): Promise<string> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const out = path.join(IMAGE_DIR, 'out', 'artifacts', `${this.name}-${label.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80)}-${stamp}`);
    try {
      fs.mkdirSync(out, { recursive: true });
      await Promise.all(
        this.vms.map(async (vm) => {
          const d = path.join(out, vm.name);
          fs.mkdirSync(d, { recursive: true });
          for (const f of ['console.log', 'qemu.log']) {
            try {
              fs.copyFileSync(path.join(vm.dir, f), path.join(d, f));
            } catch {
              /* missing */
            }
          }
          if (vm.ready) {
            const j = await vm
              .exec('journalctl --no-pager -o short-monotonic; echo; systemctl --no-pager --failed; echo; systemctl --no-pager list-jobs', {
                timeoutMs: 20_000,
              })
              .catch((e: Error) => ({ stdout: `journal unavailable: ${e.message}`, stderr: '' }));
            fs.writeFileSync(path.join(d, 'journal.txt'), j.stdout + j.stderr);
          }
        }),
      );
      this.processes.forEach((p, i) => {
        fs.writeFileSync(path.join(out, `host-process-${i}.log`), `$ ${p.argv.join(' ')}\n--- stdout ---\n${p.stdout}\n--- stderr ---\n${p.stderr}\n`);
      });
      process.stderr.write(`[lab ${this.name}] diagnostics saved in ${out}\n`);
    } catch (e) {
      process.stderr.write(`[lab ${this.name}] collecting diagnostics failed: ${(e as Error).message}\n`);
    }
    return out;
  }

  /** Power off every VM (hard), stop every host-side process, remove the netns and run dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.vms.map((vm) => vm.kill()));
    await Promise.all(this.processes.map((p) => p.stop(1000)));
    if (this.holder) await stopChild(this.holder, 500);
    if (!this.keep) fs.rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`[lab ${this.name}] kept ${this.dir}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// One VM

interface Pending {
  resolve: (r: { exitCode: number; timedOut: boolean; stdout: string; stderr: string }) => void;
  reject: (e: Error) => void;
}

export class Vm {
  readonly lab: Lab;
  readonly index: number;
  readonly name: string;
  /** Run directory of this VM (overlay, disks, sockets, console.log, qemu.log). */
  readonly dir: string;
  /** Host directory shared with the guest as /mnt/lab (9p). */
  readonly shareDir: string;
  /** Guest address on the lab network (undefined without network). */
  readonly ip: string | undefined;
  readonly tap: string;
  readonly spec: VmSpec;
  readonly machineId: string;
  /** Host paths of the NVMe disk images, in guest order. */
  readonly diskPaths: string[] = [];
  /** Boot id of the running guest (from the agent's HELLO). */
  bootId: string | undefined;
  /** `systemctl is-system-running` after the last boot (running / degraded / ...). */
  systemState: string | undefined;
  /** ms from qemu start to a working command channel, last boot. */
  bootToReadyMs: number | undefined;
  /** ms from qemu start (or reboot request) to systemd finished, last boot. */
  bootToSystemMs: number | undefined;

  private lastBootId: string | undefined;
  private qemu: ChildProcess | undefined;
  private sock: net.Socket | undefined;
  private buf = '';
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private helloWaiters: ((bootId: string) => void)[] = [];
  private exitWaiters: (() => void)[] = [];

  constructor(lab: Lab, index: number, spec: VmSpec) {
    this.lab = lab;
    this.index = index;
    this.spec = spec;
    if (spec.machineId !== undefined && !/^[0-9a-f]{32}$/.test(spec.machineId)) throw new LabError(`bad machineId ${JSON.stringify(spec.machineId)}: 32 lower-case hex`);
    this.machineId = spec.machineId ?? randomBytes(16).toString('hex');
    this.name = spec.name ?? `vm${index + 1}`;
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(this.name)) throw new LabError(`bad VM name ${JSON.stringify(this.name)}: use a-z, 0-9 and -`);
    this.dir = path.join(lab.dir, this.name);
    this.shareDir = path.join(this.dir, 'share');
    this.ip = lab.network ? labGuestIp(index) : undefined;
    this.tap = `tap${index}`;
  }

  /** True while the command channel is up. */
  get ready(): boolean {
    return this.bootId !== undefined && this.running;
  }

  get running(): boolean {
    return this.qemu !== undefined && this.qemu.exitCode === null && this.qemu.signalCode === null;
  }

  get qemuPid(): number | undefined {
    return this.running ? this.qemu?.pid : undefined;
  }

  /** Create the throwaway root overlay and the sparse NVMe disks (once; kept across reboots). */
  async prepare(): Promise<void> {
    fs.mkdirSync(this.shareDir, { recursive: true });
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', this.lab.image.base, path.join(this.dir, 'root.qcow2')]);
    (this.spec.disks ?? []).forEach((d, i) => {
      const bytes = d.sizeBytes ?? Math.round((d.sizeGiB ?? 1) * 1024 ** 3);
      const p = path.join(this.dir, `nvme${i}.raw`);
      fs.closeSync(fs.openSync(p, 'w'));
      fs.truncateSync(p, bytes);
      this.diskPaths.push(p);
    });
  }

  private qemuArgs(): string[] {
    const s = this.spec;
    const arch = archProfile(this.lab.arch);
    const kernelArgs = [
      'root=/dev/vda', 'rw', `console=${arch.console}`, 'quiet', 'loglevel=3', 'systemd.show_status=0',
      'net.ifnames=0', 'mitigations=off', 'panic=0', 'fsck.mode=skip', 'noresume', ...arch.kernelArgs,
      `systemd.hostname=${this.name}`, `systemd.machine_id=${this.machineId}`,
      ...(this.ip ? [`lab.ip=${this.ip}/${LAB_PREFIX}`, `lab.gw=${LAB_HOST_IP}`] : []),
      ...(s.kernelArgs ?? []),
    ];
    const a = [
      arch.qemu, '-name', this.name, ...arch.machine,
      '-accel', 'tcg,thread=multi', '-cpu', arch.cpu, '-m', String(s.memoryMiB ?? 1024), '-smp', String(s.cpus ?? 2),
      '-nodefaults', '-no-user-config', '-display', 'none',
      '-kernel', this.lab.image.kernel, '-initrd', this.lab.image.initrd, '-append', kernelArgs.join(' '),
      '-chardev', `file,id=con0,path=${path.join(this.dir, 'console.log')}`, '-serial', 'chardev:con0',
      '-qmp', `unix:${path.join(this.dir, 'qmp.sock')},server=on,wait=off`,
      '-drive', `file=${path.join(this.dir, 'root.qcow2')},if=virtio,format=qcow2,cache=unsafe,discard=unmap`,
      '-device', 'virtio-rng-pci',
      '-device', 'virtio-serial-pci,id=vser0',
      '-chardev', `socket,id=agent0,path=${path.join(this.dir, 'agent.sock')},server=on,wait=off`,
      '-device', 'virtserialport,bus=vser0.0,chardev=agent0,name=lab.agent',
      '-virtfs', `local,path=${this.shareDir},mount_tag=lab,security_model=none,multidevs=remap,id=lab`,
    ];
    for (const sh of s.shares ?? []) {
      a.push('-virtfs', `local,path=${sh.hostPath},mount_tag=${sh.tag},security_model=none,multidevs=remap,id=${sh.tag}${sh.readonly ? ',readonly=on' : ''}`);
    }
    this.diskPaths.forEach((p, i) => {
      const serial = s.disks?.[i]?.serial ?? `LAB-${this.name}-${i}`;
      a.push('-drive', `file=${p},if=none,id=nvm${i},format=raw,cache=unsafe,discard=unmap`, '-device', `nvme,serial=${serial},drive=nvm${i}`);
    });
    if (this.ip) {
      const mac = `52:54:00:77:00:${(10 + this.index).toString(16).padStart(2, '0')}`;
      a.push('-netdev', `tap,id=net0,ifname=${this.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=net0,mac=${mac}`);
    } else {
      a.push('-nic', 'none');
    }
    return a;
  }

  /** Start qemu (again, after powerOff) with the same overlay and disks; wait until ready. */
  async start(): Promise<void> {
    if (this.running) throw new LabError(`${this.name} is already running`);
    const t0 = Date.now();
    for (const f of ['agent.sock', 'qmp.sock']) fs.rmSync(path.join(this.dir, f), { force: true });
    const logFd = fs.openSync(path.join(this.dir, 'qemu.log'), 'a');
    const argv = this.qemuArgs();
    fs.writeSync(logFd, `$ ${argv.map(shq).join(' ')}\n`);
    this.bootId = undefined;
    this.qemu = spawnGuarded(argv, { netns: this.ip ? this.lab.netnsPath : undefined, stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    const q = this.qemu;
    q.once('exit', (code, signal) => {
      this.lab.log(`${this.name}: qemu exited (${code ?? signal})`);
      this.bootId = undefined;
      this.sock?.destroy();
      this.sock = undefined;
      this.failPending(new LabError(`${this.name}: qemu exited (${code ?? signal}) while a command was running${this.diag()}`));
      for (const w of this.exitWaiters.splice(0)) w();
    });
    this.lab.log(`${this.name}: qemu pid ${q.pid}${this.ip ? ` ip ${this.ip}` : ''}`);
    try {
      await this.connectAgent(q);
      await this.waitHello(undefined, this.spec.bootTimeoutMs ?? 300_000);
      this.bootToReadyMs = Date.now() - t0;
      this.lab.log(`${this.name}: channel ready after ${this.bootToReadyMs} ms`);
      await this.afterBoot(t0);
    } catch (e) {
      await this.lab.collectDiagnostics(`${this.name}-boot-failed`);
      throw e;
    }
  }

  private async afterBoot(t0: number): Promise<void> {
    const mounts = (this.spec.shares ?? []).map(
      (s) =>
        `mkdir -p ${shq(s.guestPath)} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144${s.readonly ? ',ro' : ''} ${shq(s.tag)} ${shq(s.guestPath)}`,
    );
    if (mounts.length) await this.sh(mounts.join('\n'), { timeoutMs: 30_000 });
    if (this.spec.waitForSystem ?? true) {
      // Also wait for udev: /dev/disk/by-id links and lsblk's udev properties must be there.
      const r = await this.exec('systemctl is-system-running --wait; udevadm settle --timeout=120 >/dev/null 2>&1 || true', {
        timeoutMs: this.spec.bootTimeoutMs ?? 300_000,
      });
      this.systemState = r.stdout.trim();
      this.bootToSystemMs = Date.now() - t0;
      this.lab.log(`${this.name}: system ${this.systemState} after ${this.bootToSystemMs} ms`);
    }
  }

  private async connectAgent(q: ChildProcess): Promise<void> {
    const sockPath = path.join(this.dir, 'agent.sock');
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (q.exitCode !== null || q.signalCode !== null) throw new LabError(`${this.name}: qemu exited at start${this.diag()}`);
      try {
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(sockPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        this.sock = sock;
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => this.onData(d));
        sock.on('error', () => {});
        return;
      } catch {
        if (Date.now() > deadline) throw new LabError(`${this.name}: no agent socket after 15 s${this.diag()}`);
        await sleep(50);
      }
    }
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      const f = line.split(' ');
      if (f[0] === 'HELLO' && f[1]) {
        // Commands still waiting from an earlier boot will never be answered.
        if (this.lastBootId && this.lastBootId !== f[1]) this.failPending(new LabError(`${this.name}: the guest rebooted while a command was running`));
        this.bootId = this.lastBootId = f[1];
        for (const w of this.helloWaiters.splice(0)) w(f[1]);
      } else if (f[0] === 'DONE' && f.length >= 6) {
        const p = this.pending.get(Number(f[1]));
        if (!p) continue;
        this.pending.delete(Number(f[1]));
        const dec = (s: string) => (s === '-' ? '' : Buffer.from(s, 'hex').toString('utf8'));
        p.resolve({ exitCode: Number(f[2]), timedOut: f[3] === '1', stdout: dec(f[4]!), stderr: dec(f[5]!) });
      } else if (line.trim()) {
        this.lab.log(`${this.name}: unexpected agent line: ${clip(line, 200)}`);
      }
    }
  }

  private failPending(e: Error): void {
    for (const [, p] of this.pending) p.reject(e);
    this.pending.clear();
  }

  /** Wait for a HELLO whose boot id differs from `notBootId` (any HELLO when undefined). */
  private async waitHello(notBootId: string | undefined, timeoutMs: number): Promise<string> {
    if (this.bootId && this.bootId !== notBootId) return this.bootId;
    let exitListener: (() => void) | undefined;
    const got = new Promise<string>((resolve, reject) => {
      const w = (id: string) => {
        if (id !== notBootId) resolve(id);
        else this.helloWaiters.push(w);
      };
      this.helloWaiters.push(w);
      exitListener = () => reject(new LabError(`${this.name}: qemu exited during boot${this.diag()}`));
      this.exitWaiters.push(exitListener);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LabError(`${this.name}: command channel not ready within ${timeoutMs} ms${this.diag()}`)), timeoutMs);
    });
    try {
      return await Promise.race([got, timeout]);
    } finally {
      clearTimeout(timer);
      this.exitWaiters = this.exitWaiters.filter((w) => w !== exitListener);
    }
  }

  /** Tail of the console and qemu logs, for error messages. */
  diag(): string {
    return `\n--- console (tail) ---\n${tail(path.join(this.dir, 'console.log'), 3000)}\n--- qemu.log (tail) ---\n${tail(path.join(this.dir, 'qemu.log'), 1500)}`;
  }

  /**
   * Run a bash script (or an argv, quoted for you) as root in the guest.
   * Never throws for a non-zero exit; throws LabError when the channel fails or the VM dies.
   */
  async exec(script: string | string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (!this.ready || !this.sock) throw new LabError(`${this.name}: not running (boot it first)`);
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const body = Array.isArray(script) ? script.map(shq).join(' ') : script;
    const prefix = [
      ...Object.entries(opts.env ?? {}).map(([k, v]) => {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new LabError(`bad env name ${JSON.stringify(k)}`);
        return `export ${k}=${shq(v)}`;
      }),
      ...(opts.cwd ? [`cd ${shq(opts.cwd)} || exit 126`] : []),
    ];
    const full = prefix.length ? `${prefix.join('\n')}\n${body}` : body;
    const id = this.nextId++;
    const hex = (x: string | Buffer | undefined) => {
      const b = x === undefined ? Buffer.alloc(0) : Buffer.from(x);
      return b.length ? b.toString('hex') : '-';
    };
    const t0 = Date.now();
    const guestTimeoutS = Math.max(1, Math.ceil(timeoutMs / 1000));
    const res = new Promise<{ exitCode: number; timedOut: boolean; stdout: string; stderr: string }>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    this.sock.write(`RUN ${id} ${guestTimeoutS} ${hex(full)} ${hex(opts.stdin)}\n`);
    let timer: NodeJS.Timeout | undefined;
    const hostTimeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LabError(`${this.name}: no answer for ${clip(body, 200)} within ${timeoutMs + 15_000} ms (guest hung?)${this.diag()}`));
      }, timeoutMs + 15_000);
    });
    try {
      const r = await Promise.race([res, hostTimeout]);
      const durationMs = Date.now() - t0;
      return { ...r, durationMs };
    } finally {
      clearTimeout(timer);
    }
  }

  /** exec() that throws GuestCommandError on a non-zero exit; returns stdout. */
  async sh(script: string | string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(script, opts);
    if (r.exitCode !== 0) throw new GuestCommandError(this.name, Array.isArray(script) ? script.join(' ') : script, r);
    return r.stdout;
  }

  /**
   * Put a file into the lab share; the guest sees it at /mnt/lab/<rel> (returned).
   * `src` is a host path or the content itself.
   */
  putFile(src: string | Buffer, rel: string, mode = 0o644): string {
    if (path.isAbsolute(rel) || rel.split('/').includes('..')) throw new LabError(`putFile: ${rel} must be relative, without ..`);
    const dst = path.join(this.shareDir, rel);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    if (typeof src === 'string') fs.copyFileSync(src, dst);
    else fs.writeFileSync(dst, src);
    fs.chmodSync(dst, mode);
    return `/mnt/lab/${rel}`;
  }

  /**
   * Copy the agent binary `make build` built for this lab's arch into the guest as
   * /usr/local/bin/castai-edge-initd (what the installer does, without the installer).
   */
  async installAgent(binary = agentBinary(this.lab.arch)): Promise<string> {
    if (!fs.existsSync(binary)) throw new LabError(`${binary} is missing: run \`make build\` first`);
    const g = this.putFile(binary, 'castai-edge-initd', 0o755);
    await this.sh(`install -m 0755 ${g} /usr/local/bin/castai-edge-initd`, { timeoutMs: 60_000 });
    return '/usr/local/bin/castai-edge-initd';
  }

  /** Clean reboot (systemctl reboot); same qemu process, so disks and overlay stay. */
  async reboot(timeoutMs = 300_000): Promise<void> {
    const old = this.bootId;
    if (!old) throw new LabError(`${this.name}: not running`);
    const t0 = Date.now();
    // The reply may never come (the agent is stopped by the reboot); don't wait for it.
    this.exec('systemctl reboot', { timeoutMs: 30_000 }).catch(() => {});
    this.bootId = undefined; // not ready until the new boot's HELLO
    await this.waitHello(old, timeoutMs);
    this.bootToReadyMs = Date.now() - t0;
    await this.afterBoot(t0);
  }

  /** Hard reset through QMP (like the reset button: no sync, no clean shutdown). */
  async hardReset(timeoutMs = 300_000): Promise<void> {
    const old = this.bootId;
    const t0 = Date.now();
    await this.qmp('system_reset');
    this.bootId = undefined;
    await this.waitHello(old, timeoutMs);
    this.bootToReadyMs = Date.now() - t0;
    await this.afterBoot(t0);
  }

  /** Clean power off (systemctl poweroff); qemu exits. Falls back to a kill after timeoutMs. */
  async powerOff(timeoutMs = 60_000): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    if (this.ready) this.exec('systemctl poweroff', { timeoutMs: 30_000 }).catch(() => {});
    else await this.qmp('system_powerdown').catch(() => {});
    if (!(await raceTimeout(exited, timeoutMs))) {
      this.lab.log(`${this.name}: no clean power off within ${timeoutMs} ms; killing qemu`);
      await this.kill();
    }
  }

  /** Kill qemu now (no guest shutdown). */
  async kill(): Promise<void> {
    if (this.qemu) await stopChild(this.qemu, 2000);
  }

  /** Send one QMP command; returns its `return` value. */
  async qmp(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    const sockPath = path.join(this.dir, 'qmp.sock');
    return new Promise((resolve, reject) => {
      const s = net.connect(sockPath);
      let buf = '';
      let stage = 0;
      const timer = setTimeout(() => {
        s.destroy();
        reject(new LabError(`${this.name}: QMP ${command} timed out`));
      }, timeoutMs);
      const done = (e: Error | null, v?: unknown) => {
        clearTimeout(timer);
        s.destroy();
        if (e) reject(e);
        else resolve(v);
      };
      s.on('error', (e) => done(new LabError(`${this.name}: QMP: ${e.message}`)));
      s.on('data', (d) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          if (msg.event) continue;
          if (stage === 0 && msg.QMP) {
            stage = 1;
            s.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
          } else if (stage === 1 && 'return' in msg) {
            stage = 2;
            s.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
          } else if (stage === 2) {
            if (msg.error) done(new LabError(`${this.name}: QMP ${command}: ${JSON.stringify(msg.error)}`));
            else done(null, msg.return);
          }
        }
      });
    });
  }

  /** Resident memory of the qemu process on the host, in KiB. */
  qemuRssKiB(): number | undefined {
    const pid = this.qemuPid;
    if (!pid) return undefined;
    try {
      const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Journal of the current boot (or all boots with all=true). */
  async journal(all = false): Promise<string> {
    return (await this.exec(`journalctl --no-pager -o short-monotonic ${all ? '' : '-b'}`, { timeoutMs: 30_000 })).stdout;
  }

  consoleLog(): string {
    return tail(path.join(this.dir, 'console.log'), 1 << 20);
  }
}
