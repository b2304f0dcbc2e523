/**
 * `node agent/main.ts doctor` on this real machine, with every network target
 * on loopback: the API on a closed port, the control plane on a port whose
 * SYNs go unanswered (so its probe hangs), konnectivity on a live listener.
 * Proves: the facts are reported truthfully, the whole process is bounded by
 * the deadline, and the exit code is 3 when an ERROR check fails.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stuckListener } from '../helpers/stuck-listener.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'agent/main.ts');

interface Run { code: number; stdout: string; stderr: string; ms: number }
function doctor(args: string[], env: Record<string, string>): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, 'doctor', ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr, ms: performance.now() - t0 });
      },
    );
  });
}

let dir: string;
let live: net.Server;
let livePort: number;
let closedPort: number;
let stuck: Awaited<ReturnType<typeof stuckListener>>;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'doctor-real-'));
  live = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  livePort = (live.address() as net.AddressInfo).port;
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  closedPort = (tmp.address() as net.AddressInfo).port;
  await new Promise((r) => tmp.close(r));
  stuck = await stuckListener();
  await fs.writeFile(
    path.join(dir, 'register.json'),
    JSON.stringify({ k0s: { apiEndpoint: `https://127.0.0.1:${stuck.port}`, konnectivityEndpoint: `127.0.0.1:${livePort}` } }),
    { mode: 0o600 },
  );
});
afterAll(async () => {
  stuck?.close();
  await new Promise((r) => live?.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

type Check = { name: string; status: string; message: string; severity: string; timedOut: boolean; durationMs: number };

describe('doctor on this machine', () => {
  it('reports the real facts, bounds the run by the deadline, and exits 3', async () => {
    const deadline = 1500;
    const r = await doctor(['--json', '--deadline', String(deadline)], { API_URL: `https://127.0.0.1:${closedPort}`, INITD_STATE_DIR: dir });
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as { ok: boolean; exitCode: number; durationMs: number; checks: Check[] };
    const get = (n: string) => doc.checks.find((c) => c.name === n)!;

    // The process, node start-up included, ends soon after the deadline although one probe hangs.
    expect(doc.durationMs).toBeLessThan(deadline + 500);
    expect(r.ms).toBeLessThan(deadline + 6000); // generous: node start-up on a loaded 2-core CI box

    expect(get('tcp-control-plane-8443')).toMatchObject({ status: 'fail' });
    expect(get('tcp-control-plane-8443').message).toMatch(/timed out after 1500 ms|ETIMEDOUT/);
    expect(get('tcp-konnectivity-8132')).toMatchObject({ status: 'pass', message: expect.stringContaining(`127.0.0.1:${livePort}`) });
    expect(get('tcp-api-443')).toMatchObject({ status: 'fail', message: `cannot connect to 127.0.0.1:${closedPort}: ECONNREFUSED` });
    expect(get('dns-api')).toMatchObject({ status: 'pass', message: '127.0.0.1 is an IP address; no DNS lookup needed' });
    expect(get('udp-wireguard-51840')).toMatchObject({ status: 'skip' });

    // Truthful host facts.
    const uid = process.getuid!();
    expect(get('root').status).toBe(uid === 0 ? 'pass' : 'fail');
    const arch = os.machine() === 'x86_64' ? 'amd64' : os.machine() === 'aarch64' ? 'arm64' : undefined;
    if (arch) expect(get('arch')).toMatchObject({ status: 'pass', message: `${arch} (uname -m: ${os.machine()})` });
    expect(get('kernel').message).toContain(os.release());
    const pid1 = (await fs.readFile('/proc/1/comm', 'utf8')).trim();
    expect(get('systemd')).toMatchObject(pid1 === 'systemd' ? { status: 'pass' } : { status: 'fail', message: `PID 1 is "${pid1}", not systemd` });

    expect(doc.ok).toBe(false);
    expect(doc.exitCode).toBe(3);
    expect(r.code).toBe(3);
  });

  it('prints the table by default', async () => {
    const r = await doctor(['--deadline', '800', '--skip', 'tcp-control-plane-8443'], { API_URL: `https://127.0.0.1:${livePort}`, INITD_STATE_DIR: dir });
    expect(r.stdout).toMatch(/^CHECK\s+STATUS\s+TIME\s+MESSAGE \/ FIX\n/);
    expect(r.stdout).toMatch(/\ntcp-control-plane-8443\s+SKIP\s+0 ms\s+skipped by --skip\n/);
    expect(r.stdout).toMatch(/\ntcp-api-443\s+PASS\s+\d+ ms\s+connected to 127\.0\.0\.1:\d+ in \d+ ms\n/);
    expect(r.stdout).toMatch(/\npreflight (OK|FAILED): \d+ passed/);
    expect([0, 3]).toContain(r.code);
  });

  it('exits 2 on an unknown --skip and on a bad env file', async () => {
    const a = await doctor(['--skip', 'nope'], { INITD_STATE_DIR: dir });
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('unknown check "nope"; valid names: root, kernel');
    const bad = path.join(dir, 'bad.env');
    await fs.writeFile(bad, 'API_URL=ftp://x\n', { mode: 0o600 });
    const b = await doctor(['--env-file', bad], {});
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('API_URL');
  });
});
