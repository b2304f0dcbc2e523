import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../../agent/errors.ts';
import { planWireguard } from '../../agent/wireguard/plan.ts';
import { normalizeSpec } from '../../agent/wireguard/spec.ts';
import { parseHostPort } from '../../agent/net/endpoint.ts';
import type { DeviceState, WireguardActual, WireguardDesired } from '../../agent/wireguard/types.ts';

const NODE_PUB = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const GW = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';
const OTHER = 'F7FNxYNZGyWGWLiTc1qhuJ1KX14nd5GVxgmcwFV8fRQ=';

function desired(over: Partial<WireguardDesired> = {}): WireguardDesired {
  return {
    iface: 'wg0',
    publicKey: NODE_PUB,
    privateKeyPath: '/var/lib/castai-edge-initd/wireguard/private.key',
    ownerRecordPath: '/var/lib/castai-edge-initd/wireguard/interface.json',
    address: '100.96.0.7/32',
    listenPort: 51840,
    mtu: 1380,
    peers: [
      {
        publicKey: GW,
        endpoint: { host: 'gw.example', port: 51840, isHostname: true, ips: ['192.0.2.10', '192.0.2.11'] },
        allowedIPs: ['10.244.0.0/16', '100.96.0.1/32'],
        persistentKeepalive: 25,
      },
    ],
    ...over,
  };
}

function device(over: Partial<DeviceState> = {}): DeviceState {
  return {
    publicKey: NODE_PUB,
    listenPort: 51840,
    fwmark: 'off',
    peers: [
      {
        publicKey: GW,
        hasPresharedKey: false,
        endpoint: '192.0.2.11:51840',
        allowedIPs: ['10.244.0.0/16', '100.96.0.1/32'],
        latestHandshake: 1795295955,
        rxBytes: 1,
        txBytes: 2,
        persistentKeepalive: 25,
      },
    ],
    ...over,
  };
}

function actual(over: Partial<WireguardActual> = {}): WireguardActual {
  return {
    iface: 'wg0',
    exists: true,
    kind: 'wireguard',
    userspace: false,
    ifindex: 7,
    up: true,
    mtu: 1380,
    addresses: ['100.96.0.7/32'],
    routes: [{ dst: '10.244.0.0/16' }, { dst: '100.96.0.1/32' }, { dst: 'fe80::/64', protocol: 'kernel' }],
    device: device(),
    ...over,
  };
}

const absent: WireguardActual = { iface: 'wg0', exists: false, userspace: false, up: false, addresses: [], routes: [] };

describe('planWireguard', () => {
  it('equal → no action at all (endpoint compared by resolved IP, not by name)', () => {
    expect(planWireguard(desired(), actual())).toEqual([]);
  });

  it('fresh host: create, key, port, peer, address, MTU, up, one route per allowed IP — in that order', () => {
    const acts = planWireguard(desired(), absent);
    expect(acts.map((a) => a.kind)).toEqual([
      'wireguard.link.create',
      'wireguard.key.set',
      'wireguard.listenport.set',
      'wireguard.peer.set',
      'wireguard.addr.add',
      'wireguard.mtu.set',
      'wireguard.link.up',
      'wireguard.route.replace',
      'wireguard.route.replace',
    ]);
    expect(acts[3]!.data).toEqual({ publicKey: GW, endpoint: '192.0.2.10:51840', allowedIPs: ['10.244.0.0/16', '100.96.0.1/32'], persistentKeepalive: 25 });
    expect(acts.filter((a) => a.kind === 'wireguard.route.replace').map((a) => a.data)).toEqual([{ dst: '10.244.0.0/16' }, { dst: '100.96.0.1/32' }]);
    // no default route, ever
    expect(JSON.stringify(acts)).not.toMatch(/0\.0\.0\.0\/0|::\/0|fwmark/);
  });

  it('allowed-IP change: one wg set for the peer + route changes; no link recreate, no key/port touch', () => {
    const d = desired();
    d.peers[0]!.allowedIPs = ['10.96.0.0/12', '100.96.0.1/32'];
    const acts = planWireguard(d, actual());
    expect(acts.map((a) => [a.kind, a.data])).toEqual([
      ['wireguard.peer.set', { publicKey: GW, allowedIPs: ['10.96.0.0/12', '100.96.0.1/32'] }],
      ['wireguard.route.del', { dst: '10.244.0.0/16' }],
      ['wireguard.route.replace', { dst: '10.96.0.0/12' }],
    ]);
  });

  it('endpoint port change and DNS move: only the endpoint is set', () => {
    const d = desired();
    d.peers[0]!.endpoint!.port = 51841;
    expect(planWireguard(d, actual()).map((a) => [a.kind, a.data])).toEqual([['wireguard.peer.set', { publicKey: GW, endpoint: '192.0.2.10:51841' }]]);
    const moved = desired();
    moved.peers[0]!.endpoint!.ips = ['198.51.100.1'];
    expect(planWireguard(moved, actual()).map((a) => a.data)).toEqual([{ publicKey: GW, endpoint: '198.51.100.1:51840' }]);
  });

  it('unresolvable hostname keeps the current endpoint (no action)', () => {
    const d = desired();
    d.peers[0]!.endpoint = { host: 'gw.example', port: 51840, isHostname: true, ips: [], error: 'ENOTFOUND' };
    expect(planWireguard(d, actual())).toEqual([]);
  });

  it('key rotation (the old key is the one recorded for it), listen port, keepalive, stale peer, MTU, extra address, link down', () => {
    const dev = device({ publicKey: OTHER, listenPort: 40000 });
    dev.peers[0]!.persistentKeepalive = 0;
    dev.peers.push({ ...dev.peers[0]!, publicKey: OTHER, allowedIPs: ['10.9.0.0/16'] });
    const owner = { record: { iface: 'wg0', publicKey: OTHER, bootId: 'boot-1', ifindex: 7 }, bootId: 'boot-1' };
    const state = {
      device: dev,
      mtu: 1420,
      up: false,
      addresses: ['100.96.0.7/32', '100.96.0.99/32'],
      routes: [{ dst: '10.244.0.0/16' }, { dst: '100.96.0.1/32' }, { dst: '10.9.0.0/16' }],
    };
    // Without that record the interface holds someone else's key: refused, nothing planned.
    expect(() => planWireguard(desired(), actual(state))).toThrow(/^WireGuard interface wg0 exists and was not created by castai-edge-initd/);
    const acts = planWireguard(desired(), actual({ ...state, owner }));
    expect(acts.map((a) => [a.kind, a.data])).toEqual([
      ['wireguard.key.set', { privateKeyPath: '/var/lib/castai-edge-initd/wireguard/private.key', publicKey: NODE_PUB }],
      ['wireguard.listenport.set', { port: 51840 }],
      ['wireguard.peer.remove', { publicKey: OTHER }],
      ['wireguard.peer.set', { publicKey: GW, persistentKeepalive: 25 }],
      ['wireguard.addr.del', { cidr: '100.96.0.99/32' }],
      ['wireguard.mtu.set', { mtu: 1380 }],
      ['wireguard.link.up', {}],
      ['wireguard.route.del', { dst: '10.9.0.0/16' }],
      [
        'wireguard.owner.record',
        { ownerRecordPath: '/var/lib/castai-edge-initd/wireguard/interface.json', record: { iface: 'wg0', publicKey: NODE_PUB, bootId: 'boot-1', ifindex: 7 } },
      ],
    ]);
    expect(acts.every((a) => a.description && a.reason)).toBe(true);
  });

  it('plan is pure and a second plan after a perfect apply is empty (property)', () => {
    const cidr = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 })).map(([a, b, p]) => {
      const n = normalizeSpec({ address: '100.96.0.7/32', peers: [{ publicKey: GW, allowedIPs: [`${a}.${b}.0.0/${p}`] }] });
      return n.peers[0]!.allowedIPs[0]!;
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(cidr, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1280, max: 9000 }),
        fc.integer({ min: 1, max: 65535 }),
        (ips, mtu, port) => {
          const d = desired({ mtu });
          d.peers[0]!.allowedIPs = [...ips].sort();
          d.peers[0]!.endpoint!.port = port;
          const before = JSON.stringify(d);
          const acts = planWireguard(d, absent);
          expect(JSON.stringify(d)).toBe(before);
          // Simulate a perfect apply and re-plan.
          const after = actual({
            mtu,
            routes: d.peers[0]!.allowedIPs.map((dst) => ({ dst })),
            device: device({ peers: [{ ...device().peers[0]!, endpoint: `192.0.2.10:${port}`, allowedIPs: [...d.peers[0]!.allowedIPs] }] }),
          });
          expect(acts.filter((a) => a.kind === 'wireguard.route.replace')).toHaveLength(ips.length);
          expect(planWireguard(d, after)).toEqual([]);
        },
      ),
    );
  });
});

describe('normalizeSpec (the register response wireguard object)', () => {
  it('fills defaults and canonicalises', () => {
    expect(
      normalizeSpec({
        address: '100.96.0.7/32',
        peers: [{ publicKey: GW, endpoint: 'GW.Example.:51840', allowedIPs: ['10.244.3.4/16', '100.96.0.1/32', '10.244.0.0/16'] }],
      }),
    ).toEqual({
      address: '100.96.0.7/32',
      listenPort: 51840,
      mtu: 1380,
      peers: [
        {
          publicKey: GW,
          endpoint: { host: 'gw.example', port: 51840, isHostname: true },
          allowedIPs: ['10.244.0.0/16', '100.96.0.1/32'],
          persistentKeepalive: 25,
        },
      ],
    });
  });

  it('names every bad field with the value and the fix', () => {
    const e = (() => {
      try {
        normalizeSpec({
          address: '100.96.0.7',
          mtu: 100,
          listenPort: 0,
          peers: [{ publicKey: 'abc', endpoint: 'gw', allowedIPs: ['0.0.0.0/0', 'x'], persistentKeepalive: -1 }],
        });
      } catch (x) {
        return x as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.problems.map((p) => [p.variable, p.item])).toEqual([
      ['wireguard.address', '100.96.0.7'],
      ['wireguard.listenPort', '0'],
      ['wireguard.mtu', '100'],
      ['wireguard.peers[0].publicKey', 'abc'],
      ['wireguard.peers[0].endpoint', 'gw'],
      ['wireguard.peers[0].allowedIPs[0]', '0.0.0.0/0'],
      ['wireguard.peers[0].allowedIPs[1]', 'x'],
      ['wireguard.peers[0].persistentKeepalive', '-1'],
    ]);
    expect(e.problems[5]!.message).toMatch(/default route/);
    expect(() => normalizeSpec(undefined)).toThrow(/no "wireguard" object/);
  });

  it('parses endpoints', () => {
    expect(parseHostPort('[2001:DB8::1]:51840')).toEqual({ host: '2001:db8::1', port: 51840, isHostname: false });
    expect(parseHostPort('192.0.2.1:1')).toEqual({ host: '192.0.2.1', port: 1, isHostname: false });
    expect(parseHostPort('gw.example:70000')).toBeUndefined();
    expect(parseHostPort('[gw.example]:1')).toBeUndefined();
    expect(parseHostPort('2001:db8::1:51840')).toBeUndefined();
  });
});
