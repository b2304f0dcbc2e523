/**
 * The shell scripts we ship or run on a node are shellcheck-clean: the installer's template, its
 * rendered form, the uninstall script and the nvidia-smi test double. shellcheck is an apt tool, so
 * this lives in the integration lane (make test-unit needs only Node and npm; docs/decisions/0220).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { INSTALLER_KEYS, renderInstaller, type InstallerValues } from '../../installer/render.ts';
import { itNeeding, missingTools } from '../helpers/needs.ts';

const missing = missingTools(['shellcheck'], 'make deps: apt shellcheck');

const values = Object.fromEntries(
  INSTALLER_KEYS.map((k) => [k, k.startsWith('SHA256') ? 'a'.repeat(64) : k.startsWith('URL') ? `https://127.0.0.1:9443/${k.toLowerCase()}` : `value-${k.toLowerCase()}`]),
) as InstallerValues;
values.API_URL = 'https://127.0.0.1:9443';
values.AGENT_VERSION = '0.1.0-gabcdef0';

itNeeding('installer template, rendered installer, uninstall script and nvidia-smi double: shellcheck-clean', missing, () => {
  const rendered = path.join(mkdtempSync(path.join(tmpdir(), 'shellcheck-')), 'install.sh');
  writeFileSync(rendered, renderInstaller(values));
  for (const f of ['installer/install.sh', 'installer/uninstall.sh', rendered, 'test/doubles/nvidia-smi-test-double.sh']) {
    const r = spawnSync('shellcheck', ['-s', 'bash', f], { encoding: 'utf8' });
    expect(r.stdout + r.stderr, f).toBe('');
    expect(r.status, f).toBe(0);
  }
});
