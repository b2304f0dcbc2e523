/**
 * agent/api/undici-lean.ts — what `make build` bundles for every `from 'undici'` of the agent
 * (docs/decisions/0192-idle-memory-floor.md): undici's own Agent, EnvHttpProxyAgent and request,
 * without its package entry. Loopback HTTP only.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as undici from 'undici';
import { Agent, EnvHttpProxyAgent, request } from '../../agent/api/undici-lean.ts';
import { fullUndiciInputs } from '../../scripts/build.ts';

let server: Server;
let proxy: Server;
let base = '';
let proxyUrl = '';

function listen(s: Server): Promise<string> {
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, body }));
    });
  });
  // A forward proxy that answers itself: the request line carries the absolute URL.
  proxy = createServer((req, res) => res.end(JSON.stringify({ proxied: req.url })));
  base = await listen(server);
  proxyUrl = await listen(proxy);
});
afterAll(() => {
  server.close();
  proxy.close();
});

describe('undici-lean', () => {
  it('is undici itself: its Agent and EnvHttpProxyAgent, fixed to HTTP/1.1', () => {
    expect(new Agent()).toBeInstanceOf(undici.Agent);
    expect(new EnvHttpProxyAgent({ httpProxy: '', httpsProxy: '', noProxy: '' })).toBeInstanceOf(undici.EnvHttpProxyAgent);
  });

  it('speaks HTTP/1.1 to a server that prefers h2 (undici itself would switch to h2)', async () => {
    // A committed test certificate for 127.0.0.1 (test/fixtures/tls/README.md): the unit lane needs no openssl CLI.
    const cert = readFileSync(new URL('../fixtures/tls/localhost-cert.pem', import.meta.url));
    const h2 = createSecureServer({ key: readFileSync(new URL('../fixtures/tls/localhost-key.pem', import.meta.url)), cert, allowHTTP1: true }, (req, res) =>
      res.end(req.httpVersion),
    );
    const url = await new Promise<string>((resolve) => h2.listen(0, '127.0.0.1', () => resolve(`https://127.0.0.1:${(h2.address() as AddressInfo).port}/`)));
    try {
      const versionVia = async (d: undici.Dispatcher) => {
        try {
          return await (await request(url, { method: 'GET', dispatcher: d })).body.text();
        } finally {
          await d.close();
        }
      };
      expect(await versionVia(new undici.Agent({ connect: { ca: cert } }))).toBe('2.0');
      expect(await versionVia(new Agent({ connect: { ca: cert } }))).toBe('1.1');
      expect(await versionVia(new Agent({ connect: { ca: cert }, allowH2: true }))).toBe('1.1');
    } finally {
      h2.close();
    }
  });

  it('request: method, path and query, body, status and headers, through the given dispatcher', async () => {
    const dispatcher = new Agent();
    try {
      const r = await request(`${base}/v1/edges?x=1`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' }, dispatcher });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toBe('application/json');
      expect(await r.body.json()).toEqual({ method: 'POST', url: '/v1/edges?x=1', body: '{"a":1}' });
      // undici's rule without a method: GET, or PUT with a body.
      expect(await (await request(`${base}/g`, { dispatcher })).body.json()).toMatchObject({ method: 'GET' });
      expect(await (await request(`${base}/p`, { body: 'x', dispatcher })).body.json()).toMatchObject({ method: 'PUT', body: 'x' });
    } finally {
      await dispatcher.close();
    }
  });

  it('EnvHttpProxyAgent sends through the proxy it was given', async () => {
    const dispatcher = new EnvHttpProxyAgent({ httpProxy: proxyUrl, httpsProxy: proxyUrl, noProxy: '' });
    try {
      const r = await request(`http://example.test/via?p=1`, { method: 'GET', dispatcher });
      expect(await r.body.json()).toEqual({ proxied: 'http://example.test/via?p=1' });
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses what it does not implement instead of guessing', async () => {
    await expect(request(`${base}/x`, { method: 'GET' })).rejects.toThrow(/pass a dispatcher/);
    const dispatcher = new Agent();
    try {
      await expect(request(`${base}/x`, { method: 'GET', dispatcher, path: '/y' } as never)).rejects.toThrow(/path option is not supported/);
      await expect(request('not a url', { method: 'GET', dispatcher })).rejects.toThrow(/Invalid URL/);
    } finally {
      await dispatcher.close();
    }
  });

  it('the build rejects a bundle that holds undici’s package entry, fetch or mocks', () => {
    const meta = (inputs: string[]) => ({ inputs: Object.fromEntries(inputs.map((i) => [i, { bytes: 1, imports: [] }])), outputs: {} });
    expect(
      fullUndiciInputs(meta(['node_modules/undici/lib/dispatcher/agent.js', 'node_modules/undici/lib/web/fetch/body.js', 'agent/api/undici-lean.ts'])),
    ).toEqual([]);
    expect(
      fullUndiciInputs(meta(['node_modules/undici/index.js', 'node_modules/undici/lib/web/fetch/index.js', 'node_modules/undici/lib/mock/mock-agent.js'])),
    ).toHaveLength(3);
  });
});
