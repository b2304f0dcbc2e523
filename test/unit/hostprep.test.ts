import { describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { MODULES_LOAD_FILE, SYSCTL_FILE } from '../../agent/k0s/hostprep.ts';
import { removeOwnedFiles } from '../../agent/k0s/owned-files.ts';
import { DEFAULT_STATE_DIR, OWNED_FILES_STATE } from '../../agent/state/files.ts';
import { applyPrereqs, planPrereqs as planOrRefuse, type PrereqContext } from '../../agent/k0s/prereqs.ts';
import { orThrow } from '../helpers/outcome.ts';
import { createLogger } from '../../agent/log/logger.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { k0sStep } from '../../agent/reconcile/steps/k0s.ts';
import { StateStore } from '../../agent/state/store.ts';

const planPrereqs = async (c: PrereqContext) => orThrow(await planOrRefuse(c));

/** Issue 18 item 4: prepare the host, don't only warn (docs/decisions/0183). */
const STATE = DEFAULT_STATE_DIR;

function freshHost(): FakeHost {
  const h = new FakeHost();
  for (const d of ['/etc', '/etc/modules-load.d', '/etc/sysctl.d', STATE]) h.dirs.set(d, 0o755);
  h.setFile('/proc/sys/net/ipv4/ip_forward', '0\n');
  h.setFile('/proc/sys/net/ipv6/conf/all/forwarding', '0\n');
  h.onExec('modprobe', { exitCode: 0 });
  h.onExec('sysctl', { exitCode: 0 });
  return h;
}

function ctxFor(host: FakeHost, cfg: Record<string, unknown> = {}): StepContext {
  return {
    host,
    cfg: { stateDir: STATE, labels: {}, taints: [], proxy: {}, ...cfg },
    store: new StateStore(host, STATE),
    log: createLogger({ write: () => {}, pretty: false }),
    signal: new AbortController().signal,
    shared: { extraLabels: {} },
  } as unknown as StepContext;
}

describe('kubelet prerequisites in the k0s step', () => {
  it('plan shows each file (with its content), each module and each sysctl, and changes nothing', async () => {
    const host = freshHost();
    const p = await k0sStep().plan(ctxFor(host));
    expect(p.actions.map((a) => a.description)).toEqual([
      `write ${MODULES_LOAD_FILE} (0644): load overlay and br_netfilter at every boot (systemd-modules-load)`,
      `write ${SYSCTL_FILE} (0644): kubelet sysctls at every boot (systemd-sysctl)`,
      'modprobe overlay',
      'modprobe br_netfilter',
      'sysctl net.ipv4.ip_forward=1 (now 0)',
      'sysctl net.bridge.bridge-nf-call-iptables=1',
      'sysctl net.bridge.bridge-nf-call-ip6tables=1',
      'sysctl net.ipv6.conf.all.forwarding=1 (now 0)',
    ]);
    expect(p.lines).toEqual(
      expect.arrayContaining([
        '    overlay',
        '    br_netfilter',
        '    net.ipv4.ip_forward = 1',
        '    net.bridge.bridge-nf-call-iptables = 1',
        '    net.bridge.bridge-nf-call-ip6tables = 1',
        '    -net.ipv6.conf.all.forwarding = 1',
      ]),
    );
    expect(host.mutations(new Set(['systemctl']))).toEqual([]);
  });

  it('apply writes our two files (recorded as ours), loads the modules and sets the sysctls; then nothing to do', async () => {
    const host = freshHost();
    const ctx = ctxFor(host);
    expect(await applyPrereqs(ctx, await planPrereqs(ctx))).toBe(true);
    expect(host.files.get(MODULES_LOAD_FILE)).toMatchObject({ mode: 0o644, data: expect.stringMatching(/^# Written by castai-edge-initd[^\n]*\n# Do not edit[^\n]*\noverlay\nbr_netfilter\n$/) });
    expect(host.files.get(SYSCTL_FILE)!.data).toContain(
      'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n-net.ipv6.conf.all.forwarding = 1\n',
    );
    expect(host.execLines()).toEqual([
      'modprobe overlay',
      'modprobe br_netfilter',
      'sysctl -w net.ipv4.ip_forward=1',
      'sysctl -w net.bridge.bridge-nf-call-iptables=1',
      'sysctl -w net.bridge.bridge-nf-call-ip6tables=1',
      'sysctl -w net.ipv6.conf.all.forwarding=1',
    ]);
    const rec = JSON.parse(host.files.get(`${STATE}/${OWNED_FILES_STATE}`)!.data) as { files: Record<string, string> };
    expect(Object.keys(rec.files).sort()).toEqual([MODULES_LOAD_FILE, SYSCTL_FILE].sort());

    // The kernel now has what we set: the next pass plans nothing.
    host.dirs.set('/sys/module/overlay', 0o755);
    host.dirs.set('/sys/module/br_netfilter', 0o755);
    for (const k of ['net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables', 'net/bridge/bridge-nf-call-ip6tables', 'net/ipv6/conf/all/forwarding'])
      host.setFile(`/proc/sys/${k}`, '1\n');
    expect((await planPrereqs(ctx)).actions).toEqual([]);
  });

  it('a module that cannot be loaded fails in the one command-failure format, after our files were written and before any sysctl', async () => {
    const host = freshHost();
    const notFound = 'modprobe: FATAL: Module br_netfilter not found in directory /lib/modules/6.1.0-28-amd64\n';
    host.onExec('modprobe', (args) => (args[0] === 'br_netfilter' ? { exitCode: 1, stderr: notFound } : { exitCode: 0 }));
    const ctx = ctxFor(host);
    const e = (await applyPrereqs(ctx, await planPrereqs(ctx)).then(
      () => undefined,
      (x: unknown) => x,
    )) as AgentError;
    expect(e).toBeInstanceOf(AgentError);
    expect(e.message).toBe(
      'k0s: modprobe br_netfilter: `modprobe br_netfilter` failed (exit 1: modprobe: FATAL: Module br_netfilter not found in directory /lib/modules/6.1.0-28-amd64)',
    );
    expect(e.remediation).toMatch(/^install the kernel modules package for the running kernel/);
    expect(host.execLines()).toEqual(['modprobe overlay', 'modprobe br_netfilter']);
    expect(host.files.has(MODULES_LOAD_FILE)).toBe(true); // recorded as ours: the next pass or reset finds it
    const rec = JSON.parse(host.files.get(`${STATE}/${OWNED_FILES_STATE}`)!.data) as { files: Record<string, string> };
    expect(Object.keys(rec.files)).toContain(MODULES_LOAD_FILE);
  });

  it('a file of the same name that is not ours is refused, and nothing is changed', async () => {
    const host = freshHost();
    host.setFile(SYSCTL_FILE, 'net.ipv4.ip_forward = 0\n');
    await expect(planPrereqs(ctxFor(host))).rejects.toThrow(/\/etc\/sysctl.d\/99-castai-edge-initd.conf exists and was not written by castai-edge-initd/);
    expect(host.mutations()).toEqual([]);
  });

  it('removal (reset, uninstall, the operator’s DELETE) takes exactly our files away', async () => {
    const host = freshHost();
    host.setFile('/etc/sysctl.d/10-operator.conf', 'vm.swappiness = 1\n');
    const ctx = ctxFor(host);
    await applyPrereqs(ctx, await planPrereqs(ctx));
    expect(await removeOwnedFiles(host, new StateStore(host, STATE))).toMatch(/^removed /);
    expect(host.files.has(MODULES_LOAD_FILE)).toBe(false);
    expect(host.files.has(SYSCTL_FILE)).toBe(false);
    expect(host.files.has('/etc/sysctl.d/10-operator.conf')).toBe(true);
    expect(host.dirs.has('/etc/sysctl.d')).toBe(true); // not created by us: kept
    expect(host.files.has(`${STATE}/${OWNED_FILES_STATE}`)).toBe(false);
    expect(await removeOwnedFiles(host, new StateStore(host, STATE))).toBe('no file of ours');
  });
});
