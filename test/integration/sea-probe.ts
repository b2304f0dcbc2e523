/**
 * SEA probe: a tiny program built by test/integration/binary.test.ts with the
 * same pipeline as the agent (scripts/build.ts: esbuild CJS bundle -> SEA blob
 * -> postject). It loads each runtime dependency the way the agent does (lazily,
 * with dynamic import) and really uses it, then prints one JSON object. It
 * proves that execa (ESM), pino (no transports), systeminformation, undici and
 * dotenv work inside a single executable, with and without code cache.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';

async function probe(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { sea: false };
  try {
    const sea = await import('node:sea');
    out.sea = sea.isSea();
  } catch {
    out.sea = false;
  }

  const { execa } = await import('execa');
  const r = await execa('sh', ['-c', 'printf "%s" "$PROBE_IN"; cat'], { input: 'stdin-ok', env: { PROBE_IN: 'env-ok ' }, reject: false });
  out.execa = { exitCode: r.exitCode, stdout: r.stdout };

  const { default: pino } = await import('pino');
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ redact: ['token'], base: null }, sink);
  logger.info({ token: 'sekret-value', step: 'probe' }, 'hello from pino');
  const rec = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  out.pino = { msg: rec.msg, token: rec.token, step: rec.step };

  const si = await import('systeminformation');
  const os = await si.osInfo();
  const mem = await si.mem();
  out.systeminformation = { platform: os.platform, arch: os.arch, memTotalPositive: mem.total > 0 };

  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, method: req.method }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    // As the agent uses it: an explicit dispatcher (the build bundles 'undici' to agent/api/undici-lean.ts).
    const { Agent, request } = await import('undici');
    const dispatcher = new Agent();
    const resp = await request(`http://127.0.0.1:${port}/probe?x=1`, { method: 'POST', body: 'b', dispatcher });
    out.undici = { status: resp.statusCode, body: await resp.body.json() };
    await dispatcher.close();
  } finally {
    server.close();
  }

  const dotenv = await import('dotenv');
  out.dotenv = dotenv.parse('A=1\n# comment\nB="two words"\nC=\'x=y\'\n');

  const { Command } = await import('commander');
  let seen = '';
  const cmd = new Command('probe').exitOverride();
  cmd.command('hi').argument('<who>').action((who: string) => void (seen = who));
  await cmd.parseAsync(['node', 'probe', 'hi', 'commander-ok']);
  out.commander = seen;
  return out;
}

probe().then(
  (o) => process.stdout.write(`${JSON.stringify(o)}\n`),
  (e: unknown) => {
    process.stderr.write(`probe failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);
