import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTALLER_KEYS, renderInstaller, type InstallerValues } from '../../installer/render.ts';

const values = Object.fromEntries(
  INSTALLER_KEYS.map((k) => [k, k.startsWith('SHA256') ? 'a'.repeat(64) : k.startsWith('URL') ? `https://127.0.0.1:9443/${k.toLowerCase()}` : `value-${k.toLowerCase()}`]),
) as InstallerValues;
values.API_URL = 'https://127.0.0.1:9443';

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
    expect(() => renderInstaller({ ...values, CLUSTER_ID: 'a"; rm -rf /' })).toThrow(/CLUSTER_ID contains a character/);
    expect(() => renderInstaller({ ...values, CLUSTER_ID: '$(id)' })).toThrow(/CLUSTER_ID/);
  });

  it('is valid bash and shellcheck-clean (template and rendered)', () => {
    const rendered = tmpScript(renderInstaller(values));
    expect(spawnSync('bash', ['-n', rendered]).status).toBe(0);
    for (const f of ['installer/install.sh', 'installer/uninstall.sh', rendered]) {
      const r = spawnSync('shellcheck', ['-s', 'bash', f], { encoding: 'utf8' });
      expect(r.stdout + r.stderr, f).toBe('');
      expect(r.status, f).toBe(0);
    }
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
