/**
 * Joined means Ready (issue 14 item 4), over real HTTPS on loopback: the k0s TEST DOUBLE joins the
 * emulator and leaves the kubelet's files (kubelet.conf + the client cert pair) as k0s does; the
 * agent's reader (agent/k0s/node.ts, undici, mutual TLS with the kubelet's certificate) reads that
 * Node's Ready condition from the emulator's kube API; the emulator's admin override makes it
 * NotReady; only its own Node is readable; a hung or oversized answer is "Unread", never a crash.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterResponse } from '../../agent/api/types.ts';
import { RealHost } from '../../agent/host/real.ts';
import type { FileStat, Host } from '../../agent/host/host.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { readNodeReady } from '../../agent/k0s/node.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';
import { nodeObject } from '../control-plane/kube-node.ts';
import { registerEdge } from '../helpers/api.ts';
import { k0sDouble, rootWithToken, waitFor } from '../helpers/k0s-double.ts';
import { stuckListener } from '../helpers/stuck-listener.ts';

const run = promisify(execFile);
let dir: string;
let emu: ControlPlaneEmulator;

/** The real OS, with every absolute path under `root` (where the double, run with K0S_TEST_DOUBLE_ROOT, put its files). */
class RootedHost extends RealHost {
  private readonly root: string;
  constructor(root: string) {
    super();
    this.root = root;
  }
  override readFile(p: string): Promise<string | undefined> {
    return super.readFile(path.join(this.root, p));
  }
  override async stat(p: string): Promise<FileStat | undefined> {
    const st = await super.stat(path.join(this.root, p));
    // The files are the test user's here; on a node they are root's (checked in the unit tests).
    return st ? { ...st, uid: 0 } : st;
  }
}

/** The double's command, which must succeed (its stderr in the error otherwise). */
async function k0s(root: string, ...args: string[]): Promise<void> {
  const r = await k0sDouble(root, ...args);
  if (r.code !== 0) throw new Error(`k0s ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
}

const register = (): Promise<RegisterResponse> => registerEdge(emu, { hostname: 'vm-1' });

/** A joined node (the double's worker running, heartbeating every second). */
async function joinedNode(): Promise<{ root: string; reg: RegisterResponse; host: Host }> {
  const reg = await register();
  const root = rootWithToken(dir, reg.k0s.joinToken);
  await k0s(
    root,
    'install',
    'worker',
    '--token-file',
    '/etc/k0s/k0stoken',
    '--labels=env=prod',
    '--taints=dedicated=gpu:NoSchedule',
    `--kubelet-extra-args=--node-ip=100.96.0.9 --hostname-override=${reg.node.name} --provider-id=${reg.node.providerID}`,
  );
  await k0s(root, 'start');
  await waitFor(() => (emu.nodes.get(reg.node.name)?.heartbeats ?? 0) >= 1);
  return { root, reg, host: new RootedHost(root) };
}

const roots: string[] = [];
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'kube-node-'));
  emu = new ControlPlaneEmulator({ stateDir: path.join(dir, 'state') });
  await emu.start();
});

afterAll(async () => {
  for (const r of roots) await k0s(r, 'stop').catch(() => {});
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the Node the k0s double registered, read with the kubelet's own credentials", () => {
  it('is Ready while the kubelet posts status; NotReady with the reason an operator sets; back to Ready when cleared', async () => {
    const { root, reg, host } = await joinedNode();
    roots.push(root);
    const r = await readNodeReady(host, reg.node.name);
    expect(r).toMatchObject({ node: reg.node.name, ready: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' });
    const req = emu.requests.filter((q) => q.endpoint === 'kube-node').at(-1);
    expect(req).toMatchObject({ status: 200, credential: 'node-certificate', credentialValid: true });

    emu.setNodeReady(reg.node.name, { status: 'False', reason: 'KubeletNotReady', message: 'container runtime network not ready' });
    expect(await readNodeReady(host, reg.node.name)).toMatchObject({
      ready: 'False',
      reason: 'KubeletNotReady',
      message: 'container runtime network not ready',
    });
    emu.setNodeReady(reg.node.name, undefined);
    expect((await readNodeReady(host, reg.node.name)).ready).toBe('True');
  });

  it('serves the registered labels, taints, provider ID and node IP as a v1 Node', async () => {
    const { root, reg } = await joinedNode();
    roots.push(root);
    const n = nodeObject(emu.nodes.get(reg.node.name)!) as {
      metadata: { labels: Record<string, string> };
      spec: unknown;
      status: { addresses: unknown[]; conditions: Array<{ type: string }> };
    };
    expect(n.metadata.labels).toMatchObject({ env: 'prod', 'kubernetes.io/hostname': reg.node.name });
    expect(n.spec).toEqual({ providerID: reg.node.providerID, taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    expect(n.status.addresses).toContainEqual({ type: 'InternalIP', address: '100.96.0.9' });
    expect(n.status.conditions.map((c) => c.type)).toEqual(['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']);
  });

  it("a kubelet may read only its own Node (403), and without a client certificate nothing (Unread: 401)", async () => {
    const a = await joinedNode();
    const b = await joinedNode();
    roots.push(a.root, b.root);
    const other = await readNodeReady(a.host, b.reg.node.name);
    expect(other.ready).toBe('Unread');
    expect(other.error).toMatch(/HTTP 403: nodes ".*" is forbidden: User "system:node:.*" cannot get resource "nodes"/);
    // A kubeconfig with the CA but no client identity.
    const noId = mkdtempSync(path.join(dir, 'noid-'));
    const conf = readFileSync(path.join(a.root, KUBELET_CONF), 'utf8').replace(/\n- name: default-auth\n {2}user:\n[\s\S]*$/, '\n- name: default-auth\n  user:\n    token: not-a-kubelet-token\n');
    mkdirSync(path.join(noId, 'var/lib/k0s'), { recursive: true });
    writeFileSync(path.join(noId, KUBELET_CONF), conf, { mode: 0o600 });
    const anon = await readNodeReady(new RootedHost(noId), a.reg.node.name);
    expect(anon).toMatchObject({ ready: 'Unread', error: 'the API server answered HTTP 401: Unauthorized' });
  });

  it('a hung API server is "Unread" within the timeout, and an oversized answer is refused', async () => {
    const { root, reg } = await joinedNode();
    roots.push(root);
    const stuck = await stuckListener();
    try {
      const conf = readFileSync(path.join(root, KUBELET_CONF), 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${stuck.port}`);
      const hung = mkdtempSync(path.join(dir, 'hung-'));
      mkdirSync(path.join(hung, 'var/lib/k0s'), { recursive: true });
      writeFileSync(path.join(hung, KUBELET_CONF), conf, { mode: 0o600 });
      for (const f of ['var/lib/k0s/kubelet']) await run('cp', ['-a', path.join(root, f), path.join(hung, 'var/lib/k0s/')]);
      const t0 = Date.now();
      const r = await readNodeReady(new RootedHost(hung), reg.node.name, { timeoutMs: 1000 });
      expect(r).toMatchObject({ ready: 'Unread' });
      expect(r.error).toMatch(/no answer in time/);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      stuck.close();
    }
    // A server that streams more than the cap.
    const key = readFileSync(path.join(dir, 'state/kube-server.key'));
    const cert = readFileSync(path.join(dir, 'state/kube-server.pem'));
    const big = createServer({ key, cert }, (_q, s) => {
      s.writeHead(200, { 'content-type': 'application/json' });
      s.end(`{"kind":"Node","pad":"${'x'.repeat(64 * 1024)}"}`);
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (big.address() as { port: number }).port;
      const conf = readFileSync(path.join(root, KUBELET_CONF), 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${port}`);
      const huge = mkdtempSync(path.join(dir, 'huge-'));
      mkdirSync(path.join(huge, 'var/lib/k0s'), { recursive: true });
      writeFileSync(path.join(huge, KUBELET_CONF), conf, { mode: 0o600 });
      await run('cp', ['-a', path.join(root, 'var/lib/k0s/kubelet'), path.join(huge, 'var/lib/k0s/')]);
      const r = await readNodeReady(new RootedHost(huge), reg.node.name, { maxBytes: 16 * 1024 });
      expect(r).toMatchObject({ ready: 'Unread' });
      expect(r.error).toMatch(/larger than 16384 bytes/);
    } finally {
      big.close();
    }
  });
});
