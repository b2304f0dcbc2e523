/**
 * `make bench` module: doctor_blackholed_ratio — wall time of the BUILT binary
 * `dist/castai-edge-initd-linux-amd64 doctor --deadline D` with every endpoint
 * blackholed, divided by D (target <= 1.2).
 *
 * The blackhole never leaves this machine: two network namespaces made here,
 * "agent" and "sink", joined by a veth pair (198.19.255.1/30 - .2/30). In the
 * agent namespace 198.18.0.0/24 (RFC 2544 benchmarking range) is routed to the
 * sink, which has forwarding off and none of those addresses, so it drops
 * every packet silently: a TCP SYN or a DNS query simply never gets an answer.
 * `ip netns exec` bind-mounts /etc/netns/<agent>/resolv.conf (nameserver
 * 198.18.0.53, blackholed) and hosts (localhost only) over /etc/ for the
 * binary. register.json in a temp INITD_STATE_DIR names the control plane
 * 198.18.0.2:8443 and konnectivity 198.18.0.3:8132, and a join token whose
 * server is 198.18.0.2:8443 (CA from test/fixtures/k0s).
 *
 * Two variants, median of RUNS each: API_URL by name (the DNS lookup hangs)
 * and by address (the TCP/TLS connects hang). The key is the worse median.
 * Without root, `ip` or the built binary the key is left out (never guessed).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'dist/castai-edge-initd-linux-amd64');
const DEADLINE_MS = Number(process.env.BENCH_DOCTOR_DEADLINE_MS ?? 2000);
const RUNS = Number(process.env.BENCH_DOCTOR_RUNS ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

function prerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('needs root (network namespaces)');
  if (!existsSync(BIN)) missing.push(`${path.relative(ROOT, BIN)} not built (make build)`);
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    missing.push('`ip` (iproute2) not found');
  }
  return missing;
}

/** A join token (base64(gzip(kubeconfig))) for the blackholed control plane, with the fixture CA. */
function blackholedJoinToken(): string {
  const kubeconfig = readFileSync(path.join(ROOT, 'test/fixtures/k0s/worker-token.kubeconfig.yaml'), 'utf8').replace(/server: \S+/, 'server: https://198.18.0.2:8443');
  return gzipSync(Buffer.from(kubeconfig)).toString('base64');
}

class Blackhole {
  readonly agent = `bh-agent-${process.pid}`;
  readonly sink = `bh-sink-${process.pid}`;
  readonly etc = `/etc/netns/${this.agent}`;
  setup(): void {
    ip('netns', 'add', this.agent);
    ip('netns', 'add', this.sink);
    ip('link', 'add', 'bhv0', 'netns', this.agent, 'type', 'veth', 'peer', 'name', 'bhv1', 'netns', this.sink);
    ip('-n', this.agent, 'addr', 'add', '198.19.255.1/30', 'dev', 'bhv0');
    ip('-n', this.sink, 'addr', 'add', '198.19.255.2/30', 'dev', 'bhv1');
    ip('-n', this.agent, 'link', 'set', 'lo', 'up');
    ip('-n', this.agent, 'link', 'set', 'bhv0', 'up');
    ip('-n', this.sink, 'link', 'set', 'bhv1', 'up');
    ip('-n', this.agent, 'route', 'add', '198.18.0.0/24', 'via', '198.19.255.2');
    ip('netns', 'exec', this.sink, 'sysctl', '-qw', 'net.ipv4.conf.all.forwarding=0');
    mkdirSync(this.etc, { recursive: true });
    writeFileSync(path.join(this.etc, 'resolv.conf'), 'nameserver 198.18.0.53\noptions timeout:5 attempts:2\n');
    writeFileSync(path.join(this.etc, 'hosts'), '127.0.0.1 localhost\n');
  }
  cleanup(): void {
    for (const ns of [this.agent, this.sink]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* not created */
      }
    }
    rmSync(this.etc, { recursive: true, force: true });
  }
}

interface DoctorRun {
  ms: number;
  exitCode: number | null;
  report?: { checks?: Array<{ name: string; status: string; message?: string }> };
}

function runDoctor(ns: string, apiUrl: string, stateDir: string): Promise<DoctorRun> {
  return new Promise((resolve, reject) => {
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', API_URL: apiUrl, INITD_STATE_DIR: stateDir };
    const t0 = performance.now();
    const child = spawn('ip', ['netns', 'exec', ns, BIN, 'doctor', '--json', '--deadline', String(DEADLINE_MS)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS * 10 + 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      const ms = performance.now() - t0;
      try {
        resolve({ ms, exitCode: code, report: JSON.parse(out) as DoctorRun['report'] });
      } catch {
        reject(new Error(`doctor printed no JSON (exit ${code}): ${(err || out).slice(0, 500)}`));
      }
    });
  });
}

export default async function doctorBench(): Promise<Record<string, unknown>> {
  const missing = prerequisites();
  if (missing.length) {
    process.stderr.write(`bench doctor: skipped (${missing.join('; ')})\n`);
    return {};
  }
  const bh = new Blackhole();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-doctor-'));
  // Interrupted (Ctrl-C, make killed): still remove the namespaces.
  const onSignal = (sig: NodeJS.Signals) => {
    bh.cleanup();
    rmSync(dir, { recursive: true, force: true });
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    bh.setup();
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    writeFileSync(
      path.join(stateDir, 'register.json'),
      JSON.stringify({ k0s: { apiEndpoint: 'https://198.18.0.2:8443', konnectivityEndpoint: '198.18.0.3:8132', joinToken: blackholedJoinToken() } }),
      { mode: 0o600 },
    );
    const variants = { by_name: 'https://api.blackhole.test', by_address: 'https://198.18.0.1' } as const;
    const medians: Record<string, number> = {};
    const timedOut: Record<string, string[]> = {};
    for (const [name, url] of Object.entries(variants)) {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const r = await runDoctor(bh.agent, url, stateDir);
        // Sanity: the network checks really waited on the blackhole (failed, not passed or skipped).
        const net = (r.report?.checks ?? []).filter((c) => /^(dns|tcp|tls)-/.test(c.name));
        const stuck = net.filter((c) => /timed out|ETIMEDOUT|deadline/i.test(c.message ?? ''));
        if (!stuck.length) throw new Error(`bench doctor (${name}): no network check timed out; not blackholed? ${JSON.stringify(net).slice(0, 600)}`);
        timedOut[name] = stuck.map((c) => c.name);
        times.push(r.ms);
      }
      medians[name] = median(times);
    }
    const worst = Math.max(...Object.values(medians));
    return {
      doctor_blackholed_ratio: Math.round((worst / DEADLINE_MS) * 1000) / 1000,
      doctor_blackholed_deadline_ms: DEADLINE_MS,
      doctor_blackholed_ms: Object.fromEntries(Object.entries(medians).map(([k, v]) => [k, Math.round(v)])),
      doctor_blackholed_timed_out_checks: timedOut,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    bh.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Allow `node scripts/bench/doctor.ts` on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await doctorBench())}\n`);
}
