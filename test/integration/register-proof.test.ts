/**
 * The register step (agent/reconcile/steps/register.ts) against the control-plane emulator over
 * real TLS, for issue 14 items 1 and 2: removal only on the control plane's own evidence, the
 * register.json binding to its control plane, and one identity per machine (409). The host is a
 * FakeHost; the network is real.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterResponse } from '../../agent/api/types.ts';
import type { AgentConfig } from '../../agent/config/types.ts';
import { DEFAULT_WIREGUARD_INTERFACE } from '../../agent/config/known.ts';
import { controlPlaneStatus, printControlPlaneStatus } from '../../agent/commands/status-control-plane.ts';
import { AgentError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { stepContext } from '../../agent/reconcile/context.ts';
import { runDaemon } from '../../agent/reconcile/daemon.ts';
import { lifecycleHooks } from '../../agent/reconcile/lifecycle.ts';
import { StartupLogShipper } from '../../agent/reconcile/logship.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { CONTROL_PLANE_FILE, DEFAULT_STATE_DIR, JOURNAL_FILE, REGISTER_FILE, REGISTER_META_FILE, REMOVAL_EVIDENCE_FILE } from '../../agent/state/files.ts';
import { registerStep } from '../../agent/reconcile/steps/register.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';

const STATE = DEFAULT_STATE_DIR;
let dirs: string[] = [];
let emu: ControlPlaneEmulator;
let emu2: ControlPlaneEmulator;

function host(machineId: string, e: ControlPlaneEmulator = emu): FakeHost {
  const h = new FakeHost();
  h.setFile('/etc/machine-id', `${machineId}\n`);
  h.setFile('/etc/castai-edge-initd/ca.pem', `${emu.caPem}\n${emu2.caPem}`);
  void e;
  return h;
}

function config(e: ControlPlaneEmulator, bootstrapToken?: string): AgentConfig {
  return {
    apiUrl: e.apiUrl,
    orgId: e.orgId,
    clusterId: e.clusterId,
    edgeLocationId: e.locationId,
    ...(bootstrapToken ? { bootstrapToken } : {}),
    caFile: '/etc/castai-edge-initd/ca.pem',
    stateDir: STATE,
    wireguardInterface: DEFAULT_WIREGUARD_INTERFACE,
    labels: { env: 'prod' },
    taints: [],
    proxy: {},
    logLevel: 'info',
    sources: {},
    warnings: [],
  };
}

const mid = (s: string) => createHash('md5').update(s).digest('hex');
const fp = (v: string) => createHash('sha256').update(v).digest('hex').slice(0, 8);
type Lines = string[];
const logger = (lines: Lines) => createLogger({ pretty: false, write: (l) => void lines.push(l) });
const warns = (lines: Lines) => lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40).map((l) => l.msg);

async function registered(machineId: string): Promise<{ h: FakeHost; ctx: StepContext; reg: RegisterResponse; lines: Lines }> {
  const h = host(machineId);
  const lines: Lines = [];
  const ctx = await stepContext(h, config(emu, emu.issueBootstrapToken()), logger(lines), new AbortController().signal);
  await registerStep().run(ctx);
  return { h, ctx, reg: JSON.parse(h.files.get(`${STATE}/${REGISTER_FILE}`)!.data) as RegisterResponse, lines };
}

beforeAll(async () => {
  for (const name of ['a', 'b']) dirs.push(mkdtempSync(path.join(tmpdir(), `register-proof-${name}-`)));
  emu = new ControlPlaneEmulator({ stateDir: dirs[0]! });
  emu2 = new ControlPlaneEmulator({ stateDir: dirs[1]! });
  await emu.start();
  await emu2.start();
});
afterEach(() => emu.clearFaults());
afterAll(async () => {
  await emu?.stop();
  await emu2?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

describe('removal only on proof (issue 14 item 1)', () => {
  it('nginx\'s HTML 404, an empty 404 and an EDGE_NOT_FOUND for another edge: an outage — no removal, one warning, status says so', async () => {
    const { h, ctx, reg, lines } = await registered(mid('html'));
    await registerStep().run(ctx); // a clean poll first: control plane answering
    emu.addFault({ kind: 'html-404', endpoint: 'get-edge' });
    for (let i = 0; i < 3; i++) {
      const r = await registerStep().run(ctx);
      expect(ctx.shared.edgeRemoved).toBeUndefined();
      expect(r.summary).toMatch(/control plane outage since .* \(HTTP 404 that is not the control plane's EDGE_NOT_FOUND for this edge: a body that is not JSON \(text\/html/);
      expect(r.summary).toMatch(/running on the last known desired state/);
    }
    emu.clearFaults();
    emu.addFault({ kind: 'html-404', endpoint: 'get-edge', body: '' });
    expect((await registerStep().run(ctx)).summary).toMatch(/an empty body/);
    emu.clearFaults();
    emu.addFault({ kind: 'edge-not-found', endpoint: 'get-edge', edgeId: 'some-other-edge' });
    expect((await registerStep().run(ctx)).summary).toMatch(/EDGE_NOT_FOUND for edge some-other-edge, not this edge/);
    expect(ctx.shared.edgeRemoved).toBeUndefined();
    expect(h.files.has(`${STATE}/${REMOVAL_EVIDENCE_FILE}`)).toBe(false);
    expect(JSON.parse(h.files.get(`${STATE}/${CONTROL_PLANE_FILE}`)!.data)).toMatchObject({
      state: 'outage',
      reason: expect.stringContaining('EDGE_NOT_FOUND for edge some-other-edge'),
    });
    // One warning per change of outage (HTML, empty, other edge), not one per pass; the in-call retries are quiet.
    expect(warns(lines).filter((m) => /control plane outage/.test(m))).toHaveLength(3);
    expect(warns(lines).filter((m) => /retrying in/.test(m))).toEqual([]);
    // `status` (and --json) says the node runs through an outage.
    const st = await controlPlaneStatus(ctx.store);
    expect(st.controlPlane).toMatchObject({ state: 'outage' });
    const out: string[] = [];
    printControlPlaneStatus(st, (l) => void out.push(l));
    expect(out.join('\n')).toMatch(/^control: +OUTAGE since \S+: HTTP 404 that is not the control plane's EDGE_NOT_FOUND.*running on the last known desired state; nothing is torn down/m);
    emu.clearFaults();
    await registerStep().run(ctx);
    expect(JSON.parse(h.files.get(`${STATE}/${CONTROL_PLANE_FILE}`)!.data)).toMatchObject({ state: 'ok' });
    expect(emu.edges.get(reg.edge.id)!.phase).not.toBe('DELETING');
  });

  it('the API\'s EDGE_NOT_FOUND for this edge: the first sighting is persisted and survives a restart; the second ≥ 60 s later removes', async () => {
    const { h, reg } = await registered(mid('enf'));
    const lines: Lines = [];
    emu.clearFaults();
    emu.addFault({ kind: 'edge-not-found', endpoint: 'get-edge' });
    const ctx1 = await stepContext(h, config(emu), logger(lines), new AbortController().signal);
    const r1 = await registerStep().run(ctx1);
    expect(ctx1.shared.edgeRemoved).toBeUndefined();
    expect(r1.summary).toMatch(/EDGE_NOT_FOUND\); torn down only if it says so again on a poll at least 60 s later/);
    const ev = JSON.parse(h.files.get(`${STATE}/${REMOVAL_EVIDENCE_FILE}`)!.data) as { edgeId: string; firstAt: string };
    expect(ev.edgeId).toBe(reg.edge.id);
    // A restart right away (new process state): a second sighting seconds later does not remove.
    const ctx2 = await stepContext(h, config(emu), logger(lines), new AbortController().signal);
    await registerStep().run(ctx2);
    expect(ctx2.shared.edgeRemoved).toBeUndefined();
    // As if the first sighting were 61 s ago (another process, so the wall clock measures): removal.
    h.setFile(
      `${STATE}/${REMOVAL_EVIDENCE_FILE}`,
      JSON.stringify({ ...ev, firstAt: new Date(Date.now() - 61_000).toISOString(), processId: 'an-earlier-agent' }),
      0o600,
    );
    const ctx3 = await stepContext(h, config(emu), logger(lines), new AbortController().signal);
    const r3 = await registerStep().run(ctx3);
    expect(ctx3.shared.edgeRemoved).toMatch(/EDGE_NOT_FOUND for this edge on two polls 6\d s apart/);
    expect(r3.summary).toMatch(/^edge removed: /);
    emu.clearFaults();
  });

  it('a 200 for this edge in between voids the first sighting', async () => {
    const { h, ctx } = await registered(mid('void'));
    emu.addFault({ kind: 'edge-not-found', endpoint: 'get-edge', times: 1 });
    await registerStep().run(ctx);
    expect(h.files.has(`${STATE}/${REMOVAL_EVIDENCE_FILE}`)).toBe(true);
    await registerStep().run(ctx);
    expect(h.files.has(`${STATE}/${REMOVAL_EVIDENCE_FILE}`)).toBe(false);
    expect(ctx.shared.edgeRemoved).toBeUndefined();
  });
});

describe('labels/taints the control plane has not accepted (issue 14 item 3)', () => {
  it("changed labels without a valid bootstrap token: the node keeps running, status says what is pending (from the daemon's state, not the shell's environment)", async () => {
    const { h } = await registered(mid('pending'));
    const ctx = await stepContext(
      h,
      { ...config(emu), labels: { env: 'staging' }, taints: [{ key: 'spot', effect: 'NoExecute' }] },
      logger([]),
      new AbortController().signal,
    );
    const r = await registerStep().run(ctx);
    expect(r.summary).toMatch(/re-registration pending: no INITD_BOOTSTRAP_TOKEN; labels\/taints change pending: the Node keeps labels env=prod,nodeID=/);
    const st = await controlPlaneStatus(ctx.store);
    expect(st.nodeLabels).toMatchObject({
      labels: { env: 'prod' },
      taints: [],
      pending: { labels: { env: 'staging' }, taints: [{ key: 'spot', effect: 'NoExecute' }], reason: 'no INITD_BOOTSTRAP_TOKEN' },
    });
    const out: string[] = [];
    printControlPlaneStatus(st, (l) => void out.push(l));
    expect(out.join('\n')).toMatch(/^labels: +env=prod,nodeID=\S+ +\(accepted by the control plane/m);
    expect(out.join('\n')).toMatch(
      /^pending: +labels env=staging,nodeID=\S+, taints spot:NoExecute — not accepted by the control plane since \S+ \(no INITD_BOOTSTRAP_TOKEN\)/m,
    );
    // A second pass writes nothing new; an accepted re-registration clears it.
    h.calls.length = 0;
    await registerStep().run(ctx);
    expect(h.mutations().filter((c) => c.kind === 'write' && c.path.endsWith('register-meta.json'))).toEqual([]);
    const ctx2 = await stepContext(h, { ...ctx.cfg, bootstrapToken: emu.issueBootstrapToken() }, logger([]), new AbortController().signal);
    await registerStep().run(ctx2);
    expect((await controlPlaneStatus(ctx2.store)).nodeLabels).toMatchObject({ labels: { env: 'staging' }, pending: null });
  });
});

describe('register.json is bound to API URL, org, cluster and edge location (issue 14 item 1)', () => {
  it('another control plane, node never joined: registers afresh there; the old edge token never goes to the new URL, the old control plane is not asked', async () => {
    const { h, reg } = await registered(mid('bind-fresh'));
    const before = emu.requests.length;
    const lines: Lines = [];
    const ctx = await stepContext(h, config(emu2, emu2.issueBootstrapToken()), logger(lines), new AbortController().signal);
    expect(ctx.shared.registration).toBeUndefined(); // never loaded for another control plane
    const r = await registerStep().run(ctx);
    expect(r.summary).toMatch(/^registered: edge cast-/);
    const now = JSON.parse(h.files.get(`${STATE}/${REGISTER_FILE}`)!.data) as RegisterResponse;
    expect(now.edge.id).not.toBe(reg.edge.id);
    expect(emu2.edges.has(now.edge.id)).toBe(true);
    expect(emu.requests.length).toBe(before); // the old control plane was not asked about the old edge
    expect(emu2.requests.map((q) => q.credentialFingerprint)).not.toContain(fp(reg.edgeToken));
    expect(emu2.requests.map((q) => q.endpoint)).not.toContain('get-edge');
    expect(warns(lines).join('\n')).toMatch(new RegExp(`old edge ${reg.edge.id} stays on the old control plane`));
    const meta = JSON.parse(h.files.get(`${STATE}/${REGISTER_META_FILE}`)!.data) as { binding: { apiUrl: string } };
    expect(meta.binding.apiUrl).toBe(emu2.apiUrl);
  });

  it('another control plane while joined to the first one\'s cluster: refused, nothing changed, neither control plane contacted', async () => {
    const { h } = await registered(mid('bind-joined'));
    h.setFile(KUBELET_CONF, 'apiVersion: v1\n', 0o600);
    const reqs = [emu.requests.length, emu2.requests.length];
    const ctx = await stepContext(h, config(emu2, emu2.issueBootstrapToken()), logger([]), new AbortController().signal);
    h.calls.length = 0;
    const e = await registerStep()
      .run(ctx)
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(AgentError);
    expect((e as AgentError).message).toMatch(/this node is joined to the cluster of .*, but the configuration now names/);
    expect((e as AgentError).remediation).toMatch(/reset --yes-really-reset/);
    expect(h.mutations()).toEqual([]);
    expect([emu.requests.length, emu2.requests.length]).toEqual(reqs);
    const plan = await registerStep().plan(ctx);
    expect(plan.error?.message).toBe((e as AgentError).message);
  });
});

describe('one identity per machine (issue 14 item 2)', () => {
  it('a second host with the same machine-id: a clear error naming the other edge, lastSeen and the fix; nothing on it changed; the first untouched', async () => {
    const machineId = mid('clone');
    const a = await registered(machineId);
    // A reports (a live node), as its daemon does every 30 s.
    const { apiClient } = await import('../../agent/reconcile/steps/api.ts');
    await (await apiClient(a.ctx)).reportStatus(a.reg.edgeToken, a.reg.edge.id, { phase: 'READY', agentVersion: '0.1.0', bootId: 'b', steps: [] });
    const lastSeen = emu.edges.get(a.reg.edge.id)!.statusReports.at(-1)!.time;
    const aBefore = JSON.stringify(emu.edges.get(a.reg.edge.id)!.request);

    // B: the whole daemon (register + the lifecycle hooks), once.
    const hb = host(machineId);
    hb.setFile('/proc/sys/kernel/random/boot_id', 'boot-b\n');
    const lines: Lines = [];
    const cfg = config(emu, emu.issueBootstrapToken());
    const hooks = lifecycleHooks({
      host: hb,
      cfg,
      log: logger(lines),
      shipper: new StartupLogShipper(),
      signal: new AbortController().signal,
      once: true,
      underSystemd: false,
    });
    const code = await runDaemon(
      { host: hb, cfg, log: logger(lines), steps: [registerStep()], once: true, afterPass: hooks.afterPass, teardown: hooks.teardown },
      new AbortController().signal,
    );
    await hooks.stopped();
    expect(code).toBe(1);
    const err = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 50 && /register: FAILED/.test(l.msg))!.msg;
    expect(err).toContain(`machine-id ${machineId} belongs to edge ${a.reg.edge.id}`);
    expect(err).toContain(`last status report ${lastSeen}`);
    expect(err).toContain('rm /etc/machine-id && systemd-machine-id-setup');
    // Nothing on B but the agent's own journal: no key, no registration.
    const ours = (c: { kind: string; path?: string }) =>
      (c.kind === 'write' && c.path === `${STATE}/${JOURNAL_FILE}`) || (c.kind === 'mkdir' && c.path === STATE);
    expect(hb.mutations(new Set(['nvidia-smi'])).filter((c) => !ours(c as { kind: string; path?: string }))).toEqual([]);
    expect(hb.files.has(`${STATE}/wireguard/private.key`)).toBe(false);
    // A's edge is untouched.
    expect(JSON.stringify(emu.edges.get(a.reg.edge.id)!.request)).toBe(aBefore);
    expect(emu.edges.get(a.reg.edge.id)!.conflicts).toHaveLength(1);
  });
});
