/**
 * The shell installer and uninstaller cannot import the agent's constants, so they spell the state dir, the
 * state files and k0s's paths out (docs/decisions/0210-one-home-per-fact.md). This test holds those copies to
 * the one home: a change there that the scripts miss fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { K0S_BIN } from '../../agent/k0s/k0s.ts';
import { K0S_DATA_DIR } from '../../agent/k0s/paths.ts';
import { DEFAULT_STATE_DIR, JOURNAL_FILE, K0S_STATE_FILE } from '../../agent/state/files.ts';

const install = readFileSync(new URL('../../installer/install.sh', import.meta.url), 'utf8');
const uninstall = readFileSync(new URL('../../installer/uninstall.sh', import.meta.url), 'utf8');

describe("the installer's paths are the agent's", () => {
  it('install.sh and uninstall.sh use the state dir of agent/state/files.ts', () => {
    expect(install).toMatch(new RegExp(`^\\s*local STATE_DIR=${DEFAULT_STATE_DIR}$`, 'm'));
    expect(uninstall).toMatch(new RegExp(`^\\s*local state_dir=${DEFAULT_STATE_DIR}$`, 'm'));
  });

  it('uninstall.sh reads the journal and k0s.json by their names, and tidies k0s data dir and binary', () => {
    expect(uninstall).toContain(`"$state_dir/${JOURNAL_FILE}"`);
    expect(uninstall).toContain(`"$state_dir/${K0S_STATE_FILE}"`);
    expect(uninstall).toMatch(new RegExp(`for f in /etc/k0s ${K0S_DATA_DIR}; do`));
    expect(uninstall).toContain(`rm -f -- ${K0S_BIN}`);
  });
});
