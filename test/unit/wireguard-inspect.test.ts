import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { AgentError } from '../../agent/errors.ts';
import { canonicalCidr, canonicalInterfaceAddress, canonicalIp } from '../../agent/net/cidr.ts';
import { inspectWireguard } from '../../agent/wireguard/inspect.ts';
import { parseDump, parseIpAddr, parseIpBatch, parseIpLink, parseIpRoutes } from '../../agent/wireguard/parse.ts';

const fx = (name: string) => readFileSync(new URL(`../fixtures/wg/${name}`, import.meta.url), 'utf8');
const DUMMY_PRIV = 'QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=';

describe('parsers on real wireguard-go / iproute2 output', () => {
  it('wg show dump (agent side): drops the private key, parses peers', () => {
    const d = parseDump(fx('dump-agent-wireguard-go.txt'));
    expect(JSON.stringify(d)).not.toContain(DUMMY_PRIV);
    expect(d).toEqual({
      publicKey: 'lfBVKISe74iRr/LWhfHo8bkbdff+z/iyO6yfzLa/vi8=',
      listenPort: 51840,
      fwmark: 'off',
      peers: [
        {
          publicKey: 'MZFCNlaYRHY5Ti6BPHDDzV31QTclzggCTIiKWav0PW8=',
          hasPresharedKey: false,
          endpoint: '10.203.0.2:51840',
          allowedIPs: ['10.244.0.0/16', '100.96.0.1/32'],
          latestHandshake: 1795295955,
          rxBytes: 604,
          txBytes: 840,
          persistentKeepalive: 25,
        },
      ],
    });
  });

  it('wg show dump (gateway side, keepalive off) and a fresh wireguard-go device', () => {
    const g = parseDump(fx('dump-gateway-wireguard-go.txt'));
    expect(g.peers[0]).toMatchObject({ endpoint: '10.203.0.1:51840', allowedIPs: ['100.96.0.7/32'], persistentKeepalive: 0 });
    const f = parseDump(fx('dump-fresh-wireguard-go.txt'));
    expect(f).toEqual({ listenPort: 43635, fwmark: 'off', peers: [] });
    expect(f.publicKey).toBeUndefined();
  });

  it('rejects malformed dumps', () => {
    expect(() => parseDump('')).toThrow(/empty/);
    expect(() => parseDump('a\tb\n')).toThrow(/2 fields/);
    expect(() => parseDump('(none)\t(none)\t1\toff\nx\ty\n')).toThrow(/peer line 1/);
  });

  it('ip -j link/addr/route', () => {
    expect(parseIpLink(fx('ip-link-wireguard-go.json'))).toEqual({ ifindex: 2, kind: 'tun', up: true, mtu: 1380 });
    expect(parseIpLink(fx('ip-link-fresh-wireguard-go.json'))).toEqual({ ifindex: 2, kind: 'tun', up: false, mtu: 1420 });
    expect(parseIpAddr(fx('ip-addr-wireguard-go.json'))).toEqual(['100.96.0.7/32']); // fe80:: link-local left out
    expect(parseIpAddr(fx('ip-addr-fresh-wireguard-go.json'))).toEqual([]);
    expect(parseIpRoutes(fx('ip-route4-wireguard-go.json'))).toEqual([{ dst: '10.244.0.0/16' }, { dst: '100.96.0.1/32' }]);
    expect(parseIpRoutes(fx('ip-route6-wireguard-go.json'))).toEqual([{ dst: 'fe80::/64', protocol: 'kernel' }]);
    expect(parseIpRoutes(fx('ip-route4-fresh.json'))).toEqual([]);
    expect(parseIpRoutes('')).toEqual([]);
  });

  it('ip -j -d -batch (addr + route table all): link, addresses and main-table routes of both families in one read', () => {
    expect(parseIpBatch(fx('ip-batch-wireguard-go.txt'))).toEqual({
      link: { ifindex: 2, kind: 'tun', up: true, mtu: 1380 },
      addresses: ['100.96.0.7/32'], // fe80:: link-local left out
      // the local table's /32 and fe80::…, and ff00::/8 multicast are the kernel's; -d prints protocol boot
      routes: [{ dst: '10.244.0.0/16', protocol: 'boot' }, { dst: '100.96.0.1/32', protocol: 'boot' }, { dst: 'fe80::/64', protocol: 'kernel' }],
    });
    expect(parseIpBatch(fx('ip-batch-fresh-wireguard-go.txt'))).toEqual({ link: { ifindex: 2, kind: 'tun', up: false, mtu: 1420 }, addresses: [], routes: [] });
    // the same as the separate reads it replaces (protocol aside: only "kernel" matters to the plan)
    const b = parseIpBatch(fx('ip-batch-wireguard-go.txt'));
    expect(b.link).toEqual(parseIpLink(fx('ip-link-wireguard-go.json')));
    expect(b.addresses).toEqual(parseIpAddr(fx('ip-addr-wireguard-go.json')));
    expect(b.routes.map((r) => r.dst)).toEqual(
      [...parseIpRoutes(fx('ip-route4-wireguard-go.json')), ...parseIpRoutes(fx('ip-route6-wireguard-go.json'))].map((r) => r.dst),
    );
    // a v6 default route is told from a v4 one by `pref` (set on every IPv6 route); other tables are left out
    expect(
      parseIpRoutes('[{"type":"unicast","dst":"default","table":"main","pref":"medium"},{"dst":"default"},{"dst":"10.1.0.0/16","table":"51820"}]'),
    ).toEqual([{ dst: '::/0' }, { dst: '0.0.0.0/0' }]);
    expect(parseIpBatch('[]\n')).toEqual({ addresses: [], routes: [] });
    expect(() => parseIpBatch('')).toThrow(/^ip -j -d -batch: expected 2 JSON arrays .* got 0 line/);
    expect(() => parseIpBatch('[]\n[]\n[]\n')).toThrow(/got 3 line/);
  });
});

describe('cidr canonical forms', () => {
  it('masks host bits, adds host prefixes, writes IPv6 per RFC 5952', () => {
    expect(canonicalCidr('10.244.1.5/16')).toBe('10.244.0.0/16');
    expect(canonicalCidr('100.96.0.1')).toBe('100.96.0.1/32');
    expect(canonicalCidr('FD00:0:0:0::1/64')).toBe('fd00::/64');
    expect(canonicalCidr('2001:db8:0:0:1:0:0:1', true)).toBe('2001:db8::1:0:0:1/128');
    expect(canonicalCidr('default')).toBe('0.0.0.0/0');
    expect(canonicalCidr('default', true)).toBe('::/0');
    expect(canonicalCidr('10.0.0.0/33')).toBeUndefined();
    expect(canonicalCidr('10.0.0/8')).toBeUndefined();
    expect(canonicalCidr('::ffff:10.0.0.1/128')).toBe('::ffff:a00:1/128');
    expect(canonicalIp('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalInterfaceAddress('100.96.0.7/24')).toBe('100.96.0.7/24');
    expect(canonicalInterfaceAddress('100.96.0.7')).toBeUndefined();
  });
});

describe('inspectWireguard (FakeHost scripted with the real outputs)', () => {
  it('a missing interface is reported as absent, without calling wg', async () => {
    const host = new FakeHost().onExec('ip -j -d -batch -', { exitCode: 1, stderr: fx('ip-batch-missing.stderr').replace('nonexist', 'wg0') });
    const a = await inspectWireguard(host, 'wg0');
    expect(a).toEqual({ iface: 'wg0', exists: false, userspace: false, up: false, addresses: [], routes: [] });
    expect(host.execLines()).toEqual(['ip -j -d -batch -']);
  });

  it('reads link, addresses, routes (v4 + v6) and peers in two processes; changes nothing', async () => {
    const inputs: unknown[] = [];
    const host = new FakeHost()
      .onExec('ip -j -d -batch -', (_a, o) => {
        inputs.push(o.stdin);
        return { stdout: fx('ip-batch-wireguard-go.txt') };
      })
      .onExec('wg show wg0 dump', { stdout: fx('dump-agent-wireguard-go.txt') });
    const a = await inspectWireguard(host, 'wg0');
    expect(host.execLines()).toEqual(['ip -j -d -batch -', 'wg show wg0 dump']);
    expect(inputs).toEqual(['addr show dev wg0\nroute show table all dev wg0\n']); // read-only commands only
    expect(a).toMatchObject({
      iface: 'wg0',
      exists: true,
      kind: 'tun',
      userspace: true,
      ifindex: 2,
      up: true,
      mtu: 1380,
      addresses: ['100.96.0.7/32'],
      routes: [{ dst: '10.244.0.0/16', protocol: 'boot' }, { dst: '100.96.0.1/32', protocol: 'boot' }, { dst: 'fe80::/64', protocol: 'kernel' }],
    });
    expect(a.device?.peers).toHaveLength(1);
    expect(JSON.stringify(a)).not.toContain(DUMMY_PRIV);
    expect(host.mutations(new Set(['ip', 'wg']))).toEqual([]);
  });

  it('refuses an interface of another kind, and names the package when wg is missing', async () => {
    const host = new FakeHost().onExec('ip -j -d -batch -', {
      stdout: '[{"ifindex":5,"flags":["UP"],"mtu":1500,"linkinfo":{"info_kind":"dummy"},"addr_info":[]}]\n[]\n',
    });
    await expect(inspectWireguard(host, 'wg0')).rejects.toThrow(/is a dummy device, not WireGuard/);
    expect(host.execLines()).toEqual(['ip -j -d -batch -']); // no wg on a foreign device

    // an interface name that is not one never reaches the batch script
    const h3 = new FakeHost();
    await expect(inspectWireguard(h3, 'wg0\nlink del eth0')).rejects.toThrow(/INITD_WIREGUARD_INTERFACE.*not a usable interface name.*contains whitespace/s);
    expect(h3.execLines()).toEqual([]);

    const h2 = new FakeHost().onExec('ip -j -d -batch -', { stdout: fx('ip-batch-wireguard-go.txt') });
    const e = (await inspectWireguard(h2, 'wg0').catch((x: unknown) => x)) as AgentError;
    expect(e).toBeInstanceOf(AgentError);
    expect(e.remediation).toBe('install the Debian package wireguard-tools: apt-get install -y wireguard-tools');
  });
});

describe('ip -j parsers reject malformed output with an error naming the command', () => {
  it('throws, never crashes with a TypeError', () => {
    expect(() => parseIpLink('nope')).toThrow(/^ip -j link show: output is not JSON/);
    expect(() => parseIpLink('{}')).toThrow(/^ip -j link show: expected a JSON array/);
    expect(() => parseIpLink('[{"ifindex":"2","mtu":1420}]')).toThrow(/^ip -j link show: entry without integer ifindex\/mtu/);
    expect(parseIpLink('[]')).toBeUndefined();
    expect(() => parseIpAddr('[1]')).toThrow(/^ip -j addr show: entry is not an object/);
    expect(() => parseIpAddr('[{"addr_info":[null]}]')).toThrow(/^ip -j addr show: addr_info entry/);
    expect(parseIpAddr('[{"addr_info":[{"family":"inet","local":5,"prefixlen":32}]}]')).toEqual([]);
    expect(() => parseIpRoutes('[null]')).toThrow(/^ip -j route show: entry is not an object/);
    expect(parseIpRoutes('[{"dst":"224.0.0.0/4","type":"multicast"},{"dst":7}]')).toEqual([]);
  });
});
