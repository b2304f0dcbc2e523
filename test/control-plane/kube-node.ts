/**
 * The emulator's Node objects (TEST CODE): what `GET /api/v1/nodes/<name>` answers on the kube
 * listener, built from the node the k0s TEST DOUBLE registered (labels, taints, provider ID, node IP)
 * and its heartbeats, with the Ready condition set the way the kubelet and the node lifecycle
 * controller set it. Every rule here is cited in docs/decisions/0140-k0s-double-upstream.md:
 *
 *  - Ready=True, reason KubeletReady, "kubelet is posting ready status" while the kubelet posts its
 *    status (kubernetes pkg/kubelet/nodestatus/setters.go, ReadyCondition);
 *  - Ready=False, reason KubeletNotReady, before the first status post after registration (the
 *    kubelet registers its Node before its runtime/network checks pass);
 *  - Ready=Unknown, reason NodeStatusUnknown, "Kubelet stopped posting node status." once no status
 *    arrived for the node monitor grace period, 50 s by default since Kubernetes 1.32
 *    (pkg/controller/nodelifecycle/node_lifecycle_controller.go, kube-controller-manager
 *    --node-monitor-grace-period);
 *  - an operator override (admin API) stands in for any other reason a kubelet reports NotReady.
 *
 * Errors are Kubernetes `Status` objects (kind Status, reason NotFound/Forbidden/Unauthorized), as
 * the API server sends them; a node may read only its own Node object (the Node authorizer,
 * kubernetes.io/docs/reference/access-authn-authz/node/, "Kubelets are limited to reading their own
 * Node objects", stable in 1.34).
 */
import { createHash } from 'node:crypto';

/** kube-controller-manager --node-monitor-grace-period default (Kubernetes ≥ 1.32). */
export const NODE_MONITOR_GRACE_MS = 50_000;

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ReadyOverride {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** The subset of the emulator's node record a Node object is built from. */
export interface NodeRecordForKube {
  nodeName: string;
  hostname: string;
  nodeIP?: string;
  providerID?: string;
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
  k0sVersion?: string;
  joinedAt: string;
  lastHeartbeat?: string;
  heartbeats: number;
  /** Set through the admin API (`node-ready`): wins over what the heartbeats say. */
  readyOverride?: ReadyOverride;
  /** The Ready status last served and when it last changed (lastTransitionTime). */
  readyTransition?: { status: ConditionStatus; at: string };
}

export interface ReadyCondition {
  type: 'Ready';
  status: ConditionStatus;
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

/** The Ready condition at `now`; records the transition time on the node when the status changes. */
export function readyCondition(node: NodeRecordForKube, now: number, graceMs = NODE_MONITOR_GRACE_MS): ReadyCondition {
  let c: Omit<ReadyCondition, 'type' | 'lastHeartbeatTime' | 'lastTransitionTime'>;
  const hb = node.lastHeartbeat ? Date.parse(node.lastHeartbeat) : undefined;
  if (node.readyOverride) c = { ...node.readyOverride };
  else if (hb === undefined) c = { status: 'False', reason: 'KubeletNotReady', message: 'container runtime status check may not have completed yet' };
  else if (now - hb > graceMs) c = { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' };
  else c = { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };
  if (node.readyTransition?.status !== c.status) node.readyTransition = { status: c.status, at: new Date(now).toISOString() };
  return { type: 'Ready', ...c, lastHeartbeatTime: node.lastHeartbeat ?? node.joinedAt, lastTransitionTime: node.readyTransition.at };
}

/** A v1 Node as the API server returns it (the fields a kubelet and `kubectl get node` use). */
export function nodeObject(node: NodeRecordForKube, now: number = Date.now()): Record<string, unknown> {
  const ready = readyCondition(node, now);
  const hb = ready.lastHeartbeatTime;
  const pressure = (type: string, reason: string, message: string) => ({
    type,
    status: 'False',
    reason,
    message,
    lastHeartbeatTime: hb,
    lastTransitionTime: node.joinedAt,
  });
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name: node.nodeName,
      uid: uuidOf(node.nodeName),
      resourceVersion: String(1 + node.heartbeats),
      creationTimestamp: node.joinedAt,
      labels: { 'kubernetes.io/hostname': node.nodeName, 'kubernetes.io/os': 'linux', ...node.labels },
    },
    spec: {
      ...(node.providerID ? { providerID: node.providerID } : {}),
      ...(node.taints.length ? { taints: node.taints.map((t) => ({ key: t.key, ...(t.value ? { value: t.value } : {}), effect: t.effect })) } : {}),
    },
    status: {
      conditions: [
        pressure('MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        pressure('DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        pressure('PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        ready,
      ],
      addresses: [...(node.nodeIP ? [{ type: 'InternalIP', address: node.nodeIP }] : []), { type: 'Hostname', address: node.hostname || node.nodeName }],
      nodeInfo: {
        kubeletVersion: (node.k0sVersion ?? 'v1.34.10+k0s.0').replace(/\+k0s\..*$/, '+k0s'),
        operatingSystem: 'linux',
        containerRuntimeVersion: 'k0s-test-double://no-runtime',
      },
    },
  };
}

/** A Kubernetes `Status` error body. */
export function k8sStatus(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

/** The node name of a kubelet client certificate subject (CN=system:node:<name>, O=system:nodes), or undefined. */
export function nodeNameOfSubject(subject: { CN?: string | string[]; O?: string | string[] } | undefined): string | undefined {
  if (!subject) return undefined;
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
  const cn = one(subject.CN)[0];
  if (!cn?.startsWith('system:node:') || !one(subject.O).includes('system:nodes')) return undefined;
  return cn.slice('system:node:'.length) || undefined;
}

function uuidOf(s: string): string {
  const h = createHash('sha256').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
