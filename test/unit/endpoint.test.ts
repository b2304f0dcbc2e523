/**
 * The one host:port parser (agent/net/endpoint.ts) and its users: `doctor`'s register.json endpoints
 * (preflight parseEndpoint), the k0s step's konnectivity endpoint and WireGuard's peer endpoint read the
 * same text the same way; `wg`'s printed endpoints are matched with it.
 */
import { describe, expect, it } from 'vitest';
import { formatHostPort, parseHostPort } from '../../agent/net/endpoint.ts';
import { parseEndpoint } from '../../agent/preflight/runner.ts';
import { endpointMatches } from '../../agent/wireguard/plan.ts';

describe('host:port', () => {
  it.each([
    ['cp.example:8132', { host: 'cp.example', port: 8132, isHostname: true }],
    ['CP.Example.:8132', { host: 'cp.example', port: 8132, isHostname: true }],
    ['[2001:DB8::1]:8132', { host: '2001:db8::1', port: 8132, isHostname: false }],
    ['192.0.2.7:65535', { host: '192.0.2.7', port: 65535, isHostname: false }],
    ['2001:db8::1:8132', undefined],
    ['cp example:8132', undefined],
    ['cp.example:0', undefined],
    ['cp.example:65536', undefined],
    ['cp.example', undefined],
    ['[cp.example]:8132', undefined],
  ] as const)('%j', (text, want) => {
    expect(parseHostPort(text)).toEqual(want);
    // doctor reads register.json's konnectivityEndpoint with the same parser (plus a default port for a bare host).
    expect(parseEndpoint(text)).toEqual(want && { host: want.host, port: want.port });
  });

  it('prints what it parses (IPv6 in brackets, as Go net.JoinHostPort and wg)', () => {
    for (const t of ['cp.example:8132', '[2001:db8::1]:51840', '192.0.2.7:1']) {
      const hp = parseHostPort(t)!;
      expect(formatHostPort(hp.host, hp.port)).toBe(t);
    }
  });

  it("matches wg's printed endpoints by IP and port", () => {
    expect(endpointMatches('[2001:db8::1]:51840', { host: 'gw.example', port: 51840, isHostname: true, ips: ['2001:DB8:0::1'] })).toBe(true);
    expect(endpointMatches('192.0.2.7:51840', { host: 'gw.example', port: 51840, isHostname: true, ips: ['192.0.2.7'] })).toBe(true);
    expect(endpointMatches('192.0.2.7:51841', { host: 'gw.example', port: 51840, isHostname: true, ips: ['192.0.2.7'] })).toBe(false);
    expect(endpointMatches('(none)', { host: 'gw.example', port: 51840, isHostname: true, ips: ['192.0.2.7'] })).toBe(false);
  });
});
