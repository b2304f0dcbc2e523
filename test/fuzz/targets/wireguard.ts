/** Fuzz targets: `wg show <if> dump` and `ip -j` parsers (agent/wireguard/parse.ts) on mutated real captures. */
import fc from 'fast-check';
import { parseDump, parseIpAddr, parseIpBatch, parseIpLink, parseIpRoutes } from '../../../agent/wireguard/parse.ts';
import { readAll } from '../fixtures.ts';
import { assert, isStr, parseWith, target, type FuzzTarget } from '../harness.ts';
import { lineSoup, mutatedJsonText, mutatedText, noise, tokensOf } from '../mutate.ts';

const dumps = readAll('wg', /^dump-.*\.txt$/);
const links = readAll('wg', /^ip-link-.*\.json$/);
const addrs = readAll('wg', /^ip-addr-.*\.json$/);
const routes = readAll('wg', /^ip-route.*\.json$/);
const batches = readAll('wg', /^ip-batch-.*wireguard-go\.txt$/);

/** The parsers throw plain Errors whose message starts with the command (`wg show dump: ...`, `ip -j link: ...`). */
const namesCmd = (prefix: string) => (e: Error) => (e.message.startsWith(prefix) ? prefix : false);

const json = (texts: string[]) =>
  fc.oneof(
    { weight: 10, arbitrary: mutatedJsonText(texts) },
    { weight: 1, arbitrary: noise },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  );

export const wireguardTargets: FuzzTarget[] = [
  {
    name: 'wireguard.dump',
    parser: 'parseDump (wg show <if> dump)',
    arbitrary: fc.oneof(
      { weight: 8, arbitrary: mutatedText(dumps) },
      { weight: 2, arbitrary: lineSoup(tokensOf(dumps), ['\t']) },
      { weight: 1, arbitrary: noise },
    ),
    check: (s: string) =>
      parseWith(
        () => parseDump(s),
        (d) => {
          assert(typeof d.listenPort === 'number' && isStr(d.fwmark) && Array.isArray(d.peers), 'dump: interface fields');
          for (const p of d.peers) {
            assert(isStr(p.publicKey) && p.allowedIPs.every(isStr), 'dump: peer strings');
            assert(
              [p.latestHandshake, p.rxBytes, p.txBytes, p.persistentKeepalive].every((n) => typeof n === 'number' && !Number.isNaN(n)),
              'dump: NaN counter',
            );
          }
          // The private key (first field of the interface line) is never kept.
          const priv = s
            .split('\n')
            .find((l) => l.trim() !== '')!
            .split('\t')[0]!;
          if (priv.length >= 20 && s.split(priv).length === 2) assert(!JSON.stringify(d).includes(priv), 'dump: the private key column was kept');
        },
        [Error],
        namesCmd('wg show dump'),
        'dump',
      ),
  },
  {
    name: 'wireguard.ip-link',
    parser: 'parseIpLink (ip -j -d link show dev <if>)',
    arbitrary: json(links),
    check: (s: string) =>
      parseWith(
        () => parseIpLink(s),
        (l) => {
          if (!l) return;
          // (integers; the sign is not checked: the kernel never prints a negative one and nothing breaks on it)
          assert(
            Number.isInteger(l.ifindex) && Number.isInteger(l.mtu) && typeof l.up === 'boolean' && (l.kind === undefined || isStr(l.kind)),
            `ip-link: bad fields ${JSON.stringify(l)}`,
          );
        },
        [Error],
        namesCmd('ip -j link show'),
        'ip-link',
      ),
  },
  {
    name: 'wireguard.ip-addr',
    parser: 'parseIpAddr (ip -j addr show dev <if>)',
    arbitrary: json(addrs),
    check: (s: string) =>
      parseWith(
        () => parseIpAddr(s),
        (a) =>
          assert(
            a.every((x) => isStr(x) && x.includes('/')),
            'ip-addr: not CIDRs',
          ),
        [Error],
        namesCmd('ip -j addr show'),
        'ip-addr',
      ),
  },
  target({
    name: 'wireguard.ip-route',
    parser: 'parseIpRoutes (ip -j route show table all dev <if>)',
    arbitrary: json([...routes, ...batches.flatMap((b) => b.split('\n').slice(1, 2))]),
    check: (s: string) =>
      parseWith(
        () => parseIpRoutes(s),
        (rs) =>
          assert(
            rs.every((r) => isStr(r.dst) && r.dst.includes('/') && (r.protocol === undefined || isStr(r.protocol))),
            'ip-route: bad route',
          ),
        [Error],
        namesCmd('ip -j route show'),
        'ip-route',
      ),
  }),
  target({
    name: 'wireguard.ip-batch',
    parser: 'parseIpBatch (ip -j -d -batch -: addr show + route show table all)',
    // whole captures mutated as text (line structure kept or broken), or two mutated JSON lines
    arbitrary: fc.oneof(
      { weight: 4, arbitrary: mutatedText(batches) },
      {
        weight: 6,
        arbitrary: fc
          .tuple(mutatedJsonText(batches.map((b) => b.split('\n')[0]!)), fc.option(mutatedJsonText(batches.map((b) => b.split('\n')[1]!))))
          .map(([a, r]) => (r === null ? `${a}\n` : `${a}\n${r}\n`)),
      },
      { weight: 1, arbitrary: noise },
    ),
    check: (s: string) =>
      parseWith(
        () => parseIpBatch(s),
        (b) => {
          assert(Array.isArray(b.addresses) && b.addresses.every((x) => isStr(x) && x.includes('/')), 'ip-batch: addresses not CIDRs');
          assert(Array.isArray(b.routes) && b.routes.every((r) => isStr(r.dst) && r.dst.includes('/')), 'ip-batch: bad route');
          if (b.link) assert(Number.isInteger(b.link.ifindex) && Number.isInteger(b.link.mtu) && typeof b.link.up === 'boolean', 'ip-batch: bad link');
          else assert(b.addresses.length === 0 && b.routes.length === 0, 'ip-batch: addresses or routes without a link');
        },
        [Error],
        (e) => ['ip -j -d -batch', 'ip -j link show', 'ip -j addr show', 'ip -j route show'].find((p) => e.message.startsWith(p)) ?? false,
        'ip-batch',
      ),
  }),
];
