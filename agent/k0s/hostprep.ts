/**
 * Kubelet prerequisites, set by the k0s step before k0sworker starts (docs/decisions/0183-host-prep.md):
 * the kernel modules containerd and the CNI bridge need, loaded now and at every boot, and the
 * forwarding/bridge-netfilter sysctls, in files of our own name — what k3s (pkg/agent/syssetup:
 * modprobe overlay, br_netfilter; ip forwarding, bridge-nf-call-ip(6)tables), EKS's nodeadm
 * (/etc/sysctl.d/99-nodeadm.conf) and the Kubernetes container-runtime prerequisites
 * (/etc/modules-load.d/k8s.conf, /etc/sysctl.d/k8s.conf) set up.
 *
 *   inspect: loaded modules (/sys/module), current sysctl values (/proc/sys), our two files
 *   plan:    pure; each file to write, each module to load, each sysctl to set
 *   apply:   files (recorded as ours), modprobe, sysctl -w: one executor per action kind
 */
import type { Host } from '../host/host.ts';
import type { StateStore } from '../state/store.ts';
import { isRefusal, type Action, type Executors, type Refusal } from '../contract.ts';
import { runChecked } from '../host/command-failure.ts';
import { inspectOwned, planOwned, type DesiredFile, type OwnedActual, type OwnedFileAction } from './owned-files.ts';
import { SYS_MODULE_DIR } from '../host/paths.ts';

export const MODULES_LOAD_FILE = '/etc/modules-load.d/castai-edge-initd.conf';
export const SYSCTL_FILE = '/etc/sysctl.d/99-castai-edge-initd.conf';
export const KERNEL_MODULES = ['overlay', 'br_netfilter'] as const;

/** The sysctls, each with whether a kernel without it (IPv6 disabled) may skip it. */
export const KUBELET_SYSCTLS: ReadonlyArray<{ key: string; value: string; optional?: boolean }> = [
  { key: 'net.ipv4.ip_forward', value: '1' },
  { key: 'net.bridge.bridge-nf-call-iptables', value: '1' },
  { key: 'net.bridge.bridge-nf-call-ip6tables', value: '1' },
  { key: 'net.ipv6.conf.all.forwarding', value: '1', optional: true },
];

const HEADER = '# Written by castai-edge-initd (the k0s step: kubelet prerequisites); removed by `castai-edge-initd reset`.\n# Do not edit: put your own settings in a file of your own name.\n';

export function hostPrepFiles(): DesiredFile[] {
  return [
    {
      path: MODULES_LOAD_FILE,
      mode: 0o644,
      why: 'load overlay and br_netfilter at every boot (systemd-modules-load)',
      content: `${HEADER}${KERNEL_MODULES.join('\n')}\n`,
    },
    {
      path: SYSCTL_FILE,
      mode: 0o644,
      why: 'kubelet sysctls at every boot (systemd-sysctl)',
      // sysctl.d(5): a leading "-" ignores a key the kernel does not have (IPv6 disabled).
      content: `${HEADER}${KUBELET_SYSCTLS.map((s) => `${s.optional ? '-' : ''}${s.key} = ${s.value}`).join('\n')}\n`,
    },
  ];
}

export const procSysPath = (key: string) => `/proc/sys/${key.replace(/\./g, '/')}`;

export interface HostPrepActual {
  files: OwnedActual;
  loaded: Record<string, boolean>;
  /** key → current value; undefined when the kernel has no such key (yet: bridge keys need br_netfilter). */
  sysctls: Record<string, string | undefined>;
}

/** What the kernel is told now (the files above tell it at every boot). */
export type KernelAction = (Action & { kind: 'hostprep.modprobe'; module: string }) | (Action & { kind: 'hostprep.sysctl'; key: string; value: string });

export type HostPrepAction = OwnedFileAction | KernelAction;

export async function inspectHostPrep(host: Host, store: StateStore): Promise<HostPrepActual> {
  const files = await inspectOwned(host, store, hostPrepFiles(), [MODULES_LOAD_FILE, SYSCTL_FILE]);
  const loaded: Record<string, boolean> = {};
  await Promise.all(KERNEL_MODULES.map(async (m) => (loaded[m] = Boolean(await host.stat(`${SYS_MODULE_DIR}/${m}`)))));
  const sysctls: Record<string, string | undefined> = {};
  await Promise.all(KUBELET_SYSCTLS.map(async (s) => (sysctls[s.key] = (await host.readFile(procSysPath(s.key)).catch(() => undefined))?.trim())));
  return { files, loaded, sysctls };
}

/**
 * Pure: what to change, or a refusal (one of our two file names holds a file that is not ours). A
 * bridge key missing only because br_netfilter is not loaded yet is set after the modprobe.
 */
export function planHostPrep(a: HostPrepActual): HostPrepAction[] | Refusal {
  const files = planOwned(hostPrepFiles(), a.files, [MODULES_LOAD_FILE, SYSCTL_FILE]);
  if (isRefusal(files)) return files;
  const out: HostPrepAction[] = [...files];
  for (const m of KERNEL_MODULES) {
    if (a.loaded[m]) continue;
    const reason = m === 'overlay' ? 'containerd’s overlayfs snapshotter' : 'bridged pod traffic must pass iptables (kube-proxy, CNI)';
    out.push({ kind: 'hostprep.modprobe', module: m, description: `modprobe ${m}`, reason });
  }
  const bridgeComing = !a.loaded.br_netfilter;
  for (const s of KUBELET_SYSCTLS) {
    const cur = a.sysctls[s.key];
    if (cur === s.value) continue;
    if (cur === undefined && s.optional) continue;
    if (cur === undefined && !(bridgeComing && s.key.startsWith('net.bridge.'))) continue;
    const description = `sysctl ${s.key}=${s.value}${cur !== undefined ? ` (now ${cur})` : ''}`;
    out.push({ kind: 'hostprep.sysctl', key: s.key, value: s.value, description, reason: 'the kubelet and CNI need it' });
  }
  return out;
}

/** One executor per kernel action kind, each through the one run-and-check helper. */
export const kernelExecutors: Executors<KernelAction, { host: Host }> = {
  'hostprep.modprobe': async (a, c) => {
    await runChecked(c.host, ['modprobe', a.module], {
      what: `k0s: modprobe ${a.module}`,
      fix: 'install the kernel modules package for the running kernel (linux-modules-$(uname -r) or linux-image-$(uname -r)), then restart castai-edge-initd',
      timeoutMs: 30_000,
    });
  },
  'hostprep.sysctl': async (a, c) => {
    await runChecked(c.host, ['sysctl', '-w', `${a.key}=${a.value}`], {
      what: `k0s: sysctl ${a.key}`,
      fix: `check that /proc/sys is writable (not a read-only container); the values are also in ${SYSCTL_FILE} for the next boot`,
      timeoutMs: 10_000,
    });
  },
};
