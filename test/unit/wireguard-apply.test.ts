import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { AgentError } from '../../agent/errors.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { applyWireguard, wireguardDown } from '../../agent/wireguard/apply.ts';
import { reresolveEndpoints, statusFromDump, wireguardStatus } from '../../agent/wireguard/health.ts';
import { DEFAULT_IFACE, previewWireguard, reconcileWireguard } from '../../agent/wireguard/index.ts';
import { keyPaths } from '../../agent/wireguard/keys.ts';
import { ownerRecordPath } from '../../agent/wireguard/owner.ts';
import { normalizeSpec } from '../../agent/wireguard/spec.ts';
import { ipBatchScript } from '../../agent/wireguard/inspect.ts';
import { parseDump } from '../../agent/wireguard/parse.ts';
import { wireguardStep } from '../../agent/reconcile/steps/wireguard.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { StateStore } from '../../agent/state/store.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const fx = (name: string) => readFileSync(new URL(`../fixtures/wg/${name}`, import.meta.url), 'utf8');
const GW = 'MZFCNlaYRHY5Ti6BPHDDzV31QTclzggCTIiKWav0PW8='; // the gateway key in the fixtures
const STATE = DEFAULT_STATE_DIR;
/** The agent's interface name (tests of the real captures below configure `wg0`, the name they were captured with). */
const IF = DEFAULT_IFACE;
const BOOT = '0f6a0a53-7a3c-4a77-9d2e-5b1f2f7c0c11';
const silent = () => {
  const lines: string[] = [];
  return { lines, logger: createLogger({ write: (l) => lines.push(l), pretty: false, level: 'debug' }) };
};
const spec = (endpoint = 'gw.example:51840') => ({
  address: '100.96.0.7/32',
  listenPort: 51840,
  mtu: 1380,
  peers: [{ publicKey: GW, endpoint, allowedIPs: ['100.96.0.1/32', '10.244.0.0/16'], persistentKeepalive: 25 }],
});

/**
 * A FakeHost where the agent's interface (IF) does not exist yet and the kernel has no WireGuard.
 * Like the kernel, creating the interface makes /sys/class/net/<if>/ifindex appear.
 */
function freshHost(opts: { wireguardGo: boolean }) {
  const host = new FakeHost();
  host.dns.set('gw.example', ['10.203.0.2']);
  host.onExec('ip', {});
  host.onExec('wg', {});
  host.onExec('ip -j -d -batch -', { exitCode: 1, stderr: fx('ip-batch-missing.stderr').replace('nonexist', IF) });
  host.onExec(`ip link add dev ${IF} type wireguard`, { exitCode: 2, stderr: fx('ip-link-add-no-kernel-module.stderr') });
  if (opts.wireguardGo) host.onExec(`wireguard-go ${IF}`, () => created(host));
  return host;
}

/** What the kernel shows once the interface exists. */
function created(host: FakeHost) {
  host.setFile(`/sys/class/net/${IF}/ifindex`, '4\n', 0o444);
  return {};
}

describe('reconcile on a fresh host (FakeHost)', () => {
  it('kernel without WireGuard → wireguard-go fallback; exact command sequence; key only as a 0600 file path', async () => {
    const host = freshHost({ wireguardGo: true });
    const { lines, logger } = silent();
    const r = await reconcileWireguard(host, spec(), { stateDir: STATE, logger });
    const key = host.files.get(keyPaths(STATE).file)!;
    expect(key.mode).toBe(0o600);
    expect(host.execLines()).toEqual([
      'ip -j -d -batch -',
      `ip link add dev ${IF} type wireguard`,
      `wireguard-go ${IF}`,
      `ip -j link show dev ${IF}`, // wait for the TUN device
      `wg set ${IF} private-key ${STATE}/wireguard/private.key`,
      `wg set ${IF} listen-port 51840`,
      `wg set ${IF} peer ${GW} endpoint 10.203.0.2:51840 persistent-keepalive 25 allowed-ips 10.244.0.0/16,100.96.0.1/32`,
      `ip addr replace 100.96.0.7/32 dev ${IF}`,
      `ip link set dev ${IF} mtu 1380`,
      `ip link set dev ${IF} up`,
      `ip -4 route replace 10.244.0.0/16 dev ${IF}`,
      `ip -4 route replace 100.96.0.1/32 dev ${IF}`,
    ]);
    const wgGo = host.calls.find((c) => c.kind === 'exec' && c.cmd === 'wireguard-go');
    expect(wgGo).toMatchObject({ env: { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } });
    // The private key appears in no argv, no env, no stdin, no log line.
    const secret = key.data.trim();
    expect(JSON.stringify(host.calls.filter((c) => c.kind === 'exec'))).not.toContain(secret);
    expect(lines.join('')).not.toContain(secret);
    expect(lines.join('')).toMatch(/falling back to wireguard-go/);
    expect(r.actions).toHaveLength(9);
  });

  it('under systemd, wireguard-go runs in its own transient unit (survives agent restarts)', async () => {
    const host = freshHost({ wireguardGo: false });
    host.dirs.set('/run/systemd/system', 0o755);
    host.onExec('systemctl', { exitCode: 1, stderr: 'Unit not loaded.' });
    host.onExec('sh -c command -v wireguard-go', { stdout: '/usr/bin/wireguard-go\n' });
    host.onExec('systemd-run', () => created(host));
    const { lines, logger } = silent();
    await reconcileWireguard(host, spec(), { stateDir: STATE, logger });
    expect(host.execLines().slice(1, 6)).toEqual([
      `ip link add dev ${IF} type wireguard`,
      `systemctl reset-failed castai-edge-initd-wireguard-go-${IF}.service`,
      'sh -c command -v wireguard-go',
      `systemd-run --unit castai-edge-initd-wireguard-go-${IF}.service --description WireGuard ${IF} (wireguard-go, started by castai-edge-initd) --collect --setenv WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 /usr/bin/wireguard-go -f ${IF}`,
      `ip -j link show dev ${IF}`,
    ]);
    expect(lines.join('')).toMatch(new RegExp(`wireguard-go runs in castai-edge-initd-wireguard-go-${IF}.service`));
    // under systemd but wireguard-go missing → the same package hint
    const h2 = freshHost({ wireguardGo: false });
    h2.dirs.set('/run/systemd/system', 0o755);
    h2.onExec('systemctl', {});
    h2.onExec('sh', { exitCode: 1 });
    await expect(reconcileWireguard(h2, spec(), { stateDir: STATE, logger: silent().logger })).rejects.toMatchObject({ remediation: expect.stringMatching(/apt-get install -y wireguard-go/) });
  });

  it('wireguard-go starts but no interface appears → clear error', async () => {
    const host = freshHost({ wireguardGo: true });
    host.onExec(`ip -j link show dev ${IF}`, { exitCode: 1, stderr: `Device "${IF}" does not exist.` });
    const t0 = Date.now();
    await expect(reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent().logger })).rejects.toThrow(/did not appear within 5 s/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
  }, 10_000);

  it('no kernel module and no wireguard-go → fails naming the Debian package', async () => {
    const host = freshHost({ wireguardGo: false });
    const e = (await reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent().logger }).catch((x: unknown) => x)) as AgentError;
    expect(e).toBeInstanceOf(AgentError);
    expect(e.message).toMatch(/no WireGuard .*Unknown device type.*wireguard-go is not installed/);
    expect(e.remediation).toMatch(/^install the userspace implementation: apt-get install -y wireguard-go/);
  });

  it('wg missing → names wireguard-tools', async () => {
    const host = freshHost({ wireguardGo: true });
    host.onExec('wg', { exitCode: 127, notFound: true });
    await expect(reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent().logger })).rejects.toMatchObject({
      remediation: expect.stringContaining('apt-get install -y wireguard-tools'),
    });
  });

  it('kernel WireGuard: "ip link add" succeeds, no wireguard-go; plan-only (previewWireguard) writes nothing, not even the key', async () => {
    const host = freshHost({ wireguardGo: true });
    host.onExec(`ip link add dev ${IF} type wireguard`, () => created(host));
    await reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent().logger });
    expect(host.execLines()).not.toContain(`wireguard-go ${IF}`);
    const dry = freshHost({ wireguardGo: true });
    const r = await previewWireguard(dry, spec(), { stateDir: STATE, logger: silent().logger });
    expect(r.actions.map((a) => a.kind)).toContain('wireguard.key.set');
    expect(dry.execLines()).toEqual(['ip -j -d -batch -']);
    expect(dry.mutations(new Set(['ip']))).toEqual([]); // not even the key file is written by a dry run
  });

  it('bad spec → ConfigError before anything happens', async () => {
    const host = freshHost({ wireguardGo: true });
    await expect(reconcileWireguard(host, { ...spec(), mtu: 50 }, { stateDir: STATE })).rejects.toThrow(/wireguard.mtu/);
    expect(host.calls).toEqual([]);
  });
});

/**
 * A FakeHost whose wg0 matches spec() (the real wireguard-go fixtures, the key file matching), and
 * where the agent recorded wg0 as its own in this boot (the agent is configured with `wg0`, the
 * name the fixtures were captured with).
 */
function configuredHost() {
  const host = new FakeHost();
  host.dns.set('gw.example', ['10.203.0.2']);
  // The fixture's node key: make the stored key file match the interface's public key.
  // (public lfBV… belongs to a throwaway key; we fake the key file by pointing at a known vector instead.)
  const vectors = JSON.parse(fx('key-vectors.json')) as { vectors: Array<{ privateKey: string; wgPubkey: string }> };
  const v = vectors.vectors[0]!;
  host.dirs.set(`${STATE}/wireguard`, 0o700);
  host.setFile(keyPaths(STATE).file, `${v.privateKey}\n`, 0o600);
  host.setFile('/proc/sys/kernel/random/boot_id', `${BOOT}\n`, 0o444);
  host.setFile(ownerRecordPath(STATE), JSON.stringify({ iface: 'wg0', publicKey: v.wgPubkey, bootId: BOOT, ifindex: 2 }), 0o600);
  host
    // one read-only batch; any other script would be a bug (the fake answers only this one)
    .onExec('ip -j -d -batch -', (_args, o) =>
      o.stdin === ipBatchScript('wg0') ? { stdout: fx('ip-batch-wireguard-go.txt') } : { exitCode: 1, stderr: `unexpected ip batch: ${String(o.stdin)}` },
    )
    .onExec('wg show wg0 dump', { stdout: configuredDump() });
  return host;
}

/** The real dump with the public key of the key file configuredHost stores. */
function configuredDump(): string {
  const vectors = JSON.parse(fx('key-vectors.json')) as { vectors: Array<{ privateKey: string; wgPubkey: string }> };
  return fx('dump-agent-wireguard-go.txt').replace('lfBVKISe74iRr/LWhfHo8bkbdff+z/iyO6yfzLa/vi8=', vectors.vectors[0]!.wgPubkey);
}

describe('reconcile on a configured host: equal → nothing touched', () => {
  it('re-run with the state from the real fixtures is a no-op', async () => {
    const host = configuredHost();
    const r = await reconcileWireguard(host, spec(), { stateDir: STATE, iface: 'wg0', logger: silent().logger });
    expect(r.actions).toEqual([]);
    expect(host.mutations(new Set(['ip', 'wg']))).toEqual([]);
    expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show wg0 dump']); // the batch answers only its read-only script
  });

  it('the steady-state step reads the interface once: one ip batch and one wg dump, no second dump', async () => {
    const host = configuredHost();
    const { logger } = silent();
    const ctx = {
      host,
      cfg: { stateDir: STATE },
      store: new StateStore(host, STATE),
      log: logger,
      signal: new AbortController().signal,
      shared: { extraLabels: {}, registration: { wireguard: spec() } },
    } as unknown as StepContext;
    const r = await wireguardStep('wg0').run(ctx);
    expect(r.changed).toBe(false);
    expect(r.summary).toMatch(/^wg0 up, handshake \d+s ago$/);
    expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show wg0 dump']);
  });

  it('when sysfs shows the interface, both reads start together (one wave of two processes)', async () => {
    /** Whether the batch had answered when `wg show` started: the wave is proven by the order of events, not by timing. */
    const run = async (sysfs: boolean) => {
      const host = configuredHost();
      if (sysfs) host.dirs.set('/sys/class/net/wg0', 0o755);
      let ipAnswered = false;
      let dumpStartedAfterIp: boolean | undefined;
      host.onExec('ip -j -d -batch -', async () => {
        await new Promise((r) => setTimeout(r, 20));
        ipAnswered = true;
        return { stdout: fx('ip-batch-wireguard-go.txt') };
      });
      const dump = configuredDump();
      host.onExec('wg show wg0 dump', () => {
        dumpStartedAfterIp = ipAnswered;
        return { stdout: dump };
      });
      const r = await reconcileWireguard(host, spec(), { stateDir: STATE, iface: 'wg0', logger: silent().logger });
      expect(r.actions).toEqual([]);
      expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show wg0 dump']);
      return dumpStartedAfterIp;
    };
    expect(await run(true)).toBe(false); // steady state: one wave
    expect(await run(false)).toBe(true); // unknown interface: the dump waits until ip proved it ours
  });
});

describe('apply details', () => {
  it('idempotent tolerances: addr del / route del of things already gone', async () => {
    const host = new FakeHost()
      .onExec('ip addr del', { exitCode: 2, stderr: 'RTNETLINK answers: Cannot assign requested address\n' })
      .onExec('ip -4 route del', { exitCode: 2, stderr: 'RTNETLINK answers: No such process\n' });
    await applyWireguard(
      host,
      [
        { kind: 'wireguard.addr.del', iface: 'wg0', data: { cidr: '100.96.0.9/32' }, description: 'd', reason: 'r' },
        { kind: 'wireguard.route.del', iface: 'wg0', data: { dst: '10.9.0.0/16' }, description: 'd', reason: 'r' },
      ],
      silent().logger,
    );
    expect(host.execLines()).toEqual(['ip addr del 100.96.0.9/32 dev wg0', 'ip -4 route del 10.9.0.0/16 dev wg0']);
  });

  it('a real failure stops with the command and stderr', async () => {
    const host = new FakeHost().onExec('wg', { exitCode: 1, stderr: 'Unable to modify interface: Operation not permitted\n' });
    // The one command-failure format (agent/host/command-failure.ts).
    await expect(
      applyWireguard(host, [{ kind: 'wireguard.listenport.set', iface: 'wg0', data: { port: 51840 }, description: 'd', reason: 'r' }], silent().logger),
    ).rejects.toThrow('wireguard: wg0: `wg set wg0 listen-port 51840` failed (exit 1: Unable to modify interface: Operation not permitted)');
  });

  it('IPv6 routes use ip -6; keepalive 0 is "off"; empty allowed IPs clears them', async () => {
    const host = new FakeHost().onExec('ip', {}).onExec('wg', {});
    await applyWireguard(
      host,
      [
        { kind: 'wireguard.route.replace', iface: 'wg0', data: { dst: 'fd00::/64' }, description: 'd', reason: 'r' },
        { kind: 'wireguard.peer.set', iface: 'wg0', data: { publicKey: GW, persistentKeepalive: 0, allowedIPs: [] }, description: 'd', reason: 'r' },
      ],
      silent().logger,
    );
    expect(host.execLines()).toEqual(['ip -6 route replace fd00::/64 dev wg0', `wg set wg0 peer ${GW} persistent-keepalive off allowed-ips `]);
  });

  it('wireguardDown deletes our interface and its record, and is idempotent', async () => {
    const host = configuredHost().onExec('ip link del dev wg0', {});
    expect(await wireguardDown(host, { iface: 'wg0', stateDir: STATE }, silent().logger)).toEqual({ removed: ['wg0'], leftAlone: [] });
    expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show wg0 dump', 'ip link del dev wg0']);
    expect(host.files.has(ownerRecordPath(STATE))).toBe(false);
    const gone = new FakeHost().onExec('ip -j -d -batch -', { exitCode: 1, stderr: fx('ip-batch-missing.stderr').replace('nonexist', 'wg0') });
    expect(await wireguardDown(gone, { iface: 'wg0', stateDir: STATE }, silent().logger)).toEqual({ removed: [], leftAlone: [] });
    expect(gone.execLines()).toEqual(['ip -j -d -batch -']);
  });
});

describe('health: status and re-resolve', () => {
  const NOW = 1795295955 + 200; // 200 s after the fixture's handshake

  it('status from the real dump', async () => {
    const host = new FakeHost().onExec('wg show wg0 dump', { stdout: fx('dump-agent-wireguard-go.txt') });
    expect(await wireguardStatus(host, 'wg0', NOW)).toEqual({ latestHandshakeSeconds: 200, rxBytes: 604, txBytes: 840 });
    expect(statusFromDump(parseDump(fx('dump-fresh-wireguard-go.txt')), NOW)).toEqual({ latestHandshakeSeconds: null, rxBytes: 0, txBytes: 0 });
    expect(await wireguardStatus(new FakeHost(), 'wg0', NOW)).toBeUndefined();
  });

  const dumpHost = () => new FakeHost().onExec('wg', {}).onExec('wg show wg0 dump', { stdout: fx('dump-agent-wireguard-go.txt') });

  it('stale handshake + hostname moved → wg set endpoint only', async () => {
    const host = dumpHost();
    host.dns.set('gw.example', ['10.203.0.9']);
    const r = await reresolveEndpoints(host, 'wg0', normalizeSpec(spec()), NOW, silent().logger);
    expect(r).toEqual([{ publicKey: GW, host: 'gw.example', handshakeAgeSeconds: 200, outcome: 'updated', endpoint: '10.203.0.9:51840' }]);
    expect(host.execLines()).toEqual(['wg show wg0 dump', `wg set wg0 peer ${GW} endpoint 10.203.0.9:51840`]);
  });

  it('stale handshake + same IP (among several) → nothing set', async () => {
    const host = dumpHost();
    host.dns.set('gw.example', ['10.203.0.9', '10.203.0.2']);
    const r = await reresolveEndpoints(host, 'wg0', normalizeSpec(spec()), NOW, silent().logger);
    expect(r[0]!.outcome).toBe('unchanged');
    expect(host.execLines()).toEqual(['wg show wg0 dump']);
  });

  it('fresh handshake (≤ 135 s) → not even resolved; IP endpoints never re-resolved; DNS failure keeps the endpoint', async () => {
    const host = dumpHost();
    host.dns.set('gw.example', ['10.203.0.9']);
    const r = await reresolveEndpoints(host, 'wg0', normalizeSpec(spec()), 1795295955 + 135, silent().logger);
    expect(r[0]!.outcome).toBe('fresh');
    expect(host.calls.filter((c) => c.kind === 'resolve')).toEqual([]);

    const h2 = dumpHost();
    expect(await reresolveEndpoints(h2, 'wg0', normalizeSpec(spec('10.203.0.9:51840')), NOW, silent().logger)).toEqual([]);
    expect(h2.execLines()).toEqual(['wg show wg0 dump']);

    const h3 = dumpHost();
    const { lines, logger } = silent();
    const r3 = await reresolveEndpoints(h3, 'wg0', normalizeSpec(spec()), NOW, logger);
    expect(r3[0]).toMatchObject({ outcome: 'unresolvable', error: 'ENOTFOUND' });
    expect(h3.execLines()).toEqual(['wg show wg0 dump']);
    expect(lines.join('')).toMatch(/cannot re-resolve WireGuard endpoint gw.example; keeping 10.203.0.2:51840/);
  });
});
