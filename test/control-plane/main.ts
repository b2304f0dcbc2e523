#!/usr/bin/env node
/**
 * CLI of the control-plane EMULATOR (test code). See test/control-plane/README.md.
 *
 *   node test/control-plane/main.ts start [--state-dir D] [--listen ADDR] [--port N] ... [--foreground]
 *   node test/control-plane/main.ts info|stop|requests|edges|nodes|logs [--state-dir D]
 *   node test/control-plane/main.ts fault add <kind> [--endpoint E] [--times N] ...
 *   node test/control-plane/main.ts fault list|clear [ID]
 *   node test/control-plane/main.ts expire bootstrap-tokens|log-keys|join-tokens
 *   node test/control-plane/main.ts node-ready NODE True|False|Unknown [--reason R] [--message M] | NODE --clear
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { adminRequest } from './admin.ts';
import { parseArgs } from 'node:util';
import { ControlPlaneEmulator, type EmulatorInfo, type EmulatorOptions, type RequestRecord } from './emulator.ts';

const DEFAULT_STATE_DIR = path.join(process.env.TMPDIR ?? tmpdir(), 'edge-initd-emulator');
const here = new URL(import.meta.url).pathname;

const USAGE = `control-plane emulator (TEST CODE: a local stand-in for the Cast AI edge API)

usage: node test/control-plane/main.ts <command> [options]

commands:
  start            start in the background (or --foreground); prints the env lines below
  stop             stop the emulator recorded in the state dir
  info             print API_URL, CA file, API key, ids (--json for everything)
  requests         the request record (method, path, status, credential type; no secrets)
  edges | nodes | logs | konnectivity   registered edges, k0s-test-double joins, uploaded log events, 8132 connections
  fault add KIND   inject a fault: latency | 5xx | status | 401 | 403 | 429 | garbage | drop | truncate
                   | html-404 (nginx's HTML 404 page) | edge-not-found (the API's JSON EDGE_NOT_FOUND; --edge-id names another edge)
  fault list | fault clear [ID]
  expire WHAT      bootstrap-tokens | log-keys | join-tokens (as if their time ran out)
  node-ready NODE STATUS   set a joined node's Ready condition: True | False | Unknown
                   [--reason R] [--message M]; NODE --clear hands it back to the heartbeats
  node-objects     the v1 Node objects the kube listener serves (GET /api/v1/nodes/NAME)

common:   --state-dir DIR   (default ${DEFAULT_STATE_DIR})   --json
start:    --listen ADDR (127.0.0.1)  --advertise HOST  --san NAME (repeatable)
          --port N (0 = ephemeral)  --kube-port N (8443)  --konnectivity-port N (8132)
          --org ID --cluster ID --location ID --location-name N --region R --api-key K
          --dist DIR --installer-dir DIR --k0s-double FILE --k0s-version V --agent-version V
          --bootstrap-ttl SEC (3600) --log-key-ttl SEC (3600) --wg-endpoint HOST:PORT --wg-public-key KEY
          --foreground --verbose
fault add: --endpoint NAME ('*')  --method M  --times N  --ms N (latency)  --status N (5xx: 503, status)
           --retry-after SECONDS|HTTP-DATE  --body TEXT (garbage, html-404)  --message TEXT  --edge-id ID (edge-not-found)
endpoints: install-script artifact k0s-artifact register get-edge report-status delete-edge logs
           kube-join kube-heartbeat kube-version kube-node
`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`emulator: ${msg}\n`);
  process.exit(code);
}

function readInfo(stateDir: string): EmulatorInfo {
  const file = path.join(stateDir, 'emulator.json');
  if (!existsSync(file)) fail(`no emulator state in ${stateDir} (start one with: node test/control-plane/main.ts start --state-dir ${stateDir})`, 1);
  return JSON.parse(readFileSync(file, 'utf8')) as EmulatorInfo;
}

function admin(info: EmulatorInfo, method: string, sub: string, body?: unknown): Promise<unknown> {
  return adminRequest(info, method, sub, body);
}

function envLines(i: EmulatorInfo): string {
  return [
    `API_URL=${i.apiUrl}`,
    `SCRIPT_URL=${i.scriptUrl}`,
    `CA_FILE=${i.caFile}`,
    `API_KEY=${i.apiKey}`,
    `ORG_ID=${i.orgId}`,
    `CLUSTER_ID=${i.clusterId}`,
    `EDGE_LOCATION_ID=${i.locationId}`,
    `KUBE_API=${i.kubeApi}`,
    `KONNECTIVITY=${i.konnectivity}`,
    `STATE_DIR=${i.stateDir}`,
    `PID=${i.pid}`,
    '',
  ].join('\n');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<void> {
  const { values: o, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      listen: { type: 'string' },
      advertise: { type: 'string' },
      san: { type: 'string', multiple: true },
      port: { type: 'string' },
      'kube-port': { type: 'string' },
      'konnectivity-port': { type: 'string' },
      org: { type: 'string' },
      cluster: { type: 'string' },
      location: { type: 'string' },
      'location-name': { type: 'string' },
      region: { type: 'string' },
      'api-key': { type: 'string' },
      dist: { type: 'string' },
      'installer-dir': { type: 'string' },
      'k0s-double': { type: 'string' },
      'k0s-version': { type: 'string' },
      'agent-version': { type: 'string' },
      'bootstrap-ttl': { type: 'string' },
      'log-key-ttl': { type: 'string' },
      'wg-endpoint': { type: 'string' },
      'wg-public-key': { type: 'string' },
      foreground: { type: 'boolean', default: false },
      clear: { type: 'boolean', default: false },
      reason: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      endpoint: { type: 'string' },
      method: { type: 'string' },
      times: { type: 'string' },
      ms: { type: 'string' },
      status: { type: 'string' },
      'retry-after': { type: 'string' },
      body: { type: 'string' },
      message: { type: 'string' },
      'edge-id': { type: 'string' },
    },
  });
  const cmd = positionals[0];
  if (o.help || !cmd) {
    process.stdout.write(USAGE);
    return;
  }
  const stateDir = path.resolve(o['state-dir']);
  const int = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) fail(`--${name} must be a non-negative integer, got "${v}"`);
    return Number(v);
  };
  const print = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

  switch (cmd) {
    case 'start': {
      const stateFile = path.join(stateDir, 'emulator.json');
      if (existsSync(stateFile)) {
        const prev = JSON.parse(readFileSync(stateFile, 'utf8')) as EmulatorInfo;
        if (alive(prev.pid) && prev.pid !== process.pid) fail(`an emulator (pid ${prev.pid}) already runs with state dir ${stateDir}; stop it first`, 1);
      }
      if (!o.foreground) {
        // Re-run ourselves detached with --foreground, wait until the state file names the child.
        const { mkdirSync, rmSync } = await import('node:fs');
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
        rmSync(stateFile, { force: true });
        const logFd = openSync(path.join(stateDir, 'emulator.log'), 'a', 0o600);
        const child = spawn(process.execPath, [here, ...argv, '--foreground'], { detached: true, stdio: ['ignore', logFd, logFd] });
        child.unref();
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline) {
          if (existsSync(stateFile)) {
            const info = JSON.parse(readFileSync(stateFile, 'utf8')) as EmulatorInfo;
            if (info.pid === child.pid) {
              process.stdout.write(o.json ? `${JSON.stringify(info, null, 2)}\n` : envLines(info));
              return;
            }
          }
          if (child.exitCode !== null || !alive(child.pid as number)) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        fail(`the emulator did not start; see ${path.join(stateDir, 'emulator.log')}`, 1);
      }
      const opts: EmulatorOptions = { stateDir, verbose: Boolean(o.verbose) };
      const set = <K extends keyof EmulatorOptions>(k: K, v: EmulatorOptions[K] | undefined) => {
        if (v !== undefined) opts[k] = v;
      };
      set('listen', o.listen);
      set('advertise', o.advertise);
      set('sans', o.san);
      set('port', int('port', o.port));
      set('kubePort', int('kube-port', o['kube-port']) ?? 8443);
      set('konnectivityPort', int('konnectivity-port', o['konnectivity-port']) ?? 8132);
      set('orgId', o.org);
      set('clusterId', o.cluster);
      set('locationId', o.location);
      set('locationName', o['location-name']);
      set('region', o.region);
      set('apiKey', o['api-key']);
      set('distDir', o.dist ? path.resolve(o.dist) : undefined);
      set('installerDir', o['installer-dir'] ? path.resolve(o['installer-dir']) : undefined);
      set('k0sDouble', o['k0s-double'] ? path.resolve(o['k0s-double']) : undefined);
      set('k0sVersion', o['k0s-version']);
      set('agentVersion', o['agent-version']);
      set('bootstrapTtlSec', int('bootstrap-ttl', o['bootstrap-ttl']));
      set('logKeyTtlSec', int('log-key-ttl', o['log-key-ttl']));
      set('wgEndpoint', o['wg-endpoint']);
      set('wgPublicKey', o['wg-public-key']);
      const emu = new ControlPlaneEmulator(opts);
      const info = await emu.start();
      process.stdout.write(o.json ? `${JSON.stringify(info, null, 2)}\n` : envLines(info));
      const shutdown = () => {
        void emu.stop().then(() => process.exit(0));
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      return;
    }
    case 'stop': {
      const info = readInfo(stateDir);
      if (!alive(info.pid)) {
        process.stdout.write(`emulator pid ${info.pid} is not running\n`);
        return;
      }
      process.kill(info.pid, 'SIGTERM');
      const deadline = Date.now() + 10_000;
      while (alive(info.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(info.pid)) fail(`emulator pid ${info.pid} did not stop within 10 s`, 1);
      process.stdout.write(`stopped emulator pid ${info.pid}\n`);
      return;
    }
    case 'info': {
      const info = readInfo(stateDir);
      process.stdout.write(o.json ? `${JSON.stringify(info, null, 2)}\n` : envLines(info));
      return;
    }
    case 'requests': {
      const info = readInfo(stateDir);
      const recs = (await admin(info, 'GET', 'requests')) as RequestRecord[];
      if (o.json) return print(recs);
      for (const r of recs) {
        process.stdout.write(
          `${r.seq}\t${r.time}\t${r.method}\t${r.path}\t${r.status}\t${r.credential}${r.credentialValid === false ? '(rejected)' : ''}${r.fault ? `\tfault=${r.fault}` : ''}\n`,
        );
      }
      return;
    }
    case 'edges':
    case 'nodes':
    case 'node-objects':
    case 'konnectivity':
      return print(await admin(readInfo(stateDir), 'GET', cmd));
    case 'node-ready': {
      const node = positionals[1];
      if (!node) fail('node-ready needs NODE (see `nodes`) and True | False | Unknown, or --clear');
      const sub = `nodes/${encodeURIComponent(node)}/ready`;
      if (o.clear) return print(await admin(readInfo(stateDir), 'DELETE', sub));
      const status = positionals[2];
      if (!status || !['True', 'False', 'Unknown'].includes(status)) fail('node-ready NODE needs True | False | Unknown (or --clear)');
      return print(
        await admin(readInfo(stateDir), 'POST', sub, { status, ...(o.reason ? { reason: o.reason } : {}), ...(o.message ? { message: o.message } : {}) }),
      );
    }
    case 'logs': {
      const edges = (await admin(readInfo(stateDir), 'GET', 'edges')) as Array<{ name: string; logEvents: unknown[] }>;
      return print(edges.map((e) => ({ node: e.name, logEvents: e.logEvents })));
    }
    case 'expire': {
      const what = positionals[1];
      if (!what) fail('expire needs WHAT: bootstrap-tokens | log-keys | join-tokens');
      return print(await admin(readInfo(stateDir), 'POST', 'expire', { what }));
    }
    case 'fault': {
      const info = readInfo(stateDir);
      const sub = positionals[1];
      if (sub === 'list') return print(await admin(info, 'GET', 'faults'));
      if (sub === 'clear') {
        const id = positionals[2];
        return print(await admin(info, 'DELETE', id ? `faults/${int('id', id)}` : 'faults'));
      }
      if (sub !== 'add') fail('fault needs add | list | clear');
      const kind = positionals[2];
      const spec: Record<string, unknown> = {};
      switch (kind) {
        case 'latency':
          spec.kind = 'latency';
          spec.ms = int('ms', o.ms) ?? fail('fault add latency needs --ms N');
          break;
        case '5xx':
          spec.kind = 'status';
          spec.status = int('status', o.status) ?? 503;
          break;
        case 'status':
          spec.kind = 'status';
          spec.status = int('status', o.status) ?? fail('fault add status needs --status N');
          break;
        case '401':
        case '403':
        case '429':
          spec.kind = 'status';
          spec.status = Number(kind);
          if (kind === '429') spec.retryAfter = o['retry-after'] ?? '1';
          break;
        case 'garbage':
        case 'drop':
        case 'truncate':
        case 'html-404':
        case 'edge-not-found':
          spec.kind = kind;
          break;
        default:
          fail(`unknown fault kind "${kind}" (latency, 5xx, status, 401, 403, 429, garbage, drop, truncate, html-404, edge-not-found)`);
      }
      if (o['edge-id']) spec.edgeId = o['edge-id'];
      if (o.endpoint) spec.endpoint = o.endpoint;
      if (o.method) spec.method = o.method;
      const times = int('times', o.times);
      if (times !== undefined) spec.times = times;
      if (o['retry-after'] && spec.retryAfter === undefined) spec.retryAfter = o['retry-after'];
      if (o.body !== undefined) spec.body = o.body;
      if (o.message) spec.message = o.message;
      return print(await admin(info, 'POST', 'faults', spec));
    }
    default:
      fail(`unknown command "${cmd}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => fail((e as Error).message, 1));
