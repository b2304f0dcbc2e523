/**
 * Joined means Ready (issue 14 item 4): the kubelet's own kubeconfig, one read of its Node, the
 * Ready condition in the pass summary (systemctl's STATUS=), the phase, the status report and
 * `status`.
 */
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { kubeconfigRefs, loadKubeletCredentials } from '../../agent/k0s/kubeconfig.ts';
import { readinessFromNode, readNodeReady, type KubeGet, type NodeReadiness } from '../../agent/k0s/node.ts';
import type { Journal } from '../../agent/reconcile/journal.ts';
import { nodeReport, phaseWithNode } from '../../agent/reconcile/node-phase.ts';
import { buildReport } from '../../agent/reconcile/report.ts';
import { summaryLine } from '../../agent/reconcile/runner.ts';
import { statusNodeLine } from '../../agent/commands/status-node.ts';
import { KUBELET_CLIENT_PEM, kubeletConfText } from '../control-plane/pki.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBcluster\n-----END CERTIFICATE-----\n';
const PAIR = '-----BEGIN CERTIFICATE-----\nMIIBnode\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\nMHcprivate\n-----END EC PRIVATE KEY-----\n';
const KUBELET_CONF_TEXT = kubeletConfText(CA, 'https://cp.example:6443');

function nodeHost(): FakeHost {
  const h = new FakeHost();
  h.setFile(KUBELET_CONF, KUBELET_CONF_TEXT, 0o600);
  h.setFile(KUBELET_CLIENT_PEM, PAIR, 0o600);
  return h;
}

function node(ready: 'True' | 'False' | 'Unknown', reason = 'KubeletReady', message = 'kubelet is posting ready status', name = 'cast-1') {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: { name },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: ready, reason, message, lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
    },
  };
}

const json = (status: number, body: unknown): Awaited<ReturnType<KubeGet>> => ({ status, body: Buffer.from(JSON.stringify(body)) });

describe("the kubelet's credentials (kubelet.conf as k0s writes it)", () => {
  it('names the cluster CA and the client certificate/key pair in the kubelet cert dir', () => {
    expect(kubeconfigRefs(KUBELET_CONF_TEXT, (m) => new Error(m))).toEqual({
      server: 'https://cp.example:6443',
      caData: Buffer.from(CA).toString('base64'),
      certFile: KUBELET_CLIENT_PEM,
      keyFile: KUBELET_CLIENT_PEM,
    });
  });

  it('resolves them through the Host: PEM text, never paths', async () => {
    expect(await loadKubeletCredentials(nodeHost(), KUBELET_CONF)).toEqual({ server: 'https://cp.example:6443', caPem: CA, certPem: PAIR, keyPem: PAIR });
  });

  it("refuses a kubelet.conf that is not root's or is writable by others", async () => {
    const h = nodeHost();
    h.files.set(KUBELET_CONF, { data: KUBELET_CONF_TEXT, mode: 0o666 });
    await expect(loadKubeletCredentials(h, KUBELET_CONF)).rejects.toThrow(/not root's or is writable by others \(uid 0, mode 666\)/);
    h.files.set(KUBELET_CONF, { data: KUBELET_CONF_TEXT, mode: 0o600, uid: 1000 });
    await expect(loadKubeletCredentials(h, KUBELET_CONF)).rejects.toThrow(/uid 1000/);
  });
});

describe('reading the Node', () => {
  it('one GET of /api/v1/nodes/<name> with the kubelet credentials; the Ready condition comes back', async () => {
    const calls: string[] = [];
    const get: KubeGet = async (url, creds, o) => {
      calls.push(`${url} ${creds.certPem === PAIR} ${o.timeoutMs} ${o.maxBytes}`);
      return json(200, node('True'));
    };
    const r = await readNodeReady(nodeHost(), 'cast-1', { get, now: () => 0 });
    expect(r).toEqual({
      node: 'cast-1',
      ready: 'True',
      reason: 'KubeletReady',
      message: 'kubelet is posting ready status',
      since: '2026-01-01T00:00:00Z',
      checkedAt: '1970-01-01T00:00:00.000Z',
    });
    expect(calls).toEqual(['https://cp.example:6443/api/v1/nodes/cast-1 true 5000 2097152']);
  });

  it('NotReady with the kubelet’s reason; Unknown when the node controller lost it', async () => {
    const nr = await readNodeReady(nodeHost(), 'cast-1', {
      get: async () => json(200, node('False', 'KubeletNotReady', 'container runtime network not ready')),
    });
    expect(nr).toMatchObject({ ready: 'False', reason: 'KubeletNotReady', message: 'container runtime network not ready' });
    const un = await readNodeReady(nodeHost(), 'cast-1', {
      get: async () => json(200, node('Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.')),
    });
    expect(un.ready).toBe('Unknown');
  });

  it('a 404 Status is NotFound (not registered yet); anything else that is not our Node is Unread, never an exception', async () => {
    const notFound = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'nodes "cast-1" not found', reason: 'NotFound', code: 404 };
    expect((await readNodeReady(nodeHost(), 'cast-1', { get: async () => json(404, notFound) })).ready).toBe('NotFound');
    const forbidden = await readNodeReady(nodeHost(), 'cast-1', {
      get: async () => json(403, { kind: 'Status', message: 'forbidden', reason: 'Forbidden', code: 403 }),
    });
    expect(forbidden).toMatchObject({ ready: 'Unread', error: 'the API server answered HTTP 403: forbidden' });
    const html = await readNodeReady(nodeHost(), 'cast-1', { get: async () => ({ status: 404, body: Buffer.from('<html>404 Not Found</html>') }) });
    expect(html).toMatchObject({ ready: 'Unread', error: 'the API server answered HTTP 404' });
    const other = await readNodeReady(nodeHost(), 'cast-1', { get: async () => json(200, node('True', 'x', 'y', 'cast-2')) });
    expect(other).toMatchObject({ ready: 'Unread', error: 'the API server answered something that is not Node cast-1' });
    const timeout = await readNodeReady(nodeHost(), 'cast-1', {
      get: async () => Promise.reject(Object.assign(new Error('aborted'), { name: 'TimeoutError' })),
    });
    expect(timeout).toMatchObject({ ready: 'Unread', error: 'GET cp.example:6443/api/v1/nodes/cast-1: no answer in time' });
    const noConf = await readNodeReady(new FakeHost(), 'cast-1', { get: async () => json(200, node('True')) });
    expect(noConf).toMatchObject({ ready: 'Unread', error: '/var/lib/k0s/kubelet.conf: does not exist (the kubelet has not joined)' });
  });

  it('a Node without a Ready condition is Unknown', () => {
    expect(readinessFromNode({ kind: 'Node', metadata: { name: 'n' }, status: {} }, 'n', 't')).toMatchObject({ ready: 'Unknown', reason: 'NoReadyCondition' });
  });
});

const J = (phase: Journal['phase'], n?: NodeReadiness): Journal => ({
  version: 1,
  bootId: 'b',
  updatedAt: 't',
  phase,
  pass: 3,
  steps: ['preflight', 'register', 'k0s'].map((name) => ({ name, state: 'done', message: 'ok' })),
  ...(n ? { node: n } : {}),
});
const R = (ready: NodeReadiness['ready'], extra: Partial<NodeReadiness> = {}): NodeReadiness => ({ node: 'cast-1', ready, checkedAt: 't', ...extra });

describe("the Node's Ready condition in systemctl's STATUS= line, the phase and the status report", () => {
  it('STATUS=: "joined · node Ready" only for a Ready Node; NotReady, missing and unreadable say so', () => {
    expect(summaryLine(J('READY', R('True')), 'cast-1')).toBe('joined · node Ready · edge cast-1');
    expect(summaryLine(J('DEGRADED', R('False', { reason: 'KubeletNotReady', message: 'cni plugin not initialized' })), 'cast-1')).toBe(
      'node NotReady: KubeletNotReady: cni plugin not initialized · edge cast-1',
    );
    expect(summaryLine(J('JOINING', R('NotFound')), 'cast-1')).toBe('node not registered yet (no Node object) · edge cast-1');
    expect(summaryLine(J('READY', R('Unread', { error: 'GET cp:6443/api/v1/nodes/cast-1: no answer in time' })), 'cast-1')).toBe(
      'joined · node Ready unknown: GET cp:6443/api/v1/nodes/cast-1: no answer in time · edge cast-1',
    );
  });

  it('the phase is READY only with a Ready Node; NotReady degrades; an unreadable Node keeps the phase', () => {
    expect(phaseWithNode('READY', 'JOINING', R('True'))).toBe('READY');
    expect(phaseWithNode('READY', 'JOINING', R('False'))).toBe('JOINING');
    expect(phaseWithNode('READY', 'READY', R('False'))).toBe('DEGRADED');
    expect(phaseWithNode('READY', 'READY', R('NotFound'))).toBe('DEGRADED');
    expect(phaseWithNode('READY', 'READY', R('Unread'))).toBe('READY');
    expect(phaseWithNode('READY', 'JOINING', R('Unread'))).toBe('JOINING');
    expect(phaseWithNode('DEGRADED', 'READY', R('True'))).toBe('DEGRADED'); // a failed step stays a failed step
    expect(phaseWithNode('READY', 'JOINING', undefined)).toBe('READY');
  });

  it('the status report carries k0s.nodeReady (and why, when not Ready)', () => {
    const rep = buildReport(J('DEGRADED'), { extraLabels: {}, k0sActive: true, node: R('False', { reason: 'KubeletNotReady', message: 'cni' }) });
    expect(rep.k0s).toEqual({ unitActive: true, nodeReady: 'False', nodeReadyMessage: 'NotReady: KubeletNotReady: cni' });
    expect(nodeReport(R('True'))).toEqual({ nodeReady: 'True' });
    expect(nodeReport(undefined)).toEqual({});
  });

  it("`status` prints the live reading, and the agent's last one when the live read fails", () => {
    expect(statusNodeLine({ ...R('True', { since: '2026-01-01T00:00:00Z' }), name: 'cast-1', agent: null })).toBe('cast-1 Ready (since 2026-01-01T00:00:00Z)');
    expect(statusNodeLine({ ...R('Unread', { error: 'no answer in time' }), name: 'cast-1', agent: R('True', { checkedAt: '2026-01-01T00:01:00Z' }) })).toBe(
      "cast-1 Ready unknown: no answer in time; the agent's last pass saw Ready at 2026-01-01T00:01:00Z",
    );
    expect(statusNodeLine({ name: 'cast-1', agent: null })).toBe('cast-1: the kubelet has no credentials yet (/var/lib/k0s/kubelet.conf missing)');
    expect(statusNodeLine(null)).toBe('-');
  });
});
