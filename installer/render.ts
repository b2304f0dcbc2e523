/**
 * Fills the installer template (installer/install.sh) with the values the
 * control plane bakes in. Used by the control-plane emulator, and by tests.
 * Every @@NAME@@ placeholder must be given; a value may not contain a double
 * quote, backslash, backtick, `$` or newline (it lands inside "..." in bash).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const INSTALLER_KEYS = [
  'API_URL', 'ORG_ID', 'CLUSTER_ID', 'EDGE_LOCATION_ID', 'BOOTSTRAP_TOKEN', 'AGENT_VERSION',
  'URL_AMD64_XZ', 'SHA256_AMD64_XZ', 'URL_AMD64_GZ', 'SHA256_AMD64_GZ',
  'URL_ARM64_XZ', 'SHA256_ARM64_XZ', 'URL_ARM64_GZ', 'SHA256_ARM64_GZ',
] as const;
export type InstallerValues = Record<(typeof INSTALLER_KEYS)[number], string>;

const here = path.dirname(new URL(import.meta.url).pathname);

export function renderInstaller(values: InstallerValues, dir: string = here): string {
  let text = readFileSync(path.join(dir, 'install.sh'), 'utf8');
  const uninstall = readFileSync(path.join(dir, 'uninstall.sh'), 'utf8').replace(/\n$/, '');
  if (/^UNINSTALL$/m.test(uninstall)) throw new Error('uninstall.sh contains the heredoc terminator line UNINSTALL');
  text = text.replace('@@UNINSTALL_SCRIPT@@', () => uninstall);
  for (const k of INSTALLER_KEYS) {
    const v = values[k];
    if (typeof v !== 'string' || v === '') throw new Error(`installer value ${k} is missing`);
    if (/["\\`$\n]/.test(v)) throw new Error(`installer value ${k} contains a character that is unsafe inside a bash double-quoted string`);
    text = text.split(`@@${k}@@`).join(v);
  }
  const left = /@@[A-Z0-9_]+@@/.exec(text);
  if (left) throw new Error(`installer placeholder ${left[0]} was not filled`);
  return text;
}
