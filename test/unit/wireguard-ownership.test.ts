/**
 * Issue 15 item 1: WireGuard touches only the interface the agent created.
 *
 * The foreign interface is a real capture (test/fixtures/wg/*-foreign-wg0-wireguard-go.txt): a
 * wg-quick-style `wg0` with its own key, one peer, 192.168.77.2/24 and a route, read with the very
 * commands the agent runs. Every test asserts what the agent ran, in order, so "changed nothing"
 * means: only the read-only `ip -j -d -batch -` and `wg show <if> dump`, no write to it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.ts';
import { AgentError, ConfigError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { wireguardStep } from '../../agent/reconcile/steps/wireguard.ts';
import type { StepContext } from '../../agent/reconcile/step.ts';
import { teardownNode } from '../../agent/reconcile/teardown.ts';
import { StateStore } from '../../agent/state/store.ts';
import { DEFAULT_IFACE, previewWireguard, reconcileWireguard } from '../../agent/wireguard/index.ts';
import { ipBatchScript } from '../../agent/wireguard/inspect.ts';
import { wireguardDown } from '../../agent/wireguard/apply.ts';
import { keyPaths } from '../../agent/wireguard/keys.ts';
import { judgeOwnership, ownerRecordPath, type OwnerRecord } from '../../agent/wireguard/owner.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const fx = (name: string) => readFileSync(new URL(`../fixtures/wg/${name}`, import.meta.url), 'utf8');
const STATE = DEFAULT_STATE_DIR;
const GW = 'MZFCNlaYRHY5Ti6BPHDDzV31QTclzggCTIiKWav0PW8=';
const FOREIGN_PUB = 'Hl00+N+Lb7XaLvC7TNXCY5xmwMBe2azb0HZbl6Pi4F4=';
const vectors = JSON.parse(fx('key-vectors.json')) as { vectors: Array<{ privateKey: string; wgPubkey: string }> };
const NODE = vectors.vectors[0]!;

const spec = () => ({
  address: '100.96.0.7/32',
  listenPort: 51840,
  mtu: 1380,
  peers: [{ publicKey: GW, endpoint: '10.203.0.2:51840', allowedIPs: ['100.96.0.1/32', '10.244.0.0/16'], persistentKeepalive: 25 }],
});
const silent = () => createLogger({ write: () => {}, pretty: false, level: 'debug' });

/**
 * A host that already runs its own `wg0` (the real capture), has the node's key (registered), and
 * where every other `ip`/`wg` command "succeeds" — so code that wrongly changes wg0 shows it in
 * `calls` instead of failing for an unscripted command.
 */
function hostWithForeignWg0(): FakeHost {
  const host = new FakeHost();
  host.dirs.set(`${STATE}/wireguard`, 0o700);
  host.setFile(keyPaths(STATE).file, `${NODE.privateKey}\n`, 0o600);
  host.dirs.set('/sys/class/net/wg0', 0o755);
  host.setFile('/sys/class/net/wg0/ifindex', '2\n', 0o444);
  host.onExec('ip', {});
  host.onExec('wg', {});
  host.onExec('ip -j -d -batch -', (_a, o) =>
    o.stdin === ipBatchScript('wg0')
      ? { stdout: fx('ip-batch-foreign-wg0-wireguard-go.txt') }
      : { exitCode: 1, stderr: `Device "${String(o.stdin).split(' ')[3]?.split('\n')[0]}" does not exist.\nCommand failed -:1\n` },
  );
  host.onExec('wg show wg0 dump', { stdout: fx('dump-foreign-wg0-wireguard-go.txt') });
  return host;
}

/** Exec lines that are not the two read-only reads of `iface`, plus every file write/remove. */
function changesTo(host: FakeHost, iface: string): string[] {
  const reads = new Set(['ip -j -d -batch -', `wg show ${iface} dump`]);
  return host.calls.flatMap((c) => {
    if (c.kind === 'exec') {
      const line = [c.cmd, ...c.args].join(' ');
      return reads.has(line) || !c.args.includes(iface) ? [] : [line];
    }
    return [];
  });
}

describe('a foreign wg0 (wg-quick style: own key, one peer, 192.168.77.2/24, a route)', () => {
  it('the default interface name is ours, not wg0, and a valid Linux name', () => {
    expect(DEFAULT_IFACE).not.toBe('wg0');
    expect(Buffer.byteLength(DEFAULT_IFACE)).toBeLessThanOrEqual(15);
    expect(DEFAULT_IFACE).toMatch(/^castai/);
  });

  it('INITD_WIREGUARD_INTERFACE=wg0 → refused with an error naming wg0, what was found and the fix; wg0 not changed', async () => {
    const host = hostWithForeignWg0();
    const e = (await reconcileWireguard(host, spec(), { stateDir: STATE, iface: 'wg0', logger: silent() }).catch((x: unknown) => x)) as AgentError;
    expect(e).toBeInstanceOf(AgentError);
    expect(e.message).toMatch(/^WireGuard interface wg0 exists and was not created by castai-edge-initd/);
    expect(e.message).toContain(FOREIGN_PUB); // what was found: its key,
    expect(e.message).toContain('ifindex 2');
    expect(e.message).toContain('1 peer');
    expect(e.message).toContain('192.168.77.2/24');
    expect(e.message).toMatch(/nothing was changed/);
    expect(e.remediation).toMatch(/INITD_WIREGUARD_INTERFACE/);
    expect(e.remediation).toContain(DEFAULT_IFACE);
    expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show wg0 dump']);
    expect(host.calls.filter((c) => c.kind !== 'exec')).toEqual([]); // no file written either
  });

  it('the reconcile step honours INITD_WIREGUARD_INTERFACE (cfg.wireguardInterface) and refuses the foreign wg0', async () => {
    const host = hostWithForeignWg0();
    const ctx = {
      host,
      cfg: { stateDir: STATE, wireguardInterface: 'wg0' },
      store: new StateStore(host, STATE),
      log: silent(),
      signal: new AbortController().signal,
      shared: { extraLabels: {}, registration: { wireguard: spec() } },
    } as unknown as StepContext;
    await expect(wireguardStep().run(ctx)).rejects.toThrow(/WireGuard interface wg0 exists and was not created by castai-edge-initd/);
    expect(changesTo(host, 'wg0')).toEqual([]);
  });

  it('with the default name the agent brings up its own interface beside wg0 and never changes wg0', async () => {
    const host = hostWithForeignWg0();
    host.onExec(`ip link add dev ${DEFAULT_IFACE} type wireguard`, () => {
      host.setFile(`/sys/class/net/${DEFAULT_IFACE}/ifindex`, '3\n', 0o444);
      return {};
    });
    const r = await reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent() });
    expect(r.actions[0]!.kind).toBe('wireguard.link.create');
    expect(r.actions.every((a) => a.iface === DEFAULT_IFACE)).toBe(true);
    expect(host.execLines()).toContain(`ip link add dev ${DEFAULT_IFACE} type wireguard`);
    expect(changesTo(host, 'wg0')).toEqual([]);
  });

  it('teardown (edge DELETE, reset) leaves a foreign interface of the configured name alone', async () => {
    const host = hostWithForeignWg0();
    const parts = await teardownNode(host, silent(), { stateDir: STATE, removeVolumeGroup: false, wireguardInterface: 'wg0' });
    expect(host.execLines()).not.toContain('ip link del dev wg0');
    expect(changesTo(host, 'wg0')).toEqual([]);
    expect(parts.find((p) => p.what === 'wireguard')).toMatchObject({ ok: true, detail: expect.stringMatching(/^wg0 left alone: not created by castai-edge-initd/) });
  });

  it('teardown with the default name does not touch wg0 either', async () => {
    const host = hostWithForeignWg0();
    await teardownNode(host, silent(), { stateDir: STATE, removeVolumeGroup: false });
    expect(changesTo(host, 'wg0')).toEqual([]);
  });
});

describe('INITD_WIREGUARD_INTERFACE', () => {
  it('is read (default: ours), and validated the way Linux checks a name', async () => {
    expect((await loadConfig(new FakeHost(), { env: {} })).wireguardInterface).toBe(DEFAULT_IFACE);
    const cfg = await loadConfig(new FakeHost(), { env: { INITD_WIREGUARD_INTERFACE: 'edge-tun0' } });
    expect(cfg.wireguardInterface).toBe('edge-tun0');
    expect(cfg.sources.INITD_WIREGUARD_INTERFACE).toBe('environment');
    expect(cfg.warnings).toEqual([]);
    for (const [bad, why] of [
      ['a-name-of-16-chr', /16 bytes long; Linux allows at most 15/],
      ['wg/0', /contains "\/"/],
      ['wg:0', /contains ":"/],
      ['wg 0', /contains whitespace/],
      ['.', /"\." and "\.\." are not interface names/],
      ['..', /"\." and "\.\." are not interface names/],
      ['-wg', /must not start with "-"/],
      ['wg%d', /contains "%"/],
    ] as const) {
      const e = (await loadConfig(new FakeHost(), { env: { INITD_WIREGUARD_INTERFACE: bad } }).catch((x: unknown) => x)) as ConfigError;
      expect(e, bad).toBeInstanceOf(ConfigError);
      expect(e.problems).toHaveLength(1);
      expect(e.problems[0]).toMatchObject({ variable: 'INITD_WIREGUARD_INTERFACE', item: bad });
      expect(e.problems[0]!.message, bad).toMatch(why);
      expect(e.problems[0]!.message, bad).toContain(`default ${DEFAULT_IFACE}`);
    }
  });
});

// ----------------------------------------------------------------------------------------------
// The record: what proves an interface ours across crashes, restarts and reboots.


const BOOT = '0f6a0a53-7a3c-4a77-9d2e-5b1f2f7c0c11';
const OLD_BOOT = '5d2c1e47-0b8e-4d53-a6a1-2f9d3c1b7e00';
const REC = ownerRecordPath(STATE);

/** The node (registered: key on disk) in boot BOOT, nothing else scripted but what each test adds. */
function nodeHost(record?: Partial<OwnerRecord>): FakeHost {
  const host = new FakeHost();
  host.dirs.set(`${STATE}/wireguard`, 0o700);
  host.setFile(keyPaths(STATE).file, `${NODE.privateKey}\n`, 0o600);
  host.setFile('/proc/sys/kernel/random/boot_id', `${BOOT}\n`, 0o444);
  if (record) host.setFile(REC, JSON.stringify({ iface: 'wg0', publicKey: NODE.wgPubkey, bootId: BOOT, ...record }), 0o600);
  host.onExec('ip', {});
  host.onExec('wg', {});
  return host;
}
/** `wg0` exists as a blank interface fresh from `ip link add`/wireguard-go (the real capture: ifindex 2, no key, no peer, no address). */
function withBlankWg0(host: FakeHost): FakeHost {
  host.dirs.set('/sys/class/net/wg0', 0o755);
  host.setFile('/sys/class/net/wg0/ifindex', '2\n', 0o444);
  host.onExec('ip -j -d -batch -', { stdout: fx('ip-batch-fresh-wireguard-go.txt') });
  host.onExec('wg show wg0 dump', { stdout: fx('dump-fresh-wireguard-go.txt') });
  return host;
}
const missing = (iface: string) => ({ exitCode: 1, stderr: fx('ip-batch-missing.stderr').replace('nonexist', iface) });
const record = (host: FakeHost) => JSON.parse(host.files.get(REC)!.data) as OwnerRecord;
const plan = (host: FakeHost, iface = 'wg0') => previewWireguard(host, spec(), { stateDir: STATE, iface, logger: silent() });

describe('ownership record (<stateDir>/wireguard/interface.json)', () => {
  it('creation writes the intent before `ip link add`, then the ifindex; 0600', async () => {
    const host = nodeHost();
    host.onExec('ip -j -d -batch -', missing(DEFAULT_IFACE));
    host.onExec(`ip link add dev ${DEFAULT_IFACE} type wireguard`, () => {
      host.setFile(`/sys/class/net/${DEFAULT_IFACE}/ifindex`, '5\n', 0o444);
      return {};
    });
    await reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent() });
    const seq = host.calls.filter((c) => (c.kind === 'write' && c.path === REC) || (c.kind === 'exec' && c.args[0] === 'link' && c.args[1] === 'add'));
    expect(seq.map((c) => (c.kind === 'write' ? ((JSON.parse(c.data) as { ifindex?: number }).ifindex ?? 'intent') : 'ip link add'))).toEqual([
      'intent',
      'ip link add',
      5,
    ]);
    expect(seq.every((c) => c.kind !== 'write' || c.mode === 0o600)).toBe(true);
    expect(record(host)).toMatchObject({ iface: DEFAULT_IFACE, publicKey: NODE.wgPubkey, bootId: BOOT, ifindex: 5 });
  });

  it('a crash between `ip link add` and recording the ifindex: the blank interface is adopted in the same boot', async () => {
    const host = withBlankWg0(nodeHost({ ifindex: undefined }));
    const r = await plan(host);
    expect(r.actions.map((a) => a.kind)).toEqual([
      'wireguard.key.set',
      'wireguard.listenport.set',
      'wireguard.peer.set',
      'wireguard.addr.add',
      'wireguard.mtu.set',
      'wireguard.link.up',
      'wireguard.route.replace',
      'wireguard.route.replace',
      'wireguard.owner.record',
    ]);
    expect(r.actions.at(-1)!.data).toMatchObject({ record: { iface: 'wg0', ifindex: 2, bootId: BOOT, publicKey: NODE.wgPubkey } });
  });

  it('…but not in another boot: an interface that exists at boot and holds no key of ours is not ours', async () => {
    await expect(plan(withBlankWg0(nodeHost({ ifindex: undefined, bootId: OLD_BOOT })))).rejects.toThrow(/not created by castai-edge-initd \(castai-edge-initd's record is from another boot/);
    await expect(plan(withBlankWg0(nodeHost({ ifindex: 2, bootId: OLD_BOOT })))).rejects.toThrow(/record is from another boot \(ifindex 2\)/);
  });

  it('created in this boot (ifindex recorded), key not set yet → ours; another ifindex of that name → refused', async () => {
    expect((await plan(withBlankWg0(nodeHost({ ifindex: 2 })))).actions[0]!.kind).toBe('wireguard.key.set');
    await expect(plan(withBlankWg0(nodeHost({ ifindex: 9 })))).rejects.toThrow(/castai-edge-initd created ifindex 9, this is ifindex 2/);
  });

  it('after a reboot the recorded interface is gone: created again, recorded with the new boot and ifindex', async () => {
    const host = nodeHost({ iface: DEFAULT_IFACE, ifindex: 7, bootId: OLD_BOOT });
    host.onExec('ip -j -d -batch -', missing(DEFAULT_IFACE));
    host.onExec(`ip link add dev ${DEFAULT_IFACE} type wireguard`, () => {
      host.setFile(`/sys/class/net/${DEFAULT_IFACE}/ifindex`, '3\n', 0o444);
      return {};
    });
    const r = await reconcileWireguard(host, spec(), { stateDir: STATE, logger: silent() });
    expect(r.actions[0]!.kind).toBe('wireguard.link.create');
    expect(record(host)).toMatchObject({ iface: DEFAULT_IFACE, bootId: BOOT, ifindex: 3 });
  });

  it('an interface that holds the node key is ours in any boot (e.g. after an agent upgrade): only the record is refreshed', async () => {
    const host = nodeHost();
    host.dirs.set('/sys/class/net/wg0', 0o755);
    host.onExec('ip -j -d -batch -', { stdout: fx('ip-batch-wireguard-go.txt') });
    host.onExec('wg show wg0 dump', { stdout: fx('dump-agent-wireguard-go.txt').replace('lfBVKISe74iRr/LWhfHo8bkbdff+z/iyO6yfzLa/vi8=', NODE.wgPubkey) });
    const r = await plan(host);
    expect(r.actions.map((a) => a.kind)).toEqual(['wireguard.owner.record']);
    expect(r.actions[0]!.reason).toBe('no record yet');
  });

  it('a record others could have written (group/world-writable) or that does not parse is not believed', async () => {
    const loose = withBlankWg0(nodeHost({ ifindex: 2 }));
    loose.files.get(REC)!.mode = 0o666;
    await expect(plan(loose)).rejects.toThrow(/has no record of creating an interface/);
    const garbled = withBlankWg0(nodeHost());
    garbled.setFile(REC, '{"iface": "wg0", "ifin', 0o600);
    await expect(plan(garbled)).rejects.toThrow(/has no record of creating an interface/);
  });

  it('judgeOwnership: the rules in one table', () => {
    const dev = (publicKey?: string, peers = 0) => ({
      ...(publicKey ? { publicKey } : {}),
      listenPort: 0,
      fwmark: 'off',
      peers: Array.from({ length: peers }, () => ({
        publicKey: GW,
        hasPresharedKey: false,
        allowedIPs: [],
        latestHandshake: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
      })),
    });
    const rec: OwnerRecord = { iface: 'x', publicKey: 'OLDKEY', bootId: 'b', ifindex: 4 };
    const cases: Array<[string, Parameters<typeof judgeOwnership>[0], Parameters<typeof judgeOwnership>[1], boolean]> = [
      ['node key, no record', { iface: 'x', exists: true, ifindex: 9, device: dev('NODE') }, { bootId: 'b', nodePublicKey: 'NODE' }, true],
      ['recorded (older) key', { iface: 'x', exists: true, ifindex: 9, device: dev('OLDKEY') }, { record: rec, bootId: 'other' }, true],
      ['recorded key of another interface', { iface: 'y', exists: true, ifindex: 9, device: dev('OLDKEY') }, { record: rec, bootId: 'b' }, false],
      ['foreign key, no record', { iface: 'x', exists: true, ifindex: 4, device: dev('THEIRS') }, { bootId: 'b', nodePublicKey: 'NODE' }, false],
      [
        'foreign key, our ifindex this boot',
        { iface: 'x', exists: true, ifindex: 4, device: dev('THEIRS') },
        { record: rec, bootId: 'b', nodePublicKey: 'NODE' },
        false,
      ],
      ['no key, our ifindex this boot', { iface: 'x', exists: true, ifindex: 4, device: dev() }, { record: rec, bootId: 'b' }, true],
      ['no key, our ifindex, unknown boot id', { iface: 'x', exists: true, ifindex: 4, device: dev() }, { record: { ...rec, bootId: '' }, bootId: '' }, false],
      ['intent, blank', { iface: 'x', exists: true, ifindex: 4, addresses: [], device: dev() }, { record: { ...rec, ifindex: undefined }, bootId: 'b' }, true],
      [
        'intent, has a peer',
        { iface: 'x', exists: true, ifindex: 4, addresses: [], device: dev(undefined, 1) },
        { record: { ...rec, ifindex: undefined }, bootId: 'b' },
        false,
      ],
      [
        'intent, has an address',
        { iface: 'x', exists: true, ifindex: 4, addresses: ['10.0.0.1/32'], device: dev() },
        { record: { ...rec, ifindex: undefined }, bootId: 'b' },
        false,
      ],
      [
        'intent, addresses unknown (previous interface)',
        { iface: 'x', exists: true, ifindex: 4, device: dev() },
        { record: { ...rec, ifindex: undefined }, bootId: 'b' },
        false,
      ],
    ];
    for (const [name, i, f, ours] of cases) expect(judgeOwnership(i, f).ours, name).toBe(ours);
  });
});

describe('the interface of ours from before is moved, never a foreign one', () => {
  it('upgrade: no record, the previous agent\'s wg0 holds the node key → deleted before our interface is created', async () => {
    const host = nodeHost();
    host.dirs.set('/sys/class/net/wg0', 0o755);
    host.setFile('/sys/class/net/wg0/ifindex', '2\n', 0o444);
    host.onExec('wg show wg0 dump', { stdout: fx('dump-agent-wireguard-go.txt').replace('lfBVKISe74iRr/LWhfHo8bkbdff+z/iyO6yfzLa/vi8=', NODE.wgPubkey) });
    host.onExec('ip -j -d -batch -', missing(DEFAULT_IFACE));
    const r = await plan(host, DEFAULT_IFACE);
    expect(r.actions.slice(0, 2).map((a) => [a.kind, a.iface])).toEqual([
      ['wireguard.link.delete', 'wg0'],
      ['wireguard.link.create', DEFAULT_IFACE],
    ]);
    expect(r.actions[0]!.reason).toBe(`it holds the node key; the agent's interface is now ${DEFAULT_IFACE} (INITD_WIREGUARD_INTERFACE)`);
    expect(r.actions.slice(2).every((a) => a.iface === DEFAULT_IFACE)).toBe(true);
  });

  it('INITD_WIREGUARD_INTERFACE changed: the recorded interface (ours) goes, the new one comes; read only while the record names another', async () => {
    const host = nodeHost({ iface: 'edge-old', ifindex: 6 });
    host.dirs.set('/sys/class/net/edge-old', 0o755);
    host.setFile('/sys/class/net/edge-old/ifindex', '6\n', 0o444);
    host.onExec('wg show edge-old dump', { stdout: fx('dump-agent-wireguard-go.txt').replace('lfBVKISe74iRr/LWhfHo8bkbdff+z/iyO6yfzLa/vi8=', NODE.wgPubkey) });
    host.onExec('ip -j -d -batch -', missing('edge-new'));
    const r = await plan(host, 'edge-new');
    expect(r.actions.slice(0, 2).map((a) => [a.kind, a.iface])).toEqual([
      ['wireguard.link.delete', 'edge-old'],
      ['wireguard.link.create', 'edge-new'],
    ]);
    // wg0 (no record of it, not the record's name) is not even read.
    expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show edge-old dump']);
  });

  it('teardown deletes an interface we created this boot before its key was set, and forgets it', async () => {
    const host = withBlankWg0(nodeHost({ ifindex: 2 }));
    expect(await wireguardDown(host, { iface: 'wg0', stateDir: STATE }, silent())).toEqual({ removed: ['wg0'], leftAlone: [] });
    expect(host.execLines().at(-1)).toBe('ip link del dev wg0');
    expect(host.files.has(REC)).toBe(false);
  });

  it('teardown after an upgrade, before any pass: the previous agent\'s wg0 (holds the node key) is deleted too', async () => {
    const host = nodeHost();
    host.dirs.set('/sys/class/net/wg0', 0o755);
    host.onExec('wg show wg0 dump', { stdout: fx('dump-agent-wireguard-go.txt').replace('lfBVKISe74iRr/LWhfHo8bkbdff+z/iyO6yfzLa/vi8=', NODE.wgPubkey) });
    host.onExec('ip -j -d -batch -', missing(DEFAULT_IFACE));
    expect(await wireguardDown(host, { iface: DEFAULT_IFACE, stateDir: STATE }, silent())).toEqual({ removed: ['wg0'], leftAlone: [] });
  });
});
