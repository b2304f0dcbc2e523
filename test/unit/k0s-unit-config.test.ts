/**
 * k0sworker's drop-ins (issue 14 items 5 and 6): the boot-order wait and the proxy settings in a
 * root-only EnvironmentFile, planned and applied through the k0s step's plan, removed on teardown.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { applyK0s, argsDigest, installArgs, K0S_BIN, planK0s, type K0sActual, type K0sDesired } from '../../agent/k0s/k0s.ts';
import { KUBELET_CONF } from '../../agent/k0s/paths.ts';
import { teardownK0s } from '../../agent/k0s/teardown.ts';
import {
  BOOT_MARKER,
  BOOT_ORDER_DROPIN,
  desiredUnitFiles,
  envFileQuote,
  inspectUnitFiles,
  K0S_DROPIN_DIR,
  kubeletProxyEnv,
  OWNER_MARK,
  PROXY_DROPIN,
  PROXY_ENV_FILE,
  renderBootOrderDropin,
  renderProxyEnvFile,
  type UnitFileState,
} from '../../agent/k0s/unit-config.ts';
import { parseSystemdEnvFile } from '../helpers/systemd-env-file.ts';

/** A proxy password holding %40 (a percent-encoded @), $ and #, plus every character systemd treats specially. */
const PROXY = 'http://edge:p%40ss$w0rd%23x#y@proxy.lab:3128';
const NASTY = ['p%40ss$HOME#x', 'a"b\\c`d$e\'f', '%n%%%i', '#leading', '  spaced  ', '$$', 'back\\nslash'];
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

const args = installArgs({ labels: { env: 'prod' }, taints: [], nodeIp: '100.96.0.7', hostname: 'cast-1', providerId: 'castai-omni://e-1' });

function desired(over: Partial<K0sDesired> = {}): K0sDesired {
  return {
    version: 'v1.34.10+k0s.0',
    artifact: { url: 'https://dl.example/k0s', sha256: 'ab'.repeat(32) },
    joinToken: 'unused',
    konnectivity: { host: 'cp.example', port: 8132 },
    installArgs: args,
    downloadEnv: {},
    joinTimeoutMs: 2000,
    unitFiles: desiredUnitFiles(kubeletProxyEnv({ httpsProxy: PROXY, noProxy: '10.77.0.1' }, ['10.244.0.0/16'])),
    ...over,
  };
}

function state(files: Array<{ path: string; content: string; mode: number }>, bootMarker = true): UnitFileState {
  const out: UnitFileState = { files: {}, bootMarker };
  for (const f of files) out.files[f.path] = { content: f.content, mode: f.mode };
  return out;
}

const joined = (d: K0sDesired, unitFiles: UnitFileState): K0sActual => ({
  binarySha256: d.artifact.sha256,
  unitExists: true,
  unitActive: true,
  joined: true,
  recorded: { argsDigest: argsDigest(d.installArgs, d.version), version: d.version, sha256: d.artifact.sha256, installedAt: 'x' },
  unitFiles,
});

describe('proxy settings for k0sworker (item 6)', () => {
  it('are never k0s install arguments: no -e, no proxy URL, no password in argv', () => {
    const a = installArgs({ labels: {}, taints: [], hostname: 'n', providerId: 'castai-omni://e', ...({ proxy: { httpsProxy: PROXY } } as object) });
    expect(a).not.toContain('-e');
    expect(a.join(' ')).not.toContain('proxy.lab');
  });

  it('go to a 0600 EnvironmentFile whose every value systemd reads back exactly (%40, $, #, quotes, backslashes)', () => {
    const env = kubeletProxyEnv({ httpProxy: PROXY, httpsProxy: PROXY, noProxy: 'corp.local' }, ['10.244.0.0/16', '100.96.0.1/32']);
    const text = renderProxyEnvFile(env);
    expect(parseSystemdEnvFile(text)).toEqual({
      HTTP_PROXY: PROXY,
      HTTPS_PROXY: PROXY,
      NO_PROXY: 'corp.local,10.244.0.0/16,100.96.0.1/32,.svc,.cluster.local,localhost,127.0.0.1',
    });
    for (const v of NASTY) expect(parseSystemdEnvFile(`X=${envFileQuote(v)}\n`), v).toEqual({ X: v });
    expect(text.startsWith(OWNER_MARK)).toBe(true);
    const files = desiredUnitFiles(env);
    expect(files.find((f) => f.path === PROXY_ENV_FILE)).toMatchObject({ mode: 0o600, restart: true });
    const dropin = files.find((f) => f.path === PROXY_DROPIN)!;
    expect(dropin.content).toContain(`\n[Service]\nEnvironmentFile=${PROXY_ENV_FILE}\n`);
    expect(dropin.content).not.toMatch(/^Environment=/m);
    expect(dropin.content).not.toContain('proxy.lab');
  });

  it('a NUL byte or a bad variable name cannot be rendered', () => {
    expect(() => envFileQuote('a\0b')).toThrow(/NUL/);
    expect(() => renderProxyEnvFile({ 'BAD-NAME': 'x' })).toThrow(/invalid environment variable name/);
  });

  it('without a proxy there is no proxy drop-in or env file (only the boot order)', () => {
    expect(desiredUnitFiles({}).map((f) => f.path)).toEqual([BOOT_ORDER_DROPIN]);
  });

  it.skipIf(!hasAnalyze)("systemd's own unit parser accepts both drop-ins without a warning", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'k0s-dropins-'));
    try {
      const unit = path.join(dir, 'k0sworker.service');
      writeFileSync(unit, '[Unit]\nDescription=test\n[Service]\nExecStart=/bin/true\n');
      mkdirp(`${unit}.d`);
      for (const f of desiredUnitFiles({ HTTPS_PROXY: PROXY })) {
        if (f.path.endsWith('.conf'))
          writeFileSync(path.join(`${unit}.d`, path.basename(f.path)), f.content.replace(PROXY_ENV_FILE, path.join(dir, 'proxy.env')));
      }
      writeFileSync(path.join(dir, 'proxy.env'), renderProxyEnvFile({ HTTPS_PROXY: PROXY }));
      const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      expect(v.stderr.split('\n').filter((l) => l && !/Failed to prepare filename|Cannot add dependency job|k0sworker\.service: Failed to create/.test(l))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function mkdirp(p: string) {
  spawnSync('mkdir', ['-p', p]);
}

describe('boot order (item 5)', () => {
  const dropin = renderBootOrderDropin();

  it('k0sworker waits for the agent only through a bounded, failure-tolerant ExecStartPre; nothing orders it after the agent unit', () => {
    expect(dropin).toMatch(/^\[Service\]\nExecStartPre=-\/usr\/bin\/timeout 300 \/bin\/sh -c "/m);
    expect(dropin).not.toMatch(/^(After|Requires|BindsTo|Requisite|Wants)=/m);
    expect(dropin).not.toContain('castai-edge-initd.service');
    expect(dropin).not.toMatch(/[$%]/); // systemd would expand $ and % specifiers in an Exec line
  });

  /** Run the drop-in's ExecStartPre as systemd would (its quoting is plain: one "…" argument). */
  function runWait(o: { marker: string; agentBin: string; waitSec: number }): { ms: number; status: number | null } {
    const text = renderBootOrderDropin(o);
    const line = /^ExecStartPre=-(.*)$/m.exec(text)![1]!;
    const m = /^(\S+) (\d+) (\S+) -c "(.*)"$/.exec(line)!;
    const t0 = Date.now();
    const r = spawnSync(m[1]!, [m[2]!, m[3]!, '-c', m[4]!], { timeout: 20_000 });
    return { ms: Date.now() - t0, status: r.status };
  }

  it('returns at once when the agent already marked this boot, and when the agent is not installed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'boot-wait-'));
    try {
      const marker = path.join(dir, 'marker');
      const agentBin = path.join(dir, 'agent');
      writeFileSync(agentBin, '#!/bin/sh\n', { mode: 0o755 });
      writeFileSync(marker, 'boot\n');
      expect(runWait({ marker, agentBin, waitSec: 30 }).ms).toBeLessThan(5000);
      rmSync(marker);
      rmSync(agentBin);
      const noAgent = runWait({ marker, agentBin, waitSec: 30 });
      expect(noAgent.status).toBe(0);
      expect(noAgent.ms).toBeLessThan(5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stuck or broken agent (no marker ever) delays k0sworker by the bound, then the wait gives up (and "-" ignores that)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'boot-wait-'));
    try {
      const agentBin = path.join(dir, 'agent');
      writeFileSync(agentBin, '#!/bin/sh\n', { mode: 0o755 });
      const r = runWait({ marker: path.join(dir, 'never'), agentBin, waitSec: 1 });
      expect(r.status).toBe(124); // timeout(1): the ExecStartPre failed, which "-" tells systemd to ignore
      expect(r.ms).toBeGreaterThanOrEqual(900);
      expect(r.ms).toBeLessThan(10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the marker is written at the start of the k0s step, i.e. after storage, gpu and wireguard succeeded in this pass', () => {
    const d = desired();
    const kinds = planK0s(d, { unitExists: false, unitActive: false, joined: false, unitFiles: state([], false) }).map((a) => a.kind);
    // Before a first join the token and control plane are checked first, so a refusal changes nothing.
    expect(kinds.slice(0, 3)).toEqual(['k0s.verify-join', 'k0s.boot-ready', 'k0s.write-config']);
    expect(kinds.indexOf('k0s.write-config')).toBeLessThan(kinds.indexOf('k0s.install'));
    expect(kinds.indexOf('k0s.write-config')).toBeLessThan(kinds.indexOf('k0s.start'));
    // After a reboot: k0sworker is waiting in its ExecStartPre (activating), the agent marks the boot and starts it.
    const rebooted = planK0s(d, {
      ...joined(d, state(desiredUnitFiles(kubeletProxyEnv({ httpsProxy: PROXY, noProxy: '10.77.0.1' }, ['10.244.0.0/16'])))),
      unitActive: false,
      unitFiles: { ...state(d.unitFiles!), bootMarker: false },
    });
    expect(rebooted.map((a) => a.kind)).toEqual(['k0s.boot-ready', 'k0s.start']);
  });
});

describe('the k0s plan and apply with our drop-ins', () => {
  it('steady state: nothing to do, no write', () => {
    const d = desired();
    expect(planK0s(d, joined(d, state(d.unitFiles!)))).toEqual([]);
  });

  it('a changed proxy rewrites the env file and restarts k0sworker (the environment is read at exec)', () => {
    const d = desired();
    const old = desiredUnitFiles(kubeletProxyEnv({ httpsProxy: 'http://old:3128' }, ['10.244.0.0/16']));
    const plan = planK0s(d, joined(d, state(old)));
    expect(plan.map((a) => a.kind)).toEqual(['k0s.write-config', 'k0s.restart']);
    expect(plan[0]!.paths).toEqual([PROXY_ENV_FILE]);
    expect(JSON.stringify(plan)).not.toContain('p%40ss'); // the plan shows paths, never values
  });

  it('a removed proxy removes our files and restarts; adding the boot-order drop-in to a running node only reloads', () => {
    const d = desired({ unitFiles: desiredUnitFiles({}) });
    const withProxy = desiredUnitFiles({ HTTPS_PROXY: PROXY });
    expect(planK0s(d, joined(d, state(withProxy))).map((a) => [a.kind, a.paths])).toEqual([
      ['k0s.remove-config', [PROXY_DROPIN, PROXY_ENV_FILE]],
      ['k0s.restart', undefined],
    ]);
    expect(planK0s(d, joined(d, state([]))).map((a) => a.kind)).toEqual(['k0s.write-config', 'k0s.daemon-reload']);
  });

  it("refuses to overwrite or remove a same-named file that is not ours", () => {
    const d = desired();
    const foreign = state([{ path: PROXY_DROPIN, content: '[Service]\nEnvironment=HTTPS_PROXY=http://theirs\n', mode: 0o644 }]);
    expect(() => planK0s(d, joined(d, foreign))).toThrow(/10-castai-edge-initd-proxy\.conf exists and was not written by castai-edge-initd/);
  });

  it('apply writes exactly the planned files with their modes, then reloads and restarts; no value in argv', async () => {
    const d = desired();
    const h = new FakeHost();
    h.onExec('systemctl', {});
    const plan = planK0s(d, joined(d, await inspectUnitFiles(h)));
    await applyK0s(h, d, plan, { writeRecorded: async () => {}, bootId: 'boot-42' });
    expect(h.files.get(BOOT_MARKER)).toEqual({ data: 'boot-42\n', mode: 0o644 });
    expect(h.files.get(PROXY_ENV_FILE)?.mode).toBe(0o600);
    expect(parseSystemdEnvFile(h.files.get(PROXY_ENV_FILE)!.data).HTTPS_PROXY).toBe(PROXY);
    expect(h.files.get(PROXY_DROPIN)?.mode).toBe(0o644);
    expect(h.files.get(BOOT_ORDER_DROPIN)?.mode).toBe(0o644);
    expect(h.execLines()).toEqual(['systemctl daemon-reload', 'systemctl restart k0sworker.service']);
    for (const c of h.calls) if (c.kind === 'exec') expect(JSON.stringify(c)).not.toContain('p%40ss');
    // and the next pass is a no-op
    expect(planK0s(d, joined(d, await inspectUnitFiles(h)))).toEqual([]);
  });

  it('teardown removes our drop-ins, env file and marker (and the empty drop-in dir), never a file that is not ours', async () => {
    const h = new FakeHost();
    h.onExec('systemctl', {});
    h.onExec(K0S_BIN, {});
    for (const f of desiredUnitFiles({ HTTPS_PROXY: PROXY })) h.setFile(f.path, f.content, f.mode);
    h.setFile(BOOT_MARKER, 'b\n');
    const steps = await teardownK0s(h);
    expect([...h.files.keys()].filter((k) => k.startsWith(K0S_DROPIN_DIR) || k === PROXY_ENV_FILE || k === BOOT_MARKER)).toEqual([]);
    expect(steps.map((s) => s.what)).toContain('systemctl daemon-reload');
    const h2 = new FakeHost();
    h2.onExec('systemctl', {});
    h2.setFile(`${K0S_DROPIN_DIR}/10-castai-edge-initd-proxy.conf`, '[Service]\n# theirs\n');
    await teardownK0s(h2);
    expect(h2.files.has(`${K0S_DROPIN_DIR}/10-castai-edge-initd-proxy.conf`)).toBe(true);
  });
});

describe('joined means Ready: a first join waits for the Node (item 4)', () => {
  it('plans k0s.wait-ready after kubelet.conf, and apply waits through NotFound and NotReady until Ready', async () => {
    const d = desired({ nodeName: 'cast-1', unitFiles: undefined });
    const kinds = planK0s(d, { unitExists: true, unitActive: true, joined: false, binarySha256: d.artifact.sha256 }).map((a) => a.kind);
    expect(kinds.slice(-3)).toEqual(['k0s.wait-joined', 'k0s.wait-ready', 'k0s.record']);
    const readings = [
      { node: 'cast-1', ready: 'NotFound' as const, checkedAt: 't1' },
      { node: 'cast-1', ready: 'False' as const, reason: 'KubeletNotReady', checkedAt: 't2' },
      { node: 'cast-1', ready: 'True' as const, checkedAt: 't3' },
    ];
    const seen: string[] = [];
    const h = new FakeHost().setFile(KUBELET_CONF, 'x');
    await applyK0s(h, d, [{ kind: 'k0s.wait-ready', description: '', reason: '' }], {
      writeRecorded: async () => {},
      readNode: async () => readings.shift()!,
      onNodeReading: (r) => seen.push(r.ready),
      sleep: async () => {},
    });
    expect(seen).toEqual(['NotFound', 'False', 'True']);
  });

  it('a Node that never gets Ready fails the step with its last reason and the fix', async () => {
    const d = desired({ nodeName: 'cast-1', readyTimeoutMs: 0 });
    const r = applyK0s(new FakeHost(), d, [{ kind: 'k0s.wait-ready', description: '', reason: '' }], {
      writeRecorded: async () => {},
      readNode: async () => ({ node: 'cast-1', ready: 'False', reason: 'KubeletNotReady', message: 'container runtime network not ready', checkedAt: 't' }),
      sleep: async () => {},
    });
    await expect(r).rejects.toThrow(/Node cast-1 is not Ready after 0 s: it is NotReady \(KubeletNotReady: container runtime network not ready\)/);
  });
});
