/**
 * The VM lab's network is confined (issue 3): guests reach the host-side services the test
 * starts inside the lab namespace (TCP and UDP, both ways) and each other, and nothing else —
 * not the host's real address, not a public address. Two VMs boot in parallel.
 * Run alone: node node_modules/vitest/vitest.mjs run --project e2e test/e2e/lab-network.test.ts
 */
import net from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { LAB_HOST_IP, Lab, labGuestIp, type LabProcess, type Vm } from './lab.ts';

let lab: Lab;
let vm1: Vm;
let vm2: Vm;
let services: LabProcess;
let outside: net.Server;
let outsidePort = 0;
let outsideHits = 0;

// Host-side test services, run INSIDE the lab namespace with the pinned node:
// an HTTP server on 8080 and a UDP echo on 51840 (the WireGuard gateway's port), both on the lab address.
const SERVICES = `
const http = require('node:http'), dgram = require('node:dgram');
http.createServer((q, r) => r.end('lab-service ' + q.socket.remoteAddress + '\\n')).listen(8080, '${LAB_HOST_IP}', () => console.log('http up'));
const u = dgram.createSocket('udp4');
u.on('message', (m, from) => u.send(Buffer.concat([Buffer.from('echo '), m]), from.port, from.address));
u.bind(51840, '${LAB_HOST_IP}', () => console.log('udp up'));
`;

/** An IPv4 address of this machine outside loopback (its "real" address). */
function hostRealIp(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

beforeAll(async () => {
  lab = await Lab.create({ name: 'network' });
  services = lab.spawnInNetns(process.execPath, ['-e', SERVICES]);
  // A listener in the HOST namespace on every address: reachable from here over loopback, and
  // exactly what a guest must NOT reach through the host's real address.
  outside = net.createServer((s) => {
    outsideHits++;
    s.end('host\n');
  });
  await new Promise<void>((r) => outside.listen(0, '0.0.0.0', r));
  outsidePort = (outside.address() as net.AddressInfo).port;
  [vm1, vm2] = (await lab.boot([{ cpus: 1 }, { cpus: 1 }])) as [Vm, Vm];
  await services.waitForOutput(/udp up/);
  await services.waitForOutput(/http up/);
});

afterAll(async () => {
  outside?.close();
  await lab?.close();
});

function diagnoseOnFailure(): void {
  onTestFailed(async ({ task }) => {
    await lab.collectDiagnostics(task.name);
  });
}

describe('lab network', () => {
  it('gives each guest its fixed lab address', async () => {
    diagnoseOnFailure();
    expect(vm1.ip).toBe(labGuestIp(0));
    expect(vm2.ip).toBe(labGuestIp(1));
    expect(await vm1.sh('ip -4 -o addr show dev eth0')).toContain(`inet ${labGuestIp(0)}/24`);
    expect(await vm2.sh('ip route show default')).toContain(`default via ${LAB_HOST_IP}`);
  });

  it('lets guests reach host-side services in the lab namespace over TCP and UDP', async () => {
    diagnoseOnFailure();
    expect(await vm1.sh(`curl -sS --max-time 10 http://${LAB_HOST_IP}:8080/`)).toBe(`lab-service ${vm1.ip}\n`);
    expect(await vm2.sh(`curl -sS --max-time 10 http://${LAB_HOST_IP}:8080/`)).toBe(`lab-service ${vm2.ip}\n`);
    // UDP both ways on 51840: bash's /dev/udp is a connected socket, so the echo comes back on it.
    const udp = await vm1.sh(`exec 5<>/dev/udp/${LAB_HOST_IP}/51840; printf ping >&5; IFS= read -r -t 10 -N 9 reply <&5; echo "$reply"`);
    expect(udp.trim()).toBe('echo ping');
    // And the namespace side can reach the guest (what a WireGuard gateway needs).
    const ping = await lab.hostExec('ping', ['-c', '1', '-W', '5', vm2.ip!]);
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
  });

  it('lets guests reach each other on the lab bridge', async () => {
    diagnoseOnFailure();
    expect((await vm1.exec(`ping -c 1 -W 5 ${vm2.ip}`)).exitCode).toBe(0);
  });

  it("blocks the host's real address and public addresses", async () => {
    diagnoseOnFailure();
    // The host-namespace listener works (over loopback, from the test process).
    const viaLoopback = await new Promise<string>((resolve, reject) => {
      const s = net.connect(outsidePort, '127.0.0.1');
      let d = '';
      s.on('data', (b) => (d += b.toString()));
      s.on('end', () => resolve(d));
      s.on('error', reject);
    });
    expect(viaLoopback).toBe('host\n');
    const hitsBefore = outsideHits;

    const real = hostRealIp();
    expect(real, 'this machine has a non-loopback IPv4 address').toBeDefined();
    for (const target of [`http://${real}:${outsidePort}/`, 'http://1.1.1.1/', `http://${real}:22/`]) {
      const r = await vm1.exec(`curl -sS --max-time 3 ${target}`);
      expect(r.exitCode, `guest reached ${target}: ${r.stdout}`).not.toBe(0);
    }
    const icmp = await vm2.exec('ping -c 1 -W 2 1.1.1.1');
    expect(icmp.exitCode).not.toBe(0);
    expect(outsideHits).toBe(hitsBefore);
  });

  it('has no way out of the lab namespace: no uplink, no route, no forwarding', async () => {
    diagnoseOnFailure();
    const links = await lab.hostExec('ip', ['-o', 'link', 'show']);
    const names = links.stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]);
    expect(names.sort()).toEqual(['br0', 'lo', 'tap0', 'tap1']);
    const routes = await lab.hostExec('ip', ['-4', 'route', 'show']);
    expect(routes.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^10\.77\.0\.0\/24 dev br0 /)]);
    expect((await lab.hostExec('cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('0');
    // Host-side services are confined too: from the namespace the real address is unreachable.
    const fromNs = await lab.hostExec(process.execPath, [
      '-e',
      `require('node:net').connect(${outsidePort}, '${hostRealIp()}').on('connect', () => process.exit(0)).on('error', (e) => { console.log(e.code); process.exit(1); })`,
    ]);
    expect(fromNs.exitCode).toBe(1);
    expect(fromNs.stdout.trim()).toBe('ENETUNREACH');
  });
});
