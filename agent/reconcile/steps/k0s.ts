import type { Arch, RegisterResponse } from '../../api/types.ts';
import { isRefusal, refusal, type Action } from '../../contract.ts';
import { AgentError, EXIT } from '../../errors.ts';
import {
  applyK0s,
  DEFAULT_POD_CIDR,
  DEFAULT_SERVICE_CIDR,
  inspectK0s,
  installArgs,
  planK0s,
  type K0sAction,
  type K0sActual,
  type K0sDesired,
  type K0sRecorded,
} from '../../k0s/k0s.ts';
import { applyPrereqs, inspectPrereqs, planPrereqsFrom, type PrereqActual, type PrereqContext, type PrereqPlan } from '../../k0s/prereqs.ts';
import { describeReadiness, readNodeReady, type NodeReadiness, type ReadNodeOptions } from '../../k0s/node.ts';
import { desiredUnitFiles, inspectUnitFiles, kubeletProxy, kubeletProxyEnv } from '../../k0s/unit-config.ts';
import { ARCHES } from '../../preflight/checks.ts';
import { stepOf } from '../contract.ts';
import type { Step, StepContext } from '../step.ts';
import { userLabels } from './register.ts';
import { K0S_STATE_FILE } from '../../state/files.ts';
import { parseHostPort } from '../../net/endpoint.ts';
import { BOOT_ID_FILE, MACHINE_ID_FILE } from '../../host/paths.ts';

/** Control-plane labels win over the operator's on conflict; every conflict is reported. */
export function mergeLabels(
  user: Record<string, string>,
  controlPlane: Record<string, string>,
  extra: Record<string, string>,
): { labels: Record<string, string>; conflicts: string[] } {
  const conflicts = Object.keys(controlPlane).filter((k) => k in user && user[k] !== controlPlane[k]);
  return { labels: { ...user, ...extra, ...controlPlane }, conflicts };
}

export async function k0sDesired(ctx: StepContext, reg: RegisterResponse): Promise<{ desired: K0sDesired; conflicts: string[] }> {
  const sys = await ctx.host.system();
  const arch = ARCHES[sys.machine] as Arch;
  const artifact = reg.k0s.artifacts[arch];
  if (!artifact)
    throw new AgentError(`the control plane offers no k0s build for ${arch}`, 'contact support: the edge location has no k0s artifact for this architecture');
  const machineId = (await ctx.host.readFile(MACHINE_ID_FILE))?.trim() ?? '';
  const { labels, conflicts } = mergeLabels(userLabels(ctx.cfg.labels, machineId), reg.node.labels, ctx.shared.extraLabels);
  const seen = new Set<string>();
  const taints = [...ctx.cfg.taints, ...reg.node.taints].filter((t) => {
    const k = `${t.key}:${t.effect}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const directCidrs = kubeletDirectCidrs(reg);
  const kon = parseHostPort(reg.k0s.konnectivityEndpoint);
  if (!kon)
    throw new AgentError(
      `k0s.konnectivityEndpoint "${reg.k0s.konnectivityEndpoint}" is not host:port`,
      'contact support: the control plane sent a malformed endpoint',
    );
  const wgAddress = reg.wireguard.address.split('/')[0];
  const sameOrigin = new URL(artifact.url).origin === new URL(ctx.cfg.apiUrl).origin;
  const proxyEnv: Record<string, string> = {};
  if (ctx.cfg.proxy.httpProxy) proxyEnv.http_proxy = ctx.cfg.proxy.httpProxy;
  if (ctx.cfg.proxy.httpsProxy) proxyEnv.https_proxy = ctx.cfg.proxy.httpsProxy;
  if (ctx.cfg.proxy.noProxy) proxyEnv.no_proxy = ctx.cfg.proxy.noProxy;
  return {
    conflicts,
    desired: {
      version: reg.k0s.version,
      artifact,
      joinToken: reg.k0s.joinToken,
      konnectivity: { host: kon.host, port: kon.port },
      installArgs: installArgs({
        labels,
        taints,
        ...(wgAddress ? { nodeIp: wgAddress } : {}),
        hostname: reg.node.name,
        providerId: reg.node.providerID,
      }),
      nodeName: reg.node.name,
      unitFiles: desiredUnitFiles(kubeletProxyEnv(ctx.cfg.proxy, directCidrs)),
      downloadEnv: proxyEnv,
      ...(sameOrigin && ctx.cfg.caFile ? { downloadCaFile: ctx.cfg.caFile } : {}),
      joinTimeoutMs: 120_000,
    },
  };
}

/** CIDRs the kubelet reaches without a proxy: pod, service, and what the WireGuard tunnel routes. */
export function kubeletDirectCidrs(reg: RegisterResponse): string[] {
  return [DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, ...new Set(reg.wireguard.peers.flatMap((p) => p.allowedIPs))];
}

/** How the agent reads its Node: the kubelet's credentials and proxy settings (node.ts). */
export function nodeReadOptions(ctx: Pick<StepContext, 'cfg'>, reg: RegisterResponse): ReadNodeOptions {
  return { proxy: kubeletProxy(ctx.cfg.proxy, kubeletDirectCidrs(reg)) };
}

export interface K0sStepOptions {
  /** Reads the Node's Ready condition (default: node.ts readNodeReady, one HTTPS GET). */
  readNode?: (ctx: StepContext, name: string) => Promise<NodeReadiness>;
}

interface K0sWant {
  /** What the host prerequisites and registries are planned from (INITD_REGISTRIES_FILE, INITD_CA_FILE). */
  prereqs: PrereqContext['cfg'];
  /** Absent in `plan` before registration: only the host prerequisites are planned then. */
  k0s?: K0sDesired;
  conflicts: string[];
}

interface K0sSeen {
  prereqs: PrereqActual;
  k0s?: K0sActual;
}

interface K0sPlan {
  prereqs: PrereqPlan;
  k0s: K0sAction[];
  actions: Action[];
}

/** Step 6: install k0s and join as a worker; afterwards keep k0sworker installed as desired and running. */
export function k0sStep(opts: K0sStepOptions = {}): Step {
  const readNode =
    opts.readNode ?? ((ctx: StepContext, name: string) => readNodeReady(ctx.host, name, nodeReadOptions(ctx, ctx.shared.registration as RegisterResponse)));
  return stepOf<K0sWant, K0sSeen, K0sPlan>({
    name: 'k0s',
    async desired(ctx, purpose) {
      const reg = ctx.shared.registration;
      // Host prerequisites and registries (issue 18) need no registration: `plan` shows them before it.
      if (!reg) {
        if (purpose === 'plan') return { prereqs: ctx.cfg, conflicts: [] };
        return refusal('not registered yet, so there is no join token', 'the register step must succeed first', EXIT.RUNTIME);
      }
      const { desired, conflicts } = await k0sDesired(ctx, reg);
      return { prereqs: ctx.cfg, k0s: desired, conflicts };
    },
    async inspect(ctx, want) {
      const prereqs = await inspectPrereqs(ctx);
      const k0s = want.k0s ? await inspectK0s(ctx.host, () => ctx.store.read<K0sRecorded>(K0S_STATE_FILE), inspectUnitFiles) : undefined;
      return { prereqs, ...(k0s ? { k0s } : {}) };
    },
    plan(want, seen) {
      // A file or drop-in that is not ours: refused, nothing changed (the same words in `plan` and `run`).
      const prereqs = planPrereqsFrom(want.prereqs, seen.prereqs);
      if (isRefusal(prereqs)) return prereqs;
      const k0s = want.k0s && seen.k0s ? planK0s(want.k0s, seen.k0s) : [];
      return { prereqs, k0s, actions: [...prereqs.actions, ...k0s] };
    },
    show(p, want) {
      const pre = p.prereqs.actions.length;
      const summary = !want.k0s
        ? `${pre ? `${pre} host action(s); then ` : ''}waiting for registration (the join token and k0s version come from it)`
        : p.actions.length
          ? `${p.actions.length} action(s)`
          : `k0sworker ${want.k0s.version} running, kubelet has credentials`;
      return { summary, lines: p.prereqs.lines };
    },
    async apply(ctx, p, want, seen) {
      const reg = ctx.shared.registration!;
      const desired = want.k0s!;
      const actual = seen.k0s!;
      for (const k of want.conflicts) ctx.log.warn({ label: k }, `label ${k}: the control plane's value wins over INITD_KUBERNETES_LABELS`);
      const prepared = await applyPrereqs(ctx, p.prereqs);
      const actions = p.k0s;
      let node: NodeReadiness | undefined;
      const bootId = ((await ctx.host.readFile(BOOT_ID_FILE)) ?? '').trim();
      await applyK0s(ctx.host, desired, actions, {
        signal: ctx.signal,
        writeRecorded: (r) => ctx.store.write(K0S_STATE_FILE, r),
        log: (msg, fields) => ctx.log.info(fields ?? {}, msg),
        readNode: () => readNode(ctx, reg.node.name),
        onNodeReading: (r) => void (node = r),
        ...(bootId ? { bootId } : {}),
      });
      ctx.shared.k0sActive = actual.unitActive || actions.some((a) => a.kind === 'k0s.start' || a.kind === 'k0s.restart');
      // Joined means Ready: one read of the Node per pass (the wait above already read it on a join).
      if (!node && (actual.joined || actions.some((a) => a.kind === 'k0s.wait-joined'))) node = await readNode(ctx, reg.node.name);
      if (node) ctx.shared.node = node;
      const nodeState = node ? `node ${describeReadiness(node)}` : 'no Node reading';
      const joinedNow = !actual.joined && actions.some((a) => a.kind === 'k0s.wait-joined');
      const summary = joinedNow
        ? `joined as ${reg.node.name} (k0s ${desired.version}), ${nodeState}`
        : actions.length
          ? `k0sworker ${actions.map((a) => a.kind.replace('k0s.', '')).join(', ')}; ${nodeState}`
          : `k0sworker running as ${reg.node.name}, ${nodeState}`;
      return { summary, changed: actions.length > 0 || prepared };
    },
  });
}
