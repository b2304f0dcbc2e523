/**
 * What the agent adds to k0s's own k0sworker.service, as systemd drop-ins it owns
 * (docs/decisions/0142-k0sworker-boot-order.md, 0143-k0sworker-proxy-env.md):
 *
 *  1. Boot order. k0s enables k0sworker.service, so after a reboot systemd starts it on its own,
 *     before the agent has re-applied MIG (GPU instances do not survive a reboot) and brought
 *     WireGuard up (the kubelet's --node-ip is the tunnel address). The drop-in gives k0sworker an
 *     ExecStartPre that waits until the agent has written BOOT_MARKER (in /run: this boot only),
 *     which it does once storage, GPU and WireGuard are applied on this boot — for at most
 *     BOOT_WAIT_SEC, and not at all when the agent is not installed. Failure of the wait is
 *     ignored ("-"), and nothing orders k0sworker after the agent's unit: an unreachable control
 *     plane, a stuck or a broken agent delay k0sworker by BOOT_WAIT_SEC at most, never block it.
 *  2. Proxy settings. `k0s install worker -e HTTPS_PROXY=…` writes Environment="…" lines into the
 *     unit, raw: systemd expands % specifiers in them (a percent-encoded password such as p%40ss
 *     makes systemd drop the whole line), and `systemctl show` shows them to every local user.
 *     Instead the values go to a root-only 0600 file read with EnvironmentFile= (no specifier
 *     expansion, never shown by systemctl), quoted by systemd.exec(5)'s rules for that file.
 *
 * Ownership: every file starts with OWNER_MARK. A file of the same name without it is not ours and
 * is refused, never overwritten or removed.
 */
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import type { ProxyConfig } from '../config/types.ts';

export const K0S_DROPIN_DIR = '/etc/systemd/system/k0sworker.service.d';
export const BOOT_ORDER_DROPIN = `${K0S_DROPIN_DIR}/10-castai-edge-initd-boot-order.conf`;
export const PROXY_DROPIN = `${K0S_DROPIN_DIR}/10-castai-edge-initd-proxy.conf`;
/** Root-only (0600, in the agent's 0700 /etc/k0s): k0sworker's proxy variables. */
export const PROXY_ENV_FILE = '/etc/k0s/castai-edge-initd-proxy.env';
/** Written by the agent once storage, GPU and WireGuard are applied on this boot (/run is per boot). */
export const BOOT_MARKER = '/run/castai-edge-initd.boot-steps-done';
/** How long k0sworker waits for BOOT_MARKER at most (then starts anyway). */
export const BOOT_WAIT_SEC = 300;
/** The agent binary: when it is gone (uninstalled with --keep-node), k0sworker does not wait. */
export const AGENT_BIN = '/usr/local/bin/castai-edge-initd';

export const OWNER_MARK = '# Written by castai-edge-initd.';

export interface UnitFile {
  path: string;
  content: string;
  mode: number;
  /** A change needs k0sworker restarted (its environment); otherwise a daemon-reload is enough. */
  restart: boolean;
}

/** The boot-order drop-in: a bounded, failure-tolerant wait in ExecStartPre. Pure. */
export function renderBootOrderDropin(o: { waitSec?: number; marker?: string; agentBin?: string } = {}): string {
  const waitSec = o.waitSec ?? BOOT_WAIT_SEC;
  const marker = o.marker ?? BOOT_MARKER;
  const bin = o.agentBin ?? AGENT_BIN;
  // No $, % or backslash inside: systemd would expand or unescape them in an Exec line.
  if (/[$%\\"]/.test(marker + bin)) throw new Error('boot-order drop-in: paths must not hold $, %, \\ or "');
  return [
    `${OWNER_MARK} \`castai-edge-initd reset\` removes it.`,
    '# After a reboot, k0sworker waits until castai-edge-initd has re-applied storage, MIG and',
    `# WireGuard on this boot (${marker}), at most ${waitSec} s, and not at all when the agent is not`,
    '# installed. A failed or timed-out wait still starts k0sworker ("-").',
    '[Service]',
    `ExecStartPre=-/usr/bin/timeout ${waitSec} /bin/sh -c "[ ! -x ${bin} ] || until [ -e ${marker} ]; do sleep 0.5; done"`,
    '',
  ].join('\n');
}

/** One EnvironmentFile= value, double-quoted by systemd.exec(5): \ before " \ ` $, everything else verbatim. */
export function envFileQuote(value: string): string {
  if (value.includes('\0')) throw new Error('an environment value cannot hold a NUL byte');
  return `"${value.replace(/["\\`$]/g, (c) => `\\${c}`)}"`;
}

/** The environment variables k0sworker gets for a proxy (empty when none is configured). Pure. */
export function kubeletProxyEnv(proxy: ProxyConfig, directCidrs: string[]): Record<string, string> {
  if (!proxy.httpProxy && !proxy.httpsProxy) return {};
  const noProxy = [...new Set([...(proxy.noProxy ? proxy.noProxy.split(',') : []), ...directCidrs, '.svc', '.cluster.local', 'localhost', '127.0.0.1'])]
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    ...(proxy.httpProxy ? { HTTP_PROXY: proxy.httpProxy } : {}),
    ...(proxy.httpsProxy ? { HTTPS_PROXY: proxy.httpsProxy } : {}),
    NO_PROXY: noProxy.join(','),
  };
}

/** The proxy settings the kubelet uses, as a ProxyConfig (for the agent's own reads of the API server). */
export function kubeletProxy(proxy: ProxyConfig, directCidrs: string[]): ProxyConfig {
  const env = kubeletProxyEnv(proxy, directCidrs);
  return {
    ...(env.HTTP_PROXY ? { httpProxy: env.HTTP_PROXY } : {}),
    ...(env.HTTPS_PROXY ? { httpsProxy: env.HTTPS_PROXY } : {}),
    ...(env.NO_PROXY ? { noProxy: env.NO_PROXY } : {}),
  };
}

export function renderProxyEnvFile(env: Record<string, string>): string {
  return [
    `${OWNER_MARK} k0sworker's proxy settings (read by systemd as root; mode 0600).`,
    ...Object.entries(env).map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name ${k}`);
      return `${k}=${envFileQuote(v)}`;
    }),
    '',
  ].join('\n');
}

export function renderProxyDropin(envFile = PROXY_ENV_FILE): string {
  return [
    `${OWNER_MARK} \`castai-edge-initd reset\` removes it.`,
    "# k0sworker's proxy settings come from a root-only file: no % specifier expansion, and",
    '# `systemctl show` does not show them (an Environment= line would be readable by every user).',
    '[Service]',
    `EnvironmentFile=${envFile}`,
    '',
  ].join('\n');
}

/** Every file we want k0sworker to have (absent from the list = remove ours). Pure. */
export function desiredUnitFiles(proxyEnv: Record<string, string>): UnitFile[] {
  const files: UnitFile[] = [{ path: BOOT_ORDER_DROPIN, content: renderBootOrderDropin(), mode: 0o644, restart: false }];
  if (Object.keys(proxyEnv).length) {
    files.push({ path: PROXY_ENV_FILE, content: renderProxyEnvFile(proxyEnv), mode: 0o600, restart: true });
    files.push({ path: PROXY_DROPIN, content: renderProxyDropin(), mode: 0o644, restart: true });
  }
  return files;
}

/** The paths we may own (what reset/teardown cleans up). */
export const OUR_UNIT_FILES = [BOOT_ORDER_DROPIN, PROXY_DROPIN, PROXY_ENV_FILE] as const;

export interface UnitFileState {
  /** Content (undefined = absent) and mode of each of OUR_UNIT_FILES. */
  files: Record<string, { content: string; mode: number } | undefined>;
  bootMarker: boolean;
}

export async function inspectUnitFiles(host: Host): Promise<UnitFileState> {
  const files: UnitFileState['files'] = {};
  await Promise.all(
    OUR_UNIT_FILES.map(async (p) => {
      const st = await host.stat(p);
      const content = st?.isFile ? await host.readFile(p) : undefined;
      files[p] = content === undefined ? undefined : { content, mode: st!.mode };
    }),
  );
  return { files, bootMarker: Boolean(await host.stat(BOOT_MARKER)) };
}

export const isOurs = (content: string | undefined): boolean => content?.startsWith(OWNER_MARK) ?? false;

export interface UnitFilePlan {
  write: UnitFile[];
  remove: string[];
  /** k0sworker's environment changes: restart it (when it runs and is not restarted anyway). */
  restart: boolean;
  /** A drop-in changed: systemd must re-read the unit. */
  reload: boolean;
}

/** Pure: which of our files to write or remove. Refuses (AgentError) a same-named file that is not ours. */
export function planUnitFiles(want: UnitFile[], actual: UnitFileState): UnitFilePlan {
  const out: UnitFilePlan = { write: [], remove: [], restart: false, reload: false };
  for (const p of OUR_UNIT_FILES) {
    const w = want.find((f) => f.path === p);
    const a = actual.files[p];
    if (a && !isOurs(a.content)) {
      throw new AgentError(
        `${p} exists and was not written by castai-edge-initd; refusing to overwrite or remove it`,
        `k0sworker's proxy and boot-order settings are the agent's: move ${p} aside (its settings belong in INITD_*/HTTPS_PROXY), then the agent writes its own`,
      );
    }
    if (w && (a?.content !== w.content || a.mode !== w.mode)) {
      out.write.push(w);
      out.restart ||= w.restart;
      out.reload ||= w.path.endsWith('.conf');
    } else if (!w && a) {
      out.remove.push(p);
      out.restart ||= p !== BOOT_ORDER_DROPIN;
      out.reload ||= p.endsWith('.conf');
    }
  }
  return out;
}

/** Remove our drop-ins, env file and boot marker (teardown); others' files are left alone. */
export async function removeOurUnitFiles(host: Host): Promise<string[]> {
  const removed: string[] = [];
  for (const p of [...OUR_UNIT_FILES, BOOT_MARKER]) {
    const st = await host.stat(p);
    if (!st?.isFile) continue;
    if (p !== BOOT_MARKER && !isOurs(await host.readFile(p))) continue;
    await host.remove(p);
    removed.push(p);
  }
  if ((await host.stat(K0S_DROPIN_DIR))?.isDirectory && (await host.readdir(K0S_DROPIN_DIR)).length === 0) {
    await host.remove(K0S_DROPIN_DIR);
    removed.push(K0S_DROPIN_DIR);
  }
  return removed;
}
