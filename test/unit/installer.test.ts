import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INSTALLER_KEYS, renderInstaller, type InstallerValues } from '../../installer/render.ts';

const values = Object.fromEntries(
  INSTALLER_KEYS.map((k) => [k, k.startsWith('SHA256') ? 'a'.repeat(64) : k.startsWith('URL') ? `https://127.0.0.1:9443/${k.toLowerCase()}` : `value-${k.toLowerCase()}`]),
) as InstallerValues;
values.API_URL = 'https://127.0.0.1:9443';
values.AGENT_VERSION = '0.1.0-gabcdef0';

function tmpScript(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'installer-test-'));
  const p = path.join(dir, 'install.sh');
  writeFileSync(p, text);
  return p;
}

describe('installer template', () => {
  it('fills every placeholder, including the embedded uninstall script', () => {
    const text = renderInstaller(values);
    expect(text).not.toMatch(/@@[A-Z0-9_]+@@/);
    expect(text).toContain('local API_URL="https://127.0.0.1:9443"');
    expect(text).toContain(readFileSync('installer/uninstall.sh', 'utf8').trimEnd());
  });

  it('refuses a missing value and an unsafe one, naming the key', () => {
    const { ORG_ID: _drop, ...missing } = values;
    expect(() => renderInstaller(missing as InstallerValues)).toThrow(/ORG_ID is missing/);
    expect(() => renderInstaller({ ...values, CLUSTER_ID: 'a"; rm -rf /' })).toThrow(/CLUSTER_ID .* must be an ID/);
    expect(() => renderInstaller({ ...values, CLUSTER_ID: '$(id)' })).toThrow(/CLUSTER_ID/);
  });

  // shellcheck (an apt tool) on the template and the rendered script: test/integration/shellcheck.test.ts.
  it('is valid bash (template and rendered)', () => {
    const rendered = tmpScript(renderInstaller(values));
    for (const f of ['installer/install.sh', 'installer/uninstall.sh', rendered]) expect(spawnSync('bash', ['-n', f]).status, f).toBe(0);
  });

  it('carries exactly systemd/castai-edge-initd.service as its unit', () => {
    const script = tmpScript(renderInstaller(values));
    const unit = execFileSync('bash', ['-c', `source <(sed '$d' ${script}); installer_unit_file`], { encoding: 'utf8' });
    expect(unit).toBe(readFileSync('systemd/castai-edge-initd.service', 'utf8'));
  });

  it('the unfilled template refuses to run', () => {
    const r = spawnSync('bash', ['installer/install.sh'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unfilled installer template/);
  });

  it('a JSON error body piped into bash fails at once and does nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'installer-json-'));
    const body = '{"code":16,"message":"invalid API key","details":[]}\n';
    const r = spawnSync('bash', [], { input: body, cwd: dir, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  it('a truncated download executes nothing (everything is inside main)', () => {
    const full = renderInstaller(values);
    for (const cut of [0.25, 0.5, 0.9, 0.999]) {
      const text = full.slice(0, Math.floor(full.length * cut));
      const r = spawnSync('/bin/bash', [], { input: text, encoding: 'utf8', env: { PATH: '/nonexistent' } });
      expect(r.error).toBeUndefined();
      expect(r.stdout, `cut at ${cut}`).not.toMatch(/castai-edge-initd-install/);
      expect(r.stderr, `cut at ${cut}`).not.toMatch(/castai-edge-initd-install/);
    }
  });

  it.runIf(!existsSync('/run/systemd/system'))('on a host without systemd it stops before touching anything', () => {
    const script = tmpScript(renderInstaller(values));
    const r = spawnSync('bash', [script], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/systemd is not the init system/);
    expect(existsSync('/usr/local/bin/castai-edge-initd')).toBe(false);
    expect(existsSync('/etc/castai-edge-initd')).toBe(false);
  });
});

// ------------------------------------------------------------------ issue 15 item 4: each value by its own rule

/** Values that must be refused, per key (each one would break out of a quoting context, or is simply not that kind of value). */
const BAD: Array<[keyof InstallerValues, string]> = [
  ['API_URL', 'http://api.example'],
  ['API_URL', 'https://api.example/"; id; "'],
  ['API_URL', "https://api.example/'x"],
  ['API_URL', 'https://api.example/$(id)'],
  ['API_URL', 'https://api.example/`id`'],
  ['API_URL', 'https://api.example/\nid'],
  ['API_URL', 'https://user:pw@api.example'],
  ['API_URL', 'https://api.example?x=1'],
  ['ORG_ID', 'a"b'],
  ['ORG_ID', "a'b"],
  ['ORG_ID', '$(id)'],
  ['ORG_ID', '../etc'],
  ['ORG_ID', 'a b'],
  ['ORG_ID', 'x'.repeat(129)],
  ['CLUSTER_ID', 'c1\\'],
  ['EDGE_LOCATION_ID', 'loc`id`'],
  ['BOOTSTRAP_TOKEN', "tok'en-0123456789"],
  ['BOOTSTRAP_TOKEN', 'tok"en-0123456789'],
  ['BOOTSTRAP_TOKEN', 'tok$en-0123456789'],
  ['BOOTSTRAP_TOKEN', 'token with spaces 0123'],
  ['BOOTSTRAP_TOKEN', 'token-0123456789\nX-Evil: 1'],
  ['BOOTSTRAP_TOKEN', 'token-0123456789\r'],
  ['BOOTSTRAP_TOKEN', 'short'],
  ['BOOTSTRAP_TOKEN', 'tok=en-0123456789'],
  ['AGENT_VERSION', '1.0'],
  ['AGENT_VERSION', '0.1.0;reboot'],
  ['AGENT_VERSION', "0.1.0'x"],
  ['URL_AMD64_XZ', 'http://dl.example/agent.xz'],
  ['URL_AMD64_GZ', 'ftp://dl.example/agent.gz'],
  ['URL_ARM64_XZ', 'https://dl.example/a b.xz'],
  ['URL_ARM64_GZ', "https://dl.example/a'b.gz"],
  ['URL_AMD64_XZ', 'https://dl.example/$HOME.xz'],
  ['URL_AMD64_XZ', 'https://dl.example/a!b.xz'],
  ['URL_AMD64_XZ', 'https://dl.example/a\\b.xz'],
  ['URL_AMD64_XZ', 'https://u:p@dl.example/a.xz'],
  ['URL_AMD64_XZ', '-o/etc/passwd'],
  ['SHA256_AMD64_XZ', 'A'.repeat(64)],
  ['SHA256_AMD64_GZ', 'a'.repeat(63)],
  ['SHA256_ARM64_XZ', 'g'.repeat(64)],
  ['SHA256_ARM64_GZ', `${'a'.repeat(64)}\n`],
];

describe('installer values: each by its own rule', () => {
  it.each(BAD)('refuses %s = %j, naming the key', (key, bad) => {
    expect(() => renderInstaller({ ...values, [key]: bad })).toThrow(new RegExp(`installer value ${key}\\b`));
  });

  it('never echoes the bootstrap token in its error', () => {
    const secret = "cebt_secret-value-'0123456789";
    try {
      renderInstaller({ ...values, BOOTSTRAP_TOKEN: secret });
      expect.unreachable();
    } catch (e) {
      expect(String(e)).not.toContain('secret-value');
    }
  });

  it('accepts what the emulator serves (UUID IDs, base64url tokens, 64-hex sha256s, https URLs with ports)', () => {
    expect(() =>
      renderInstaller({
        ...values,
        API_URL: 'https://10.77.0.1:443', // the lab emulator's, with the default port spelled out
        ORG_ID: '3f1c2b9e-6a41-4d2f-9a51-0c7d5e8f1a22',
        BOOTSTRAP_TOKEN: 'cebt_Zm9vYmFyLWJhei0xMjM0NTY3ODkwLV9hYmM',
        URL_AMD64_XZ: 'https://10.77.0.1:443/omni-provisioner/v1beta/artifacts/castai-edge-initd-linux-amd64.xz?sig=a%2Fb&x=1',
      }),
    ).not.toThrow();
  });
});

/**
 * Renders the installer with `v`, then lets bash evaluate the two places the values land: the
 * `local X="…"` lines of main (as bash parses them) and the unit's env file written by the
 * installer's own installer_unit_env, sourced by a clean root-like bash (`set -a; . file`).
 * Returns what bash got, per key, from each.
 */
function bashSees(v: InstallerValues): { script: Record<string, string>; envFile: Record<string, string> } {
  const text = renderInstaller(v);
  const dir = mkdtempSync(path.join(tmpdir(), 'installer-inert-'));
  const script = path.join(dir, 'install.sh');
  writeFileSync(script, text);
  const locals = text.split('\n').filter((l) => /^ {2}local (API_URL|ORG_ID|CLUSTER_ID|EDGE_LOCATION_ID|BOOTSTRAP_TOKEN|AGENT_VERSION|URL_\w+)=/.test(l));
  expect(locals).toHaveLength(10);
  const names = INSTALLER_KEYS.join(' ');
  const r = spawnSync(
    'bash',
    [
      '-c',
      [
        'set -u',
        'D="$2"',
        `source <(sed '$d' "$1")`,
        'die() { echo "die: $*" >&2; exit 99; }',
        'probe() {',
        ...locals,
        '  local extra_src="" EXTRA_ENV=/nonexistent',
        `  for k in ${names}; do printf '%s=%s\\0' "$k" "\${!k}"; done > "$D/script.out"`,
        '  installer_unit_env > "$D/unit.env"',
        '}',
        'probe',
        `env -i bash -c 'set -a; . "$1"; set +a; for k in API_URL ORG_ID CLUSTER_ID EDGE_LOCATION_ID INITD_BOOTSTRAP_TOKEN; do printf "%s=%s\\0" "$k" "\${!k}"; done' _ "$2/unit.env" > "$2/env.out"`,
      ].join('\n'),
      '_',
      script,
      dir,
    ],
    // stdin not a socket: bash would take itself for an rshd child and read ~/.bashrc.
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
  );
  expect(r.status, r.stderr).toBe(0);
  const parse = (f: string) =>
    Object.fromEntries(
      readFileSync(path.join(dir, f), 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
  return { script: parse('script.out'), envFile: parse('env.out') };
}

describe('rendered values stay inert (property)', () => {
  const chars = (s: string) => fc.string({ unit: fc.constantFrom(...s), minLength: 1, maxLength: 40 });
  const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const id = fc.tuple(fc.constantFrom(...alnum), fc.string({ unit: fc.constantFrom(...`${alnum}._-`), maxLength: 60 })).map(([a, b]) => a + b);
  const token = fc
    .tuple(fc.string({ unit: fc.constantFrom(...`${alnum}-._~+/`), minLength: 8, maxLength: 80 }), fc.constantFrom('', '=', '=='))
    .map(([a, b]) => a + b);
  const url = fc.tuple(fc.constantFrom('dl.example', '10.0.0.1:8443', '[fd00::1]'), chars(`${alnum}._~:/?#[]@&+,;=%-`)).map(([h, p]) => `https://${h}/${p}`);
  const sha = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
  const version = fc
    .tuple(fc.nat(99), fc.nat(99), fc.nat(99), fc.option(chars(`${alnum}.+-`), { nil: undefined }))
    .map(([a, b, c, d]) => `${a}.${b}.${c}${d ? `-${d}` : ''}`);

  it('any value each rule allows reaches bash exactly as given, in the script and in the env file root sources', () => {
    fc.assert(
      fc.property(id, id, id, token, version, url, sha, (org, cluster, loc, tok, ver, u, h) => {
        const v: InstallerValues = {
          ...values,
          ORG_ID: org,
          CLUSTER_ID: cluster,
          EDGE_LOCATION_ID: loc,
          BOOTSTRAP_TOKEN: tok,
          AGENT_VERSION: ver,
          URL_AMD64_XZ: u,
          URL_ARM64_GZ: u,
          SHA256_AMD64_XZ: h,
        };
        let rendered = true;
        try {
          renderInstaller(v);
        } catch {
          rendered = false; // e.g. a random URL path that does not parse as a URL: refused, fine
        }
        fc.pre(rendered);
        const seen = bashSees(v);
        for (const k of INSTALLER_KEYS) expect(seen.script[k], k).toBe(v[k]);
        expect(seen.envFile).toEqual({ API_URL: v.API_URL, ORG_ID: org, CLUSTER_ID: cluster, EDGE_LOCATION_ID: loc, INITD_BOOTSTRAP_TOKEN: tok });
      }),
      { numRuns: 25 },
    );
  });

  it('an arbitrary string is either refused or inert (never a quote, $, backtick, backslash, space or control character)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...INSTALLER_KEYS), fc.string({ unit: 'binary', maxLength: 80 }), (key, raw) => {
        const v = { ...values, [key]: raw };
        let ok = true;
        try {
          renderInstaller(v);
        } catch {
          ok = false;
        }
        // eslint-disable-next-line no-control-regex -- no control character may reach the rendered script
        if (ok) expect(raw).not.toMatch(/["'`$\\\s\x00-\x1f\x7f]/);
      }),
      { numRuns: 800 },
    );
  });
});
