/**
 * The installer's shell scripts run for real in a fake root (test/helpers/fake-root.ts: a private
 * mount namespace with overlays over /etc, /usr/local/bin, /var/lib and /run; the host is never
 * changed), with systemctl and curl stubbed (issue 15 items 2, 3, 4 and 6).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { INSTALLER_KEYS, renderInstaller, type InstallerValues } from '../../installer/render.ts';
import { FakeRoot, fakeRootMissing } from '../helpers/fake-root.ts';
import { describeNeeding, missingTools } from '../helpers/needs.ts';

const missing = [...fakeRootMissing(), ...missingTools(['xz'], 'make deps: apt xz-utils')];
const STATE = '/var/lib/castai-edge-initd';
const BIN = '/usr/local/bin/castai-edge-initd';

let root: FakeRoot;
beforeEach(() => {
  root = new FakeRoot();
  // systemctl: every call is logged; `show` answers from the stub's state file.
  root.file('unit.state', 'ActiveState=inactive\nSubState=dead\nInvocationID=\nStatusText=\n');
  root.stub(
    'systemctl',
    `echo "systemctl $*" >> ${root.dir}/systemctl.log
case "$1" in
  show) cat ${root.dir}/unit.state ;;
  start|restart) cp ${root.dir}/unit.after-start ${root.dir}/unit.state 2>/dev/null || true ;;
  is-active) grep -q '^ActiveState=active' ${root.dir}/unit.state ;;
esac
exit 0`,
  );
});
afterEach(() => root?.close());

// ----------------------------------------------------------------------------- uninstall

/** A node as the installer leaves it, with an agent binary whose `reset` exits with `resetExit`. */
function installedNode(resetExit: number): string {
  return [
    `mkdir -p ${STATE} /etc/castai-edge-initd /etc/systemd/system`,
    `cat > ${BIN} <<'EOF'\n#!/bin/bash\n[ "$1" = reset ] && { echo "reset finished with 1 problem(s): k0s reset: exit 1" ; exit ${resetExit}; }\nexit 0\nEOF`,
    `chmod 0755 ${BIN}`,
    'echo agent-unit > /etc/systemd/system/castai-edge-initd.service',
    'echo env > /etc/castai-edge-initd/castai-edge-initd.env',
    `echo '{"phase":"READY"}' > ${STATE}/journal.json`,
    `echo script > ${STATE}/init_script`,
    'cp installer/uninstall.sh /usr/local/bin/castai-edge-initd-uninstall.sh',
    `printf '%s\\n' ${BIN} /usr/local/bin/castai-edge-initd-uninstall.sh /etc/systemd/system/castai-edge-initd.service /etc/castai-edge-initd/castai-edge-initd.env ${STATE}/init_script ${STATE}/installed-files > ${STATE}/installed-files`,
  ].join('\n');
}
const LIST = `for f in ${BIN} /usr/local/bin/castai-edge-initd-uninstall.sh /etc/systemd/system/castai-edge-initd.service /etc/castai-edge-initd/castai-edge-initd.env ${STATE}/init_script ${STATE}/installed-files ${STATE}/journal.json; do [ -e "$f" ] && echo "$f"; done; true`;

describeNeeding('castai-edge-initd-uninstall.sh (run for real in a fake root)', missing, () => {
  beforeEach(() => void root.run({ setup: `rm -rf ${STATE} /etc/castai-edge-initd`, command: ['true'] }));

  it('when reset fails: exits non-zero and removes nothing, so it can be retried', () => {
    const setup = `${installedNode(1)}\ncd ${process.cwd()}`;
    const before = root.run({ setup, command: ['true'], after: LIST }).after;
    expect(before.trim().split('\n')).toHaveLength(7);
    const r = root.run({ command: ['bash', `${process.cwd()}/installer/uninstall.sh`], after: LIST });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/reset failed \(exit 1; its problems are above\); nothing was removed/);
    expect(r.stderr).toMatch(/--force to remove everything anyway/);
    expect(r.after).toBe(before);
    // Retried after the cause is fixed: now it goes through.
    const fixed = root.run({ setup: `sed -i 's/exit 1; }/exit 0; }/' ${BIN}`, command: ['bash', `${process.cwd()}/installer/uninstall.sh`], after: LIST });
    expect(fixed.status, fixed.stdout + fixed.stderr).toBe(0);
    expect(fixed.after).toBe('');
  });

  it('--force keeps the old behaviour: a failed reset is reported and everything is removed', () => {
    root.run({ setup: `${installedNode(1)}`, command: ['true'] });
    const r = root.run({ command: ['bash', `${process.cwd()}/installer/uninstall.sh`, '--force'], after: LIST });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/reset failed \(exit 1\); --force: continuing/);
    expect(r.after).toBe('');
  });

  it('a successful reset removes every manifest file, the state directory and disables the unit', () => {
    root.run({ setup: installedNode(0), command: ['true'] });
    const r = root.run({
      command: ['bash', `${process.cwd()}/installer/uninstall.sh`],
      after: `${LIST}; [ -d ${STATE} ] && echo state-dir; [ -d /etc/castai-edge-initd ] && echo env-dir; true`,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.after).toBe('');
    expect(root.read('systemctl.log')).toMatch(/systemctl disable --now castai-edge-initd.service/);
  });
});

// ----------------------------------------------------------------------------- install

/**
 * A stand-in agent (the real binary is 100 MiB; this checks the installer's side): `config`
 * exits with the code in $FAKE/config.rc after printing $FAKE/config.err; `status` prints
 * $FAKE/status.out and exits with $FAKE/status.rc. Every call is logged with its argv.
 */
function fakeAgent(dir: string): string {
  return `#!/bin/bash
echo "agent $* (INITD_EXTRA_ENV_FILE=\${INITD_EXTRA_ENV_FILE:-})" >> ${dir}/agent.log
case "$1" in
  config) cat ${dir}/config.err >&2 2>/dev/null; exit "$(cat ${dir}/config.rc 2>/dev/null || echo 0)" ;;
  status) cat ${dir}/status.out 2>/dev/null; exit "$(cat ${dir}/status.rc 2>/dev/null || echo 0)" ;;
esac
exit 0
`;
}

function installerValues(sha: { xz: string; gz: string }): InstallerValues {
  const v = Object.fromEntries(
    INSTALLER_KEYS.map((k) => [k, k.startsWith('SHA256') ? (k.endsWith('XZ') ? sha.xz : sha.gz) : k.startsWith('URL') ? `https://api.test.invalid/artifacts/agent-${k.toLowerCase()}` : '']),
  ) as InstallerValues;
  return { ...v, API_URL: 'https://api.test.invalid', ORG_ID: 'org-1', CLUSTER_ID: 'cl-1', EDGE_LOCATION_ID: 'loc-1', BOOTSTRAP_TOKEN: 'cebt_test-token-0123456789', AGENT_VERSION: '0.1.0-gtest' };
}

/** The rendered installer, and a curl stub that serves the stand-in agent (.xz or .gz by URL) and logs its argv. */
function prepareInstall(): { script: string } {
  const agent = Buffer.from(fakeAgent(root.dir));
  const gz = gzipSync(agent);
  const xz = spawnSync('xz', ['-c'], { input: agent }).stdout;
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  root.file('artifact_xz', xz);
  root.file('artifact_gz', gz);
  root.stub(
    'curl',
    `echo "curl $*" >> ${root.dir}/curl.log
out=""; prev=""; url=""
for a in "$@"; do [ "$prev" = -o ] && out="$a"; prev="$a"; url="$a"; done
cp ${root.dir}/artifact_\${url##*_} "$out"
printf 200`,
  );
  return { script: root.file('install.sh', renderInstaller(installerValues({ xz: sha(xz), gz: sha(gz) }))) };
}

const INSTALL_ENV = { INITD_INSTALL_WAIT_SECONDS: '5' };
const READY_STATE = 'ActiveState=active\nSubState=running\nInvocationID=inv-1\nStatusText=joined · edge cast-1\n';

describeNeeding('install.sh (run for real in a fake root, curl and systemctl stubbed)', missing, () => {
  // A fresh host, whatever this machine holds (in the namespace's overlays only).
  beforeEach(
    () =>
      void root.run({
        setup:
          'rm -rf /var/lib/castai-edge-initd /etc/castai-edge-initd /usr/local/bin/castai-edge-initd /usr/local/bin/castai-edge-initd-uninstall.sh /etc/systemd/system/castai-edge-initd.service',
        command: ['true'],
      }),
  );

  it('every curl uses --proto =https --proto-redir =https, and the download is staged under /var/lib/castai-edge-initd, not /tmp', () => {
    const { script } = prepareInstall();
    root.file('unit.after-start', READY_STATE);
    const r = root.run({ command: ['bash', script], env: INSTALL_ENV });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const curls = root.read('curl.log').trim().split('\n');
    expect(curls.length).toBeGreaterThan(0);
    for (const c of curls) {
      expect(c).toMatch(/ --proto =https --proto-redir =https /);
      const out = / -o (\S+) /.exec(c)![1]!;
      expect(out.startsWith(`${STATE}/.install.`), out).toBe(true);
    }
    // The staged binary ran `config` from there too; nothing is left of the staging directory.
    expect(root.read('agent.log')).toMatch(/agent config/);
    const left = root.run({ command: ['true'], after: `ls -A ${STATE}` }).after.trim().split('\n');
    expect(left.filter((f) => f.startsWith('.install.'))).toEqual([]);
  });

  it('a failed install on a fresh host leaves no /var/lib/castai-edge-initd behind', () => {
    const { script } = prepareInstall();
    root.file('config.rc', '2');
    root.file('config.err', 'configuration error; nothing was changed on this host:\n  ✗ INITD_CA_FILE: "/home/op/ca.pem" is owned by uid 1000, not root\n');
    const r = root.run({ command: ['bash', script], env: INSTALL_ENV, after: `[ -e ${STATE} ] && echo exists || echo absent` });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is owned by uid 1000/);
    expect(r.stderr).toMatch(/nothing was installed/);
    expect(r.after.trim()).toBe('absent');
  });

  it('copies INITD_EXTRA_ENV_FILE to /etc/castai-edge-initd/extra.env (0600 root) and the unit reads only the copy; a re-run without it keeps the copy, with a new file updates it', () => {
    const { script } = prepareInstall();
    root.file('unit.after-start', READY_STATE);
    root.file('op/edge.env', 'INITD_KUBERNETES_LABELS=env=one\n', 0o644);
    const show = `stat -c '%a %u %n' /etc/castai-edge-initd/extra.env; cat /etc/castai-edge-initd/extra.env; grep EXTRA /etc/castai-edge-initd/castai-edge-initd.env; cat ${STATE}/installed-files`;
    const r1 = root.run({ command: ['bash', script], env: { ...INSTALL_ENV, INITD_EXTRA_ENV_FILE: root.file('op/edge.env') }, after: show });
    expect(r1.status, r1.stdout + r1.stderr).toBe(0);
    expect(r1.after).toContain('600 0 /etc/castai-edge-initd/extra.env\nINITD_KUBERNETES_LABELS=env=one\n');
    expect(r1.after).toContain("INITD_EXTRA_ENV_FILE='/etc/castai-edge-initd/extra.env'");
    expect(r1.after).toContain('/etc/castai-edge-initd/extra.env\n'); // in the manifest: uninstall removes it
    expect(r1.after).not.toContain(root.dir);
    // The staged config check read the staged copy (--env-file), never the operator's file.
    expect(root.read('agent.log')).toMatch(new RegExp(`agent config --env-file ${STATE}/\\.install\\.\\w+/extra\\.env`));

    // The operator's file goes away: a re-run without the variable keeps the copy.
    root.file('op/edge.env', '');
    const r2 = root.run({ command: ['bash', script], env: INSTALL_ENV, after: show });
    expect(r2.status, r2.stdout + r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/INITD_EXTRA_ENV_FILE is not set: keeping the copy from the previous install/);
    expect(r2.after).toContain('INITD_KUBERNETES_LABELS=env=one\n');

    // A new file replaces the copy, and the agent is restarted for it.
    root.file('op/edge2.env', 'INITD_KUBERNETES_LABELS=env=two\n', 0o600);
    root.file('unit.state', READY_STATE);
    root.file('unit.after-start', READY_STATE.replace('inv-1', 'inv-2'));
    const r3 = root.run({ command: ['bash', script], env: { ...INSTALL_ENV, INITD_EXTRA_ENV_FILE: root.file('op/edge2.env') }, after: show });
    expect(r3.status, r3.stdout + r3.stderr).toBe(0);
    expect(r3.after).toContain('INITD_KUBERNETES_LABELS=env=two\n');
    expect(r3.stdout).toMatch(/binary, unit or environment changed: restarting/);
  });

  it("ends non-zero with the agent's error and its fix when the first pass failed; the service stays installed", () => {
    const { script } = prepareInstall();
    root.file('unit.after-start', 'ActiveState=active\nSubState=running\nInvocationID=inv-1\nStatusText=register failed: TLS verification failed\n');
    root.file('status.rc', '1');
    root.file(
      'status.out',
      'castai-edge-initd: register failed\n\nlast error (register, 2026-01-01T00:00:00Z): register: TLS verification of api.test.invalid failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n  fix: install the CA into the system store (update-ca-certificates), or set INITD_CA_FILE\n',
    );
    const r = root.run({ command: ['bash', script], env: INSTALL_ENV, after: `ls ${BIN} /etc/systemd/system/castai-edge-initd.service` });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(r.stderr).toMatch(/fix: install the CA into the system store/);
    expect(r.stderr).toMatch(/is installed, but its first pass failed/);
    expect(r.after).toContain(BIN); // installed, and systemd keeps retrying
    expect(root.read('systemctl.log')).toMatch(/systemctl enable castai-edge-initd.service/);
  });

  it('ends non-zero at once when the agent exits with a configuration error (exit 2, systemd auto-restart), printing its error', () => {
    const { script } = prepareInstall();
    root.file('unit.after-start', 'ActiveState=activating\nSubState=auto-restart\nInvocationID=inv-1\nStatusText=\nExecMainCode=1\nExecMainStatus=2\n');
    root.file('status.rc', '1');
    root.file(
      'status.out',
      'castai-edge-initd: the daemon is restarting (exit 2 after 3 restarts)\nlast error: INITD_STATE_DIR: "/var/lib/castai-edge-initd" is group-writable\n',
    );
    const r = root.run({ command: ['bash', script], env: INSTALL_ENV });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the daemon is restarting/);
    expect(r.stdout).not.toMatch(/still on its first pass/);
  });

  it('another exit (a crash, a kill) is followed on: still restarting when the wait ends is a failure; no wait at all judges nothing', () => {
    const { script } = prepareInstall();
    root.file('unit.after-start', 'ActiveState=activating\nSubState=auto-restart\nInvocationID=inv-1\nStatusText=\nExecMainCode=2\nExecMainStatus=9\n');
    root.file('status.rc', '3');
    root.file('status.out', 'castai-edge-initd: NOT RUNNING: restarting — it exited (killed by signal 9, 4 restarts so far)\n');
    const r = root.run({ command: ['bash', script], env: { INITD_INSTALL_WAIT_SECONDS: '3' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/killed by signal 9/);
    root.file('unit.state', 'ActiveState=inactive\nSubState=dead\nInvocationID=\n');
    const nowait = root.run({ command: ['bash', script], env: { INITD_INSTALL_WAIT_SECONDS: '0' } });
    expect(nowait.status, nowait.stderr).toBe(0);
    expect(nowait.stdout).toMatch(/still on its first pass after 0s/);
  });

  it('a re-run of a healthy install changes and restarts nothing; of a failing one restarts it so it retries at once', () => {
    const { script } = prepareInstall();
    root.file('unit.after-start', READY_STATE);
    expect(root.run({ command: ['bash', script], env: INSTALL_ENV }).status).toBe(0);
    root.file('unit.state', READY_STATE);
    const again = root.run({ command: ['bash', script], env: INSTALL_ENV });
    expect(again.status, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/nothing changed; castai-edge-initd keeps running/);
    expect(root.read('systemctl.log')).not.toMatch(/restart/);
    // Now the last pass failed (status exit 1): a re-run restarts the agent and follows the new invocation.
    root.file('status.rc', '1');
    root.file('unit.after-start', READY_STATE.replace('inv-1', 'inv-2'));
    root.file('unit.state', READY_STATE);
    const failing = root.run({ command: ['bash', script], env: INSTALL_ENV });
    expect(failing.stdout).toMatch(/the agent is failing .*: restarting castai-edge-initd so it retries now/);
    expect(root.read('systemctl.log')).toMatch(/systemctl restart --no-block castai-edge-initd.service/);
  });
});
