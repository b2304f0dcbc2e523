/**
 * Issue 15 item 2: the root agent trusts only root's files (agent/config/trust.ts). The FakeHost cases
 * are test/unit/config-trust.test.ts; here the same rules through RealHost on real files, which needs
 * root (chown to another uid), so it lives in the integration lane and fails there without root.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../../agent/config/load.ts';
import { RealHost } from '../../agent/host/real.ts';
import { describeNeeding, notRoot } from '../helpers/needs.ts';
import { configError, problemsText } from '../helpers/config-error.ts';


describeNeeding('the same rules through the real Host (lstat, readlink) on real files', notRoot('chown to another uid'), () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'trust-real-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const host = new RealHost();
  // This test's own state directory (what the host's default one holds is not this test's business).
  const env = { INITD_STATE_DIR: path.join(dir, 'state') };

  it('accepts root 0600, refuses chown 1000 and chmod g+w, and follows a symlink to the target', async () => {
    const good = path.join(dir, 'good.env');
    writeFileSync(good, 'ORG_ID=real\n', { mode: 0o600 });
    expect((await loadConfig(host, { env, envFile: good })).orgId).toBe('real');

    const theirs = path.join(dir, 'theirs.env');
    writeFileSync(theirs, 'ORG_ID=x\n', { mode: 0o600 });
    chownSync(theirs, 1000, 1000);
    expect(problemsText(await configError(loadConfig(host, { env, envFile: theirs })))).toContain(`${theirs} is owned by uid 1000, not root`);

    const gw = path.join(dir, 'gw.env');
    writeFileSync(gw, 'ORG_ID=x\n');
    chmodSync(gw, 0o664);
    expect(problemsText(await configError(loadConfig(host, { env, envFile: gw })))).toContain(`chmod go-w ${gw}`);

    const link = path.join(dir, 'link.env');
    symlinkSync('theirs.env', link);
    expect(problemsText(await configError(loadConfig(host, { env, envFile: link })))).toContain(`${theirs} is owned by uid 1000`);

    const sub = path.join(dir, 'open');
    mkdirSync(sub, { mode: 0o777 });
    chmodSync(sub, 0o777);
    const inOpen = path.join(sub, 'x.env');
    writeFileSync(inOpen, 'ORG_ID=x\n', { mode: 0o600 });
    expect(problemsText(await configError(loadConfig(host, { env, envFile: inOpen })))).toContain(`${sub} is writable by group and others (mode 0777)`);
  });
});
