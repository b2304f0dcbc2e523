/**
 * The preflight checks. Each is read-only, has a stable kebab-case name, a
 * severity (ERROR blocks, WARN informs) and a one-line remediation. All OS
 * access goes through the Host port; the runner (runner.ts) runs them in
 * parallel under one deadline.
 */
import type { Arch } from '../api/types.ts';
import { MODULES_LOAD_FILE, procSysPath, SYSCTL_FILE } from '../k0s/hostprep.ts';
import { isIP } from 'node:net';
import path from 'node:path';
import { refusedError, verifyClusterCa } from '../k0s/cluster-ca.ts';
import { KUBELET_CONF } from '../k0s/paths.ts';
import { decodeJoinToken } from '../k0s/token.ts';
import { formatHostPort } from '../net/endpoint.ts';
import { REGISTER_FILE } from '../state/files.ts';
import { DEFAULT_LISTEN_PORT as WIREGUARD_PORT } from '../wireguard/spec.ts';
import { MIN_KERNEL, compareKernel, formatKernel, parseKernelRelease } from './kernel.ts';
import type { CheckContext, CheckDef, CheckOutcome, Endpoint } from './types.ts';
import { MODULES_FILE, SWAPS_FILE, SYS_MODULE_DIR } from '../host/paths.ts';

const pass = (message: string): CheckOutcome => ({ ok: true, message });
const fail = (message: string, remediation?: string): CheckOutcome =>
  remediation ? { ok: false, message, remediation } : { ok: false, message };
const skipped = (message: string): CheckOutcome => ({ skipped: true, message });

export const KUBELET_PORT = 10250;

/** `uname -m` -> the architecture the API and k0s name (api/types.ts Arch). */
export const ARCHES: Record<string, Arch | undefined> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64' };

function errCode(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  return typeof err?.code === 'string' ? err.code : String(err?.message ?? e);
}

/** Strips credentials from a proxy URL before it is shown anywhere. */
export function displayUrl(u: string): string {
  try {
    const x = new URL(u);
    return `${x.protocol}//${x.host}`;
  } catch {
    return '(invalid URL)';
  }
}

export function apiEndpoint(apiUrl: string | undefined, port?: number): Endpoint | undefined {
  if (!apiUrl) return undefined;
  try {
    const u = new URL(apiUrl);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const p = port ?? (u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : 443);
    return host ? { host, port: p } : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- host checks

const root: CheckDef = {
  name: 'root',
  severity: 'error',
  title: 'running as root',
  remediation: 'run as root: sudo castai-edge-initd doctor (the service unit runs as root)',
  async run(ctx) {
    const { uid } = await ctx.facts();
    return uid === 0 ? pass('uid 0') : fail(`running as uid ${uid}, not root`);
  },
};

const kernel: CheckDef = {
  name: 'kernel',
  severity: 'error',
  title: `Linux kernel >= ${MIN_KERNEL.major}.${MIN_KERNEL.minor}`,
  remediation: 'boot a Linux kernel 6.0 or newer (e.g. Debian 12 backports, Ubuntu 22.04 HWE, RHEL 10)',
  async run(ctx) {
    const { kernelRelease } = await ctx.facts();
    const p = parseKernelRelease(kernelRelease);
    if (!p.ok) return fail(p.error);
    const v = formatKernel(p.version);
    return compareKernel(p.version, MIN_KERNEL) >= 0
      ? pass(`${kernelRelease} (${v})`)
      : fail(`kernel ${kernelRelease} (${v}) is older than ${MIN_KERNEL.major}.${MIN_KERNEL.minor}`);
  },
};

const arch: CheckDef = {
  name: 'arch',
  severity: 'error',
  title: 'CPU architecture x86_64 or aarch64',
  remediation: 'use an x86_64 (amd64) or aarch64 (arm64) machine; other architectures have no k0s/agent build',
  async run(ctx) {
    const { machine } = await ctx.facts();
    const a = ARCHES[machine];
    return a ? pass(`${a} (uname -m: ${machine})`) : fail(`unsupported architecture ${JSON.stringify(machine)}; need x86_64 or aarch64`);
  },
};

const systemd: CheckDef = {
  name: 'systemd',
  severity: 'error',
  title: 'systemd is PID 1',
  remediation: 'boot with systemd as init: the agent and k0sworker run as systemd units',
  async run(ctx) {
    const comm = await ctx.pid1();
    if (comm === undefined) return fail('cannot read /proc/1/comm (is /proc mounted?)');
    return comm === 'systemd' ? pass('PID 1 is systemd') : fail(`PID 1 is ${JSON.stringify(comm)}, not systemd`);
  },
};

const cgroupV2: CheckDef = {
  name: 'cgroup-v2',
  severity: 'error',
  title: 'cgroup v2 with the memory controller',
  remediation: 'boot with systemd.unified_cgroup_hierarchy=1 on the kernel command line (pure cgroup v2)',
  async run(ctx) {
    const controllers = await ctx.host.readFile('/sys/fs/cgroup/cgroup.controllers');
    if (controllers === undefined) {
      const hybrid = await ctx.host.readFile('/sys/fs/cgroup/unified/cgroup.controllers');
      return fail(
        hybrid !== undefined
          ? 'hybrid cgroup layout: cgroup v1 at /sys/fs/cgroup, cgroup v2 only at /sys/fs/cgroup/unified'
          : 'cgroup v2 is not mounted at /sys/fs/cgroup (no cgroup.controllers)',
      );
    }
    const list = controllers.trim().split(/\s+/).filter(Boolean);
    return list.includes('memory')
      ? pass(`cgroup v2; controllers: ${list.join(' ')}`)
      : fail(
          `cgroup v2 without the memory controller (controllers: ${list.join(' ') || 'none'})`,
          'enable the memory controller: add cgroup_enable=memory to the kernel command line and reboot',
        );
  },
};

const swap: CheckDef = {
  name: 'swap',
  severity: 'warn',
  title: 'swap is off',
  remediation: 'swapoff -a and remove swap entries from /etc/fstab (the kubelet expects no swap by default)',
  async run(ctx) {
    const text = await ctx.host.readFile(SWAPS_FILE);
    if (text === undefined) return pass('no /proc/swaps (kernel without swap support)');
    const active = text.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0]).filter((x): x is string => Boolean(x));
    return active.length === 0 ? pass('no active swap') : fail(`swap is on: ${active.join(', ')}`);
  },
};

const ipForward: CheckDef = {
  name: 'ip-forward',
  severity: 'warn',
  title: 'net.ipv4.ip_forward = 1',
  remediation: `nothing to do: the k0s step sets it (sysctl -w, and ${SYSCTL_FILE} for every boot); if it stays 0, something else resets it (another sysctl.d file sorting later, or a firewall tool)`,
  async run(ctx) {
    const v = (await ctx.host.readFile(procSysPath('net.ipv4.ip_forward')))?.trim();
    if (v === undefined) return fail(`cannot read ${procSysPath('net.ipv4.ip_forward')}`);
    if (v === '1') return pass('net.ipv4.ip_forward = 1');
    return fail(`net.ipv4.ip_forward = ${v}; the k0s step sets it to 1 before k0sworker starts (pod traffic is not routed without it)`);
  },
};

/**
 * A module is usable when it is loaded (/sys/module, /proc/modules), its
 * feature is visibly active, it is built in (modules.builtin), or it can be
 * loaded (listed in modules.dep of the running kernel).
 */
function moduleCheck(name: string, kebab: string, why: string, activeProbe: (ctx: CheckContext) => Promise<string | undefined>): CheckDef {
  return {
    name: `module-${kebab}`,
    severity: 'warn',
    title: `kernel module ${name} loadable`,
    remediation: `the k0s step loads it (modprobe, and ${MODULES_LOAD_FILE} for every boot) when it is loadable; otherwise install the kernel modules package for the running kernel (${why})`,
    async run(ctx) {
      if (await ctx.host.stat(`${SYS_MODULE_DIR}/${name}`)) return pass(`${name} is loaded`);
      const procModules = await ctx.host.readFile(MODULES_FILE);
      if (procModules?.split('\n').some((l) => l.startsWith(`${name} `))) return pass(`${name} is loaded`);
      const active = await activeProbe(ctx);
      if (active) return pass(active);
      const { kernelRelease } = await ctx.facts();
      const dir = `/lib/modules/${kernelRelease}`;
      const builtin = await ctx.host.readFile(`${dir}/modules.builtin`);
      if (builtin?.split('\n').some((l) => path.basename(l.trim()) === `${name}.ko`)) return pass(`${name} is built into the kernel`);
      const dep = await ctx.host.readFile(`${dir}/modules.dep`);
      const re = new RegExp(`(^|/)${name}\\.ko(\\.(xz|zst|gz))?:`);
      if (dep?.split('\n').some((l) => re.test(l))) return pass(`${name} is loadable (listed in ${dir}/modules.dep)`);
      return fail(
        dep === undefined
          ? `${name} is not loaded and ${dir}/modules.dep does not exist, so it cannot be loaded`
          : `${name} is not loaded, not built in, and not in ${dir}/modules.dep`,
      );
    },
  };
}

const moduleOverlay = moduleCheck('overlay', 'overlay', 'containerd needs the overlay snapshotter', async (ctx) => {
  const fs = await ctx.host.readFile('/proc/filesystems');
  return fs?.split('\n').some((l) => l.trim().split(/\s+/).pop() === 'overlay') ? 'overlay filesystem available (/proc/filesystems)' : undefined;
});

const moduleBrNetfilter = moduleCheck('br_netfilter', 'br-netfilter', 'CNI bridge traffic must pass iptables', async (ctx) =>
  (await ctx.host.stat('/proc/sys/net/bridge/bridge-nf-call-iptables')) ? 'br_netfilter active (net.bridge.bridge-nf-call-iptables exists)' : undefined,
);

const clockSync: CheckDef = {
  name: 'clock-sync',
  periodic: true,
  severity: 'warn',
  title: 'clock synchronised (NTP)',
  remediation: 'enable time sync: timedatectl set-ntp true (systemd-timesyncd or chrony); skewed clocks break TLS',
  async run(ctx) {
    const comm = await ctx.pid1();
    if (comm !== 'systemd') return skipped(`no systemd (PID 1 is ${JSON.stringify(comm ?? 'unknown')}), so timedatectl cannot answer`);
    const r = await ctx.host.exec('timedatectl', ['show', '-p', 'NTPSynchronized'], { timeoutMs: ctx.remainingMs() });
    if (r.notFound) return fail('timedatectl not found');
    if (r.timedOut) return fail('timedatectl did not answer in time');
    if (r.exitCode !== 0) return fail(`timedatectl failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`);
    const v = /NTPSynchronized=(\S+)/.exec(r.stdout)?.[1];
    return v === 'yes' ? pass('NTPSynchronized=yes') : fail(`clock is not NTP-synchronised (NTPSynchronized=${v ?? '?'})`);
  },
};

/** Local ports in LISTEN state from /proc/net/tcp or tcp6 text. */
export function listeningPorts(procNetTcp: string): Set<number> {
  const ports = new Set<number>();
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    if (!local || f[3] !== '0A') continue; // 0A = TCP_LISTEN
    const hex = local.split(':').pop();
    if (hex && /^[0-9A-Fa-f]{4}$/.test(hex)) ports.add(parseInt(hex, 16));
  }
  return ports;
}

async function joinedByUs(ctx: CheckContext): Promise<boolean> {
  const [conf, ours] = await Promise.all([
    ctx.host.stat(KUBELET_CONF),
    ctx.host.stat(path.join(ctx.input.stateDir, REGISTER_FILE)),
  ]);
  return Boolean(conf && ours);
}

const port10250: CheckDef = {
  name: `port-${KUBELET_PORT}-free`,
  severity: 'error',
  title: `TCP port ${KUBELET_PORT} (kubelet) free`,
  remediation: `stop whatever listens on :${KUBELET_PORT} (ss -ltnp 'sport = :${KUBELET_PORT}'); usually an old kubelet`,
  async run(ctx) {
    const [v4, v6] = await Promise.all([ctx.host.readFile('/proc/net/tcp'), ctx.host.readFile('/proc/net/tcp6')]);
    if (v4 === undefined && v6 === undefined) return fail('cannot read /proc/net/tcp or /proc/net/tcp6');
    const busy = [v4, v6].some((t) => t !== undefined && listeningPorts(t).has(KUBELET_PORT));
    if (!busy) return pass(`nothing listens on :${KUBELET_PORT}`);
    if (await joinedByUs(ctx)) return pass(`:${KUBELET_PORT} is in use; this node is already joined by castai-edge-initd, so that is its kubelet`);
    return fail(`something already listens on TCP :${KUBELET_PORT}`);
  },
};

const leftoverKubelet: CheckDef = {
  name: 'leftover-kubelet',
  severity: 'error',
  title: 'no kubelet state from another cluster',
  remediation: 'remove the old node first: castai-edge-initd reset --yes-really-reset (or k0s reset), then re-run',
  async run(ctx) {
    const [k0sConf, ours, kubeadmConf, kubeletCert] = await Promise.all([
      ctx.host.stat(KUBELET_CONF),
      ctx.host.stat(path.join(ctx.input.stateDir, REGISTER_FILE)),
      ctx.host.stat('/etc/kubernetes/kubelet.conf'),
      ctx.host.stat('/var/lib/kubelet/pki/kubelet-client-current.pem'),
    ]);
    if (k0sConf && !ours)
      return fail(`${KUBELET_CONF} exists but ${ctx.input.stateDir} holds no ${REGISTER_FILE}: a k0s worker of another cluster lives here`);
    if (kubeadmConf) {
      return fail('/etc/kubernetes/kubelet.conf exists: this machine is a node of another (kubeadm) cluster', 'run kubeadm reset on this machine, then re-run');
    }
    if (kubeletCert)
      return fail(
        '/var/lib/kubelet/pki/kubelet-client-current.pem exists: kubelet credentials of another cluster',
        "reset that cluster's node (kubeadm reset, k3s-uninstall.sh), or move /var/lib/kubelet/pki aside, then re-run",
      );
    return pass(k0sConf ? `${KUBELET_CONF} belongs to this agent (${REGISTER_FILE} present)` : 'no kubelet state found');
  },
};

// ------------------------------------------------------------- network checks

async function dnsOutcome(ctx: CheckContext, host: string): Promise<CheckOutcome> {
  if (isIP(host)) return pass(`${host} is an IP address; no DNS lookup needed`);
  try {
    const addrs = await ctx.host.resolve(host, ctx.remainingMs());
    if (addrs.length === 0) return fail(`${host} resolved to no addresses`);
    const shown = addrs.slice(0, 3).join(', ') + (addrs.length > 3 ? `, +${addrs.length - 3} more` : '');
    return pass(`${host} -> ${shown}`);
  } catch (e) {
    return fail(`cannot resolve ${host}: ${errCode(e)}`);
  }
}

async function tcpOutcome(ctx: CheckContext, ep: Endpoint, via = ''): Promise<CheckOutcome> {
  const r = await ctx.host.tcpProbe(ep.host, ep.port, ctx.remainingMs());
  const target = `${formatHostPort(ep.host, ep.port)}${via}`;
  return r.ok ? pass(`connected to ${target} in ${r.durationMs} ms`) : fail(`cannot connect to ${target}: ${r.error ?? 'failed'}`);
}

const NOT_REGISTERED = 'not known until registration';

async function registered(ctx: CheckContext, which: 'controlPlane' | 'konnectivity'): Promise<Endpoint | CheckOutcome> {
  const eps = await ctx.endpoints();
  if (eps.error) return fail(eps.error, `fix or move aside ${path.join(ctx.input.stateDir, REGISTER_FILE)}, then re-run (registration rewrites it)`);
  const ep = eps[which];
  return ep ?? skipped(`${NOT_REGISTERED} (${eps.source})`);
}

const isEndpoint = (x: Endpoint | CheckOutcome): x is Endpoint => 'host' in x && 'port' in x;

const dnsApi: CheckDef = {
  name: 'dns-api',
  periodic: true,
  severity: 'error',
  title: 'DNS resolves the API host',
  remediation: 'fix DNS (/etc/resolv.conf) so the API_URL host resolves, or set HTTPS_PROXY',
  async run(ctx) {
    const ep = apiEndpoint(ctx.input.apiUrl);
    if (!ep) return skipped('API_URL is not set');
    if (ctx.input.apiProxy) return skipped(`the API is reached through proxy ${displayUrl(ctx.input.apiProxy)}, which resolves ${ep.host}`);
    return dnsOutcome(ctx, ep.host);
  },
};

const tcpApi443: CheckDef = {
  name: 'tcp-api-443',
  periodic: true,
  severity: 'error',
  title: 'TCP to the API (443)',
  remediation: 'allow outbound TCP 443 to the API host (firewall/security group), or set HTTPS_PROXY',
  async run(ctx) {
    const ep = apiEndpoint(ctx.input.apiUrl);
    if (!ep) return skipped('API_URL is not set');
    if (ctx.input.apiProxy) {
      const proxy = apiEndpoint(ctx.input.apiProxy);
      if (!proxy) return fail(`cannot parse proxy URL ${displayUrl(ctx.input.apiProxy)}`, 'fix HTTPS_PROXY');
      return tcpOutcome(ctx, proxy, ` (HTTPS proxy for ${ep.host})`);
    }
    return tcpOutcome(ctx, ep);
  },
};

const tcpApi80: CheckDef = {
  name: 'tcp-api-80',
  periodic: true,
  severity: 'warn',
  title: 'TCP to the API (80)',
  remediation: 'allow outbound TCP 80 to the API host (only plain-HTTP redirects and downloads use it)',
  async run(ctx) {
    const ep = apiEndpoint(ctx.input.apiUrl, 80);
    if (!ep) return skipped('API_URL is not set');
    if (ctx.input.apiProxy) return skipped(`the API is reached through proxy ${displayUrl(ctx.input.apiProxy)}`);
    return tcpOutcome(ctx, ep);
  },
};

const dnsControlPlane: CheckDef = {
  name: 'dns-control-plane',
  periodic: true,
  severity: 'error',
  title: 'DNS resolves the control-plane host',
  remediation: 'fix DNS (/etc/resolv.conf) so the control-plane host from the register response resolves',
  async run(ctx) {
    const ep = await registered(ctx, 'controlPlane');
    return isEndpoint(ep) ? dnsOutcome(ctx, ep.host) : ep;
  },
};

const tcpControlPlane: CheckDef = {
  name: 'tcp-control-plane-8443',
  periodic: true,
  severity: 'error',
  title: 'TCP to the control plane (8443)',
  remediation: 'allow outbound TCP 8443 to the control-plane host (kubelet -> kube-apiserver)',
  async run(ctx) {
    const ep = await registered(ctx, 'controlPlane');
    return isEndpoint(ep) ? tcpOutcome(ctx, ep) : ep;
  },
};

/**
 * The control plane must present a chain signed by the CA carried in the join
 * token (pinned: verified against that CA only, never the system store) and
 * valid for the token's server name: the same check as the join (k0s/cluster-ca.ts).
 * A different chain means TLS interception or the wrong endpoint; the kubelet
 * would fail with x509 errors after join.
 */
const tlsControlPlaneCa: CheckDef = {
  name: 'tls-control-plane-ca',
  periodic: true,
  severity: 'error',
  title: 'control plane presents the cluster CA from the join token',
  remediation: 'exempt the control-plane host from TLS inspection (middlebox/proxy) or add it to NO_PROXY; check the endpoint',
  async run(ctx) {
    const eps = await ctx.endpoints();
    if (eps.error) return fail(eps.error, `fix or move aside ${path.join(ctx.input.stateDir, REGISTER_FILE)}, then re-run (registration rewrites it)`);
    if (!eps.joinToken) return skipped(`${NOT_REGISTERED} (${eps.source.startsWith('no ') ? eps.source : `no k0s.joinToken in ${eps.source}`})`);
    let token;
    try {
      token = decodeJoinToken(eps.joinToken);
    } catch (e) {
      return fail(
        `the join token in ${eps.source} cannot be used: ${(e as Error).message}`,
        'delete register.json and let the agent register again to get a fresh token',
      );
    }
    const ca = `${token.caSha256.slice(0, 16)}…`;
    const v = await verifyClusterCa(ctx.host, token, ctx.remainingMs());
    if (v.ok) return pass(`${v.target} presents a chain signed by the cluster CA (sha256 ${ca})`);
    if (v.kind === 'unreachable') return fail(`no TLS handshake with ${v.target}: ${v.error}`, `allow outbound TCP ${token.port} to ${token.host}`);
    if (v.kind === 'refused') {
      const e = refusedError(token, v);
      return fail(e.message, e.remediation);
    }
    const leaf = v.chainSha256[0] ? `${v.chainSha256[0].slice(0, 16)}…` : 'none';
    return fail(`${v.target} presents a certificate not signed by the cluster CA (CA sha256 ${ca}, leaf sha256 ${leaf}): ${v.error}`);
  },
};

const tcpKonnectivity: CheckDef = {
  name: 'tcp-konnectivity-8132',
  periodic: true,
  severity: 'error',
  title: 'TCP to konnectivity (8132)',
  remediation: 'allow outbound TCP 8132 to the konnectivity host (kubectl logs/exec tunnel)',
  async run(ctx) {
    const ep = await registered(ctx, 'konnectivity');
    return isEndpoint(ep) ? tcpOutcome(ctx, ep) : ep;
  },
};

const UDP_UNPROBEABLE = 'UDP cannot be probed (WireGuard answers only a valid handshake): verified by the WireGuard handshake after bring-up';
const udpWireguard: CheckDef = {
  name: `udp-wireguard-${WIREGUARD_PORT}`,
  periodic: true,
  severity: 'warn',
  alwaysSkipped: UDP_UNPROBEABLE,
  title: `UDP ${WIREGUARD_PORT} (WireGuard)`,
  remediation: `allow UDP ${WIREGUARD_PORT} in and out; check the handshake age in castai-edge-initd status`,
  async run() {
    return skipped(UDP_UNPROBEABLE);
  },
};

/** How docs show a check's severity: "ERROR", "WARN", or "always SKIP" for a check that can never run. */
export function severityLabel(c: Pick<CheckDef, 'severity' | 'alwaysSkipped'>): string {
  return c.alwaysSkipped ? 'always SKIP' : c.severity.toUpperCase();
}

/** Every check, in display order. Names are stable (scripts use them with --skip). */
export const CHECKS: readonly CheckDef[] = [
  root,
  kernel,
  arch,
  systemd,
  cgroupV2,
  swap,
  ipForward,
  moduleOverlay,
  moduleBrNetfilter,
  clockSync,
  port10250,
  leftoverKubelet,
  dnsApi,
  tcpApi443,
  tcpApi80,
  dnsControlPlane,
  tcpControlPlane,
  tlsControlPlaneCa,
  tcpKonnectivity,
  udpWireguard,
];

export const CHECK_NAMES: readonly string[] = CHECKS.map((c) => c.name);
