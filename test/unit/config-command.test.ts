import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import config from '../../agent/commands/config.ts';
import type { CommandContext } from '../../agent/commands/context.ts';
import { maskSecret } from '../../agent/config/mask.ts';
import { FakeHost } from '../../agent/host/fake.ts';

const ROOT = path.join(import.meta.dirname, '..', '..');
const fixture = (name: string) => readFileSync(path.join(ROOT, 'test', 'fixtures', name), 'utf8');

function ctx(host: FakeHost, env: NodeJS.ProcessEnv, extra: Partial<CommandContext> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const c: CommandContext = { host, env, json: false, out: (t) => void out.push(t), err: (t) => void err.push(t), ...extra };
  return { c, out, err, all: () => [...out, ...err].join('\n') };
}

const TOKEN = 'FAKE-bootstrap-token-SECRET-abcd1234';
const PROXY_PW = 'Pr0xy-pa55word-zzz';
const ENV = `API_URL=https://api.example.test/
ORG_ID=org-1
CLUSTER_ID=cluster-1
EDGE_LOCATION_ID=loc-1
INITD_BOOTSTRAP_TOKEN=${TOKEN}
INITD_KUBERNETES_LABELS=env=prod
INITD_KUBERNETES_TAINTS=dedicated=gpu:NoSchedule,spot:NoExecute
INITD_GPU_CONFIG={"mig":{"partitionSizes":["1g.5gb"]}}
HTTPS_PROXY=http://user:${PROXY_PW}@proxy.example.test:3128
NO_PROXY=localhost,.svc
`;

describe('castai-edge-initd config', () => {
  it('prints every variable with its source and exits 0; the token and proxy password never appear', async () => {
    const host = new FakeHost().setFile('/etc/extra.env', ENV, 0o600);
    const { c, out, all } = ctx(host, { INITD_LOG_LEVEL: 'debug' }, { envFile: '/etc/extra.env' });
    expect(await config(c, {})).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/API_URL\s+env-file\s+https:\/\/api\.example\.test\n/);
    expect(text).toMatch(/INITD_LOG_LEVEL\s+environment\s+debug/);
    expect(text).toMatch(/INITD_STATE_DIR\s+default\s+\/var\/lib\/castai-edge-initd/);
    expect(text).toMatch(/INITD_KUBERNETES_TAINTS\s+env-file\s+dedicated=gpu:NoSchedule,spot:NoExecute/);
    expect(text).toMatch(/NVME_DEVICES\s+-\s+\(unset: auto-discover all non-root NVMe disks\)/);
    expect(text).toMatch(/INITD_EXTRA_ENV_FILE\s+--env-file\s+\/etc\/extra.env/);
    expect(text).toMatch(/INITD_BOOTSTRAP_TOKEN\s+env-file\s+\*\*\*\*1234/);
    expect(text).toContain('http://user:****@proxy.example.test:3128');
    expect(text).toContain('OK: the configuration is valid.');
    expect(all()).not.toContain(TOKEN);
    expect(all()).not.toContain(TOKEN.slice(0, -4));
    expect(all()).not.toContain(PROXY_PW);
    expect(host.mutations()).toEqual([]);
  });

  it('--json: machine-readable, masked, with sources and warnings', async () => {
    const host = new FakeHost().setFile('/etc/extra.env', `${ENV}INITD_TAINTS=x\n`, 0o600);
    const { c, out, all } = ctx(host, {}, { envFile: '/etc/extra.env', json: true });
    expect(await config(c, {})).toBe(0);
    const doc = JSON.parse(out.join('\n')) as {
      ok: boolean;
      envFile: string;
      variables: Array<{ name: string; source: string | null; value: string | null; secret?: boolean }>;
      config: Record<string, unknown>;
      warnings: string[];
      missingForRegistration: string[];
    };
    expect(doc.ok).toBe(true);
    expect(doc.envFile).toBe('/etc/extra.env');
    const row = (n: string) => doc.variables.find((v) => v.name === n);
    expect(row('INITD_BOOTSTRAP_TOKEN')).toEqual({ name: 'INITD_BOOTSTRAP_TOKEN', source: 'env-file', value: '****1234', secret: true });
    expect(row('API_URL')).toEqual({ name: 'API_URL', source: 'env-file', value: 'https://api.example.test' });
    expect(row('INITD_CA_FILE')).toMatchObject({ source: null, value: null });
    expect(doc.config.bootstrapToken).toBe('****1234');
    expect(doc.config.taints).toEqual([
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'spot', effect: 'NoExecute' },
    ]);
    expect(doc.warnings.join('\n')).toContain('did you mean INITD_KUBERNETES_TAINTS?');
    expect(doc.missingForRegistration).toEqual([]);
    expect(all()).not.toContain(TOKEN);
    expect(all()).not.toContain(PROXY_PW);
  });

  it('says which registration variables are still missing (still exit 0)', async () => {
    const { c, out } = ctx(new FakeHost(), {});
    expect(await config(c, {})).toBe(0);
    expect(out.join('\n')).toContain('Not set yet (needed by `run` to register): ORG_ID, CLUSTER_ID, EDGE_LOCATION_ID, INITD_BOOTSTRAP_TOKEN.');
  });

  it('a bad env file exits 2, names each bad variable, and changes nothing on the host', async () => {
    const host = new FakeHost().setFile('/fx/bad.env', fixture('bad.env'));
    const { c, out, err } = ctx(host, {}, { envFile: '/fx/bad.env' });
    expect(await config(c, {})).toBe(2);
    expect(out).toEqual([]);
    const e = err.join('\n');
    expect(e).toMatch(/^configuration errors \(\d+\); nothing was changed on this host:/);
    for (const v of [
      'API_URL',
      'ORG_ID',
      'INITD_KUBERNETES_LABELS',
      'INITD_KUBERNETES_TAINTS',
      'INITD_GPU_CONFIG.mig.partitionSize',
      'HTTP_PROXY',
      'NVME_DEVICES',
      'INITD_LOG_LEVEL',
    ])
      expect(e).toContain(`✗ ${v}: `);
    expect(e).toContain('did you mean INITD_KUBERNETES_LABELS?'); // the warning about the typo rides along
    expect(e).toContain('then check with: castai-edge-initd config');
    expect(e).not.toContain('bad token with spaces');
    expect(host.mutations()).toEqual([]);
    expect(host.calls.filter((x) => x.kind === 'exec')).toEqual([]);
  });

  it('a bad env file with --json prints {ok:false, errors} and exits 2', async () => {
    const host = new FakeHost().setFile('/fx/bad.env', fixture('bad.env'));
    const { c, out } = ctx(host, {}, { envFile: '/fx/bad.env' });
    expect(await config(c, { json: true })).toBe(2);
    const doc = JSON.parse(out.join('\n')) as { ok: boolean; errors: Array<{ variable: string; item: string; message: string }> };
    expect(doc.ok).toBe(false);
    expect(doc.errors.length).toBeGreaterThanOrEqual(15);
    expect(doc.errors.every((p) => p.variable && p.message)).toBe(true);
    expect(host.mutations()).toEqual([]);
  });

  it('a missing env file exits 2 naming it', async () => {
    const { c, err } = ctx(new FakeHost(), { INITD_EXTRA_ENV_FILE: '/etc/missing.env' });
    expect(await config(c, {})).toBe(2);
    expect(err.join('\n')).toContain('INITD_EXTRA_ENV_FILE: env file "/etc/missing.env" does not exist');
  });
});

describe('masking', () => {
  it.each([
    ['', ''],
    ['short', '****'],
    ['exactly-15-char', '****'],
    ['sixteen-chars-ab', '****s-ab'],
    [TOKEN, '****1234'],
  ])('maskSecret(%j)', (input, want) => {
    expect(maskSecret(input)).toBe(want);
    if (input.length >= 6) expect(maskSecret(input)).not.toContain(input);
  });
});

describe('the real CLI from source', () => {
  const node = process.execPath;
  const run = (args: string[]) =>
    promisify(execFile)(node, [path.join(ROOT, 'agent', 'main.ts'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' } }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('config --env-file test/fixtures/example.env exits 0 and masks the token', async () => {
    const r = await run(['config', '--env-file', 'test/fixtures/example.env']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('dedicated=gpu:NoSchedule,spot:NoExecute');
    expect(r.stdout).not.toContain('FAKE-bootstrap-token-not-real-0000');
    expect(r.stdout).toMatch(/INITD_BOOTSTRAP_TOKEN\s+env-file\s+\*\*\*\*0000/);
  });

  it('config --env-file test/fixtures/bad.env exits 2', async () => {
    const r = await run(['config', '--env-file', 'test/fixtures/bad.env']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('✗ INITD_KUBERNETES_TAINTS: "dedicated=gpu:noschedule"');
  });
});
