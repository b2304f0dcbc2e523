/**
 * Issue 15 item 2: `status` says when the daemon is not running or restarting (systemd's view and
 * its last error from the journal) instead of the last state it wrote.
 */
import { describe, expect, it } from 'vitest';
import status from '../../agent/commands/status.ts';
import type { CommandContext } from '../../agent/commands/context.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { lastErrorFromJournal, parseDaemonShow } from '../../agent/reconcile/daemon-state.ts';
import { DEFAULT_STATE_DIR, JOURNAL_FILE } from '../../agent/state/files.ts';

const STATE = DEFAULT_STATE_DIR;
const JOINED = {
  version: 1,
  bootId: 'b',
  updatedAt: '2026-01-01T00:00:00.000Z',
  phase: 'READY',
  pass: 9,
  steps: ['preflight', 'register', 'storage', 'gpu', 'wireguard', 'k0s'].map((name) => ({ name, state: 'done', message: 'ok', durationMs: 10 })),
};
const show = (o: Record<string, string | number>) =>
  `${Object.entries({ LoadState: 'loaded', Result: 'success', NRestarts: 0, ExecMainCode: 0, ExecMainStatus: 0, ...o })
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\n`;

/** The journal of an agent that exits at start because its env file is group-writable (as reportFatal prints it). */
const CONFIG_EXIT = [
  'configuration error; nothing was changed on this host:',
  '  ✗ INITD_EXTRA_ENV_FILE: env file "/etc/castai-edge-initd/extra.env" could be changed by someone other than root, so the root agent does not trust it: /etc/castai-edge-initd/extra.env is writable by group (mode 0660). Fix: chmod go-w /etc/castai-edge-initd/extra.env',
  'fix the variable(s) above, then check with: castai-edge-initd config [--env-file FILE]',
].join('\n');

function host(unit: string | undefined, journal: unknown = JOINED, journalOut = ''): FakeHost {
  const h = new FakeHost().setDir(STATE, 0o700).setFile(`${STATE}/${JOURNAL_FILE}`, JSON.stringify(journal), 0o600);
  h.onExec('systemctl is-active k0sworker.service', { stdout: 'active\n' });
  if (unit !== undefined) h.onExec('systemctl show', { stdout: unit });
  h.onExec('journalctl', { stdout: journalOut });
  return h;
}

async function runStatus(h: FakeHost, json = false): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const ctx: CommandContext = { host: h, env: {}, json, out: (t) => void out.push(t), err: (t) => void out.push(t) };
  const code = await status(ctx, { json });
  return { code, out: out.join('\n') };
}

describe('parseDaemonShow (systemctl show of the agent unit)', () => {
  it('tells running, starting, restarting, failed, stopped and not installed apart', () => {
    expect(parseDaemonShow(show({ ActiveState: 'active', SubState: 'running' })).condition).toBe('running');
    expect(parseDaemonShow(show({ ActiveState: 'activating', SubState: 'start' })).condition).toBe('starting');
    const r = parseDaemonShow(
      show({ ActiveState: 'activating', SubState: 'auto-restart', Result: 'exit-code', NRestarts: 14, ExecMainCode: 1, ExecMainStatus: 2 }),
    );
    expect(r).toEqual({
      condition: 'restarting',
      activeState: 'activating',
      subState: 'auto-restart',
      result: 'exit-code',
      restarts: 14,
      lastExit: { code: 'exited', status: 2 },
    });
    expect(parseDaemonShow(show({ ActiveState: 'failed', SubState: 'failed', Result: 'signal', ExecMainCode: 2, ExecMainStatus: 9 })).lastExit).toEqual({
      code: 'killed',
      status: 9,
    });
    expect(parseDaemonShow(show({ ActiveState: 'inactive', SubState: 'dead' })).condition).toBe('stopped');
    expect(parseDaemonShow(show({ LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead' })).condition).toBe('not-installed');
  });
});

describe('lastErrorFromJournal', () => {
  it("takes the last operator-facing block (error:/configuration error and its indented lines), or the last pino error's msg", () => {
    expect(
      lastErrorFromJournal([
        '{"level":30,"msg":"starting"}',
        ...CONFIG_EXIT.split('\n'),
        'configuration error; nothing was changed on this host:',
        '  ✗ ORG_ID: bad',
      ]),
    ).toBe('configuration error; nothing was changed on this host:\n  ✗ ORG_ID: bad');
    expect(lastErrorFromJournal(['error: cannot write /var/lib/x', '  fix: check the disk', '{"level":30,"msg":"x"}'])).toBe(
      'error: cannot write /var/lib/x\n  fix: check the disk',
    );
    expect(lastErrorFromJournal(['{"level":50,"msg":"[2/6] register: FAILED: boom"}', '{"level":30,"msg":"idle"}'])).toBe('[2/6] register: FAILED: boom');
    expect(lastErrorFromJournal(['{"level":30,"msg":"fine"}'])).toBeNull();
  });
});

describe('castai-edge-initd status', () => {
  it('a daemon in a restart loop: NOT RUNNING first, its exit and last error from the journal, the written "joined" marked stale, exit 3', async () => {
    const h = host(
      show({ ActiveState: 'activating', SubState: 'auto-restart', Result: 'exit-code', NRestarts: 14, ExecMainCode: 1, ExecMainStatus: 2 }),
      JOINED,
      `${CONFIG_EXIT}\n`,
    );
    const { code, out } = await runStatus(h);
    expect(code).toBe(3);
    const first = out.split('\n')[0]!;
    expect(first).toMatch(/^castai-edge-initd: NOT RUNNING: restarting — it exited \(exit status 2, 14 restarts so far\)/);
    expect(first).not.toMatch(/joined/);
    expect(out).toContain('chmod go-w /etc/castai-edge-initd/extra.env');
    expect(out).toMatch(/last state it wrote \(stale while it is not running\): joined/);
    expect(h.execLines()).toContain('journalctl _SYSTEMD_UNIT=castai-edge-initd.service -o cat -n 60 --no-pager');
  });

  it('--json carries running=false and the daemon state', async () => {
    const h = host(
      show({ ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', ExecMainCode: 1, ExecMainStatus: 1 }),
      JOINED,
      'error: boom\n  fix: x\n',
    );
    const { code, out } = await runStatus(h, true);
    expect(code).toBe(3);
    const doc = JSON.parse(out) as {
      running: boolean;
      summary: string;
      daemon: { condition: string; lastExit: unknown; lastError: string };
      lastWritten: string;
      phase: string;
    };
    expect(doc.running).toBe(false);
    expect(doc.daemon).toMatchObject({ condition: 'failed', lastExit: { code: 'exited', status: 1 }, lastError: 'error: boom\n  fix: x' });
    expect(doc.summary).toMatch(/^NOT RUNNING: failed/);
    expect(doc.lastWritten).toBe('joined');
  });

  it('a stopped daemon is not running either, and exits 3', async () => {
    const { code, out } = await runStatus(host(show({ ActiveState: 'inactive', SubState: 'dead', ExecMainCode: 1, ExecMainStatus: 0 })));
    expect(code).toBe(3);
    expect(out.split('\n')[0]).toMatch(/NOT RUNNING: stopped/);
  });

  it('running and joined: exit 0, the journal is the truth (no journal lookup)', async () => {
    const h = host(show({ ActiveState: 'active', SubState: 'running' }));
    const { code, out } = await runStatus(h);
    expect(code).toBe(0);
    expect(out.split('\n')[0]).toBe('castai-edge-initd: joined');
    expect(out).toContain('daemon:     running');
    expect(h.execLines().some((l) => l.startsWith('journalctl'))).toBe(false);
  });

  it('running but its last pass failed: exit 1 (what the installer uses to end non-zero)', async () => {
    const failed = {
      ...JOINED,
      phase: 'JOINING',
      steps: JOINED.steps.map((s) => (s.name === 'register' ? { ...s, state: 'failed', error: 'register: TLS verification failed' } : s)),
      lastError: { step: 'register', message: 'register: TLS verification failed', remediation: 'set INITD_CA_FILE', at: 'now' },
    };
    const { code, out } = await runStatus(host(show({ ActiveState: 'active', SubState: 'running' }), failed));
    expect(code).toBe(1);
    expect(out).toContain('fix: set INITD_CA_FILE');
    // Still on its first pass after a restart: the failure is the previous process's.
    expect((await runStatus(host(show({ ActiveState: 'activating', SubState: 'start' }), failed))).code).toBe(0);
  });

  it('a configuration error (the daemon\'s group-writable env copy) does not hide the daemon state: both are shown', async () => {
    const h = host(
      show({ ActiveState: 'activating', SubState: 'auto-restart', Result: 'exit-code', NRestarts: 3, ExecMainCode: 1, ExecMainStatus: 2 }),
      JOINED,
      `${CONFIG_EXIT}\n`,
    );
    h.setDir('/etc/castai-edge-initd', 0o700).setFile('/etc/castai-edge-initd/extra.env', 'ORG_ID=x\n', 0o660);
    const { code, out } = await runStatus(h);
    expect(code).toBe(3);
    expect(out.split('\n')[0]).toMatch(/NOT RUNNING: restarting/);
    expect(out).toMatch(/✗ \/etc\/castai-edge-initd: configuration directory \(or a file in it\) "\/etc\/castai-edge-initd" could be changed/);
    // Running, but this shell's configuration is broken: exit 2, the daemon line still there.
    const running = host(show({ ActiveState: 'active', SubState: 'running' }));
    running.setDir('/etc/castai-edge-initd', 0o777);
    const r = await runStatus(running);
    expect(r.code).toBe(2);
    expect(r.out).toContain('daemon:     running');
  });

  it('without systemd the journal alone decides', async () => {
    const { code, out } = await runStatus(host(undefined));
    expect(code).toBe(0);
    expect(out).not.toContain('daemon:');
  });
});
