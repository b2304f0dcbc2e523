#!/usr/bin/env node
/**
 * The VM lab's control plane for the join e2e tests (TEST CODE). Runs INSIDE the lab network
 * namespace (started with `lab.spawnInNetns`), and holds, in one process:
 *
 *  - the control-plane EMULATOR (test/control-plane/emulator.ts) on the lab's host address, on the
 *    real ports 443 / 8443 / 8132 (the namespace is ours, nothing else binds there);
 *  - the WireGuard GATEWAY peer: wireguard-go over TUN (the CI kernel has no WireGuard module),
 *    UDP 51840, tunnel address 100.96.0.1/32. Its public key and endpoint go into every register
 *    response; every registered edge becomes a peer (its key, its /32) as soon as it registers, and
 *    is dropped once the edge is deleted;
 *  - with `--kube-impostor`: a TLS-intercepting middlebox on :8443 that presents a certificate from
 *    an unrelated CA. The emulator then listens on a second lab address (10.77.0.2) and advertises
 *    10.77.0.1; the API (443) and konnectivity (8132) ports are forwarded byte for byte, only 8443
 *    is the impostor. That is the "CA mismatch on the kube port" case.
 *
 * It prints `KEY=value` lines (the emulator's env lines plus GW_*), then `READY=1`. Every 200 ms it
 * writes `<state-dir>/snapshot.json` (edges, joined nodes, request record, konnectivity
 * connections) when something changed, so the test reads the record from the host file system
 * without a round trip into the namespace. No secret values are in the snapshot except what the
 * emulator's own records hold (none: fingerprints only).
 *
 *   node test/e2e/join-control-plane.ts --state-dir DIR [--kube-impostor]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { generatePrivateKey, publicKeyFromPrivate } from '../../agent/wireguard/keys.ts';
import { ControlPlaneEmulator } from '../control-plane/emulator.ts';

export const CP_HOST_IP = '10.77.0.1';
export const CP_INNER_IP = '10.77.0.2';
export const GW_TUNNEL_IP = '100.96.0.1';
export const GW_PORT = 51840;

const { values: o } = parseArgs({
  options: {
    'state-dir': { type: 'string' },
    'kube-impostor': { type: 'boolean', default: false },
  },
});
const stateDir = path.resolve(o['state-dir'] ?? fail('--state-dir is required'));
mkdirSync(stateDir, { recursive: true, mode: 0o700 });

function fail(msg: string): never {
  process.stderr.write(`join-control-plane: ${msg}\n`);
  process.exit(2);
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`, { cause: e });
  }
}

const children: ChildProcess[] = [];
const cleanups: Array<() => void> = [];
let stopping = false;
function shutdown(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 300).unref();
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

// ------------------------------------------------------------------ WireGuard gateway (wireguard-go)

async function startGateway(): Promise<{ iface: string; publicKey: string }> {
  // The UAPI socket /var/run/wireguard/<iface>.sock is not per namespace: a per-process name.
  const iface = `wgjoin${process.pid % 100000}`;
  const priv = generatePrivateKey();
  const keyFile = path.join(stateDir, 'gateway.key');
  writeFileSync(keyFile, `${priv}\n`, { mode: 0o600 });
  const wg = spawn('wireguard-go', ['-f', iface], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(wg);
  let wgErr = '';
  wg.stderr?.on('data', (d: Buffer) => (wgErr += d.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      run('ip', ['link', 'show', iface]);
      break;
    } catch {
      if (wg.exitCode !== null || Date.now() > deadline) throw new Error(`wireguard-go ${iface} did not come up: ${wgErr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  run('wg', ['set', iface, 'private-key', keyFile, 'listen-port', String(GW_PORT)]);
  run('ip', ['addr', 'add', `${GW_TUNNEL_IP}/32`, 'dev', iface]);
  run('ip', ['link', 'set', iface, 'mtu', '1380', 'up']);
  return { iface, publicKey: publicKeyFromPrivate(priv) };
}

/** Make the gateway's peers match the live edges (key → /32 address). */
function syncPeers(iface: string, emu: ControlPlaneEmulator, applied: Map<string, string>): void {
  const want = new Map<string, string>();
  for (const e of emu.edges.values()) {
    const key = e.request.wireguardPublicKey;
    if (e.phase === 'DELETED' || typeof key !== 'string') continue;
    want.set(key, e.address.split('/')[0]!);
  }
  for (const [key, ip] of want) {
    if (applied.get(key) === ip) continue;
    const old = applied.get(key);
    run('wg', ['set', iface, 'peer', key, 'allowed-ips', `${ip}/32`]);
    run('ip', ['route', 'replace', `${ip}/32`, 'dev', iface]);
    if (old && old !== ip) run('ip', ['route', 'del', `${old}/32`, 'dev', iface]);
    applied.set(key, ip);
  }
  for (const [key, ip] of applied) {
    if (want.has(key)) continue;
    run('wg', ['set', iface, 'peer', key, 'remove']);
    try {
      run('ip', ['route', 'del', `${ip}/32`, 'dev', iface]);
    } catch {
      /* gone with the peer */
    }
    applied.delete(key);
  }
}

// ------------------------------------------------------------------ the :8443 impostor (CA mismatch)

function forward(listenHost: string, port: number, toHost: string): net.Server {
  const srv = net.createServer((c) => {
    const up = net.connect(port, toHost);
    c.pipe(up).pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('error', end);
    up.on('error', end);
  });
  srv.listen(port, listenHost);
  return srv;
}

function impostorTls(port: number): tls.Server {
  const dir = path.join(stateDir, 'impostor');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = path.join(dir, 'impostor-ca.pem');
  const caKey = path.join(dir, 'impostor-ca.key');
  const key = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const crt = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'ext.cnf');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('openssl', [
    'req',
    '-x509',
    '-new',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    ca,
    '-days',
    '2',
    '-subj',
    '/CN=intercepting middlebox CA (test)',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  run('openssl', ['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${CP_HOST_IP}`]);
  writeFileSync(ext, `subjectAltName=IP:${CP_HOST_IP}\nextendedKeyUsage=serverAuth\n`);
  run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', crt, '-days', '2', '-extfile', ext]);
  const srv = tls.createServer({ key: readFileSync(key), cert: readFileSync(crt) }, (s) => {
    s.on('error', () => {});
    s.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  srv.on('tlsClientError', () => {});
  srv.listen(port, CP_HOST_IP);
  return srv;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const gw = await startGateway();
  const impostor = Boolean(o['kube-impostor']);
  if (impostor) {
    run('ip', ['addr', 'add', `${CP_INNER_IP}/32`, 'dev', 'br0']);
  }
  const emu = new ControlPlaneEmulator({
    stateDir,
    listen: impostor ? CP_INNER_IP : CP_HOST_IP,
    advertise: CP_HOST_IP,
    port: 443,
    kubePort: 8443,
    konnectivityPort: 8132,
    wgEndpoint: `${CP_HOST_IP}:${GW_PORT}`,
    wgPublicKey: gw.publicKey,
  });
  const info = await emu.start();
  cleanups.push(() => void emu.stop());
  if (impostor) {
    const servers = [forward(CP_HOST_IP, 443, CP_INNER_IP), forward(CP_HOST_IP, 8132, CP_INNER_IP), impostorTls(8443)];
    cleanups.push(() => servers.forEach((s) => s.close()));
  }

  const applied = new Map<string, string>();
  let last = '';
  const tick = () => {
    try {
      syncPeers(gw.iface, emu, applied);
    } catch (e) {
      process.stderr.write(`join-control-plane: peer sync: ${(e as Error).message}\n`);
    }
    const snap = JSON.stringify({
      edges: [...emu.edges.values()],
      nodes: [...emu.nodes.values()],
      requests: emu.requests,
      konnectivity: emu.konnectivityConnections,
      peers: Object.fromEntries(applied),
    });
    if (snap !== last) {
      const f = path.join(stateDir, 'snapshot.json');
      writeFileSync(`${f}.tmp`, snap, { mode: 0o600 });
      renameSync(`${f}.tmp`, f);
      last = snap;
    }
  };
  tick();
  setInterval(tick, 200);

  const lines = {
    API_URL: info.apiUrl,
    SCRIPT_URL: info.scriptUrl,
    CA_FILE: info.caFile,
    CLUSTER_CA_FILE: info.clusterCaFile,
    API_KEY: info.apiKey,
    ORG_ID: info.orgId,
    CLUSTER_ID: info.clusterId,
    EDGE_LOCATION_ID: info.locationId,
    KUBE_API: info.kubeApi,
    KONNECTIVITY: info.konnectivity,
    STATE_DIR: info.stateDir,
    GW_IFACE: gw.iface,
    GW_PUBLIC_KEY: gw.publicKey,
    GW_ENDPOINT: `${CP_HOST_IP}:${GW_PORT}`,
    GW_TUNNEL_IP,
    IMPOSTOR_CA_FILE: impostor ? path.join(stateDir, 'impostor', 'impostor-ca.pem') : '',
    IMPOSTOR_CERT_FILE: impostor ? path.join(stateDir, 'impostor', 'server.pem') : '',
  };
  process.stdout.write(`${Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n')}\nREADY=1\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`join-control-plane: ${(e as Error).stack ?? String(e)}\n`);
  shutdown(1);
});
