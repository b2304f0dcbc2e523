/**
 * Is the daemon actually running? `status` reads the journal the daemon WROTE; when the daemon is
 * not running (stopped, failed, or in a restart loop because it exits at start) that journal is
 * stale and says "joined" while nothing keeps the node. So `status` asks systemd too:
 *
 *   systemctl show -p LoadState -p ActiveState -p SubState -p Result -p NRestarts
 *                  -p ExecMainStatus -p ExecMainCode castai-edge-initd.service
 *
 * and, when the daemon is not running, takes its last error from its own output in the journal
 * (journalctl _SYSTEMD_UNIT=…: what the process printed, without systemd's lines).
 * Property meanings: systemd.exec(5)/org.freedesktop.systemd1(5) — ExecMainCode is the CLD_* code
 * of the main process's last exit (1 exited, 2 killed, 3 dumped), ExecMainStatus its exit status or
 * signal number; NRestarts counts automatic restarts (Restart=); SubState `auto-restart` is the
 * wait (RestartSec=) before the next one. docs/decisions/0165-status-daemon-state.md.
 */
import type { Host } from '../host/host.ts';
import { AGENT_UNIT } from './lifecycle.ts';

export type DaemonCondition = 'running' | 'starting' | 'restarting' | 'stopping' | 'stopped' | 'failed' | 'not-installed' | 'unknown';

export interface DaemonUnitState {
  condition: DaemonCondition;
  activeState: string;
  subState: string;
  result: string;
  restarts: number;
  /** The main process's last exit: 'exited' with a status, or 'killed'/'dumped' with a signal number. */
  lastExit: { code: 'exited' | 'killed' | 'dumped'; status: number } | null;
  /** The daemon's own last error line(s), from the journal; only looked up when it is not running. */
  lastError: string | null;
}

const CLD: Record<string, 'exited' | 'killed' | 'dumped'> = {
  '1': 'exited',
  '2': 'killed',
  '3': 'dumped',
  exited: 'exited',
  killed: 'killed',
  dumped: 'dumped',
};

/** Pure: `systemctl show` output → the daemon's condition. */
export function parseDaemonShow(stdout: string): Omit<DaemonUnitState, 'lastError'> {
  const p = Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()]),
  );
  const activeState = p.ActiveState ?? '';
  const subState = p.SubState ?? '';
  const restarts = Number(p.NRestarts ?? 0) || 0;
  const code = CLD[p.ExecMainCode ?? ''];
  const status = Number(p.ExecMainStatus);
  // ExecMainCode is 0 while the main process runs (no exit yet).
  const lastExit = code && Number.isInteger(status) ? { code, status } : null;
  let condition: DaemonCondition;
  if (p.LoadState === 'not-found') condition = 'not-installed';
  else if (activeState === 'active' || activeState === 'reloading') condition = 'running';
  else if (activeState === 'activating') condition = subState === 'auto-restart' ? 'restarting' : 'starting';
  else if (activeState === 'deactivating') condition = 'stopping';
  else if (activeState === 'failed') condition = 'failed';
  else if (activeState === 'inactive') condition = 'stopped';
  else condition = 'unknown';
  return { condition, activeState, subState, result: p.Result ?? '', restarts, lastExit };
}

/**
 * Pure: the last error the daemon printed, from its journal output (oldest first): the
 * operator-facing block of a one-shot failure (`error: …` / `configuration error…` and its
 * indented lines), or the `msg` of the last pino line at error level or above.
 */
export function lastErrorFromJournal(lines: readonly string[]): string | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.startsWith('{')) {
      try {
        const j = JSON.parse(l) as { level?: number; msg?: string };
        if ((j.level ?? 0) >= 50 && j.msg) return j.msg;
      } catch {
        /* a cut line */
      }
      continue;
    }
    if (/^(error: |configuration error)/.test(l)) {
      const block = [l];
      for (let k = i + 1; k < lines.length && /^\s/.test(lines[k]!) && block.length < 12; k++) block.push(lines[k]!);
      return block.join('\n');
    }
  }
  return null;
}

function describeExit(e: DaemonUnitState['lastExit']): string {
  if (!e) return '';
  return e.code === 'exited' ? `exit status ${e.status}` : `killed by signal ${e.status}${e.code === 'dumped' ? ' (core dumped)' : ''}`;
}

/** One line for `status`: what the daemon is doing, when that is not simply "running". */
export function daemonLine(d: DaemonUnitState): string {
  const exit = describeExit(d.lastExit);
  const restarts = d.restarts ? `, ${d.restarts} restart${d.restarts === 1 ? '' : 's'} so far` : '';
  switch (d.condition) {
    case 'running':
      return 'running';
    case 'starting':
      return `starting (first pass in progress${restarts})`;
    case 'restarting':
      return `NOT RUNNING: restarting — it exited (${exit || 'unknown exit'}${restarts}); systemd starts it again in a few seconds`;
    case 'stopping':
      return 'stopping';
    case 'failed':
      return `NOT RUNNING: failed (${d.result || 'unknown result'}${exit ? `, ${exit}` : ''}${restarts})`;
    case 'stopped':
      return `NOT RUNNING: stopped${exit ? ` (last ${exit})` : ''}`;
    case 'not-installed':
      return `NOT RUNNING: ${AGENT_UNIT} is not installed`;
    default:
      return 'unknown (systemd did not answer)';
  }
}

/** Reads the daemon's state from systemd, and its last error from the journal when it is not running. */
export async function inspectDaemon(host: Host): Promise<DaemonUnitState> {
  const r = await host.exec(
    'systemctl',
    ['show', '-p', 'LoadState', '-p', 'ActiveState', '-p', 'SubState', '-p', 'Result', '-p', 'NRestarts', '-p', 'ExecMainStatus',
      '-p', 'ExecMainCode', AGENT_UNIT],
    { timeoutMs: 5000 },
  );
  if (r.notFound || r.exitCode !== 0 || !r.stdout.includes('ActiveState=')) {
    return { condition: 'unknown', activeState: '', subState: '', result: '', restarts: 0, lastExit: null, lastError: null };
  }
  const s = parseDaemonShow(r.stdout);
  let lastError: string | null = null;
  if (s.condition !== 'running' && s.condition !== 'starting' && s.condition !== 'not-installed') {
    const j = await host.exec('journalctl', [`_SYSTEMD_UNIT=${AGENT_UNIT}`, '-o', 'cat', '-n', '60', '--no-pager'], { timeoutMs: 10_000 });
    if (!j.notFound && j.exitCode === 0) lastError = lastErrorFromJournal(j.stdout.split('\n'));
  }
  return { ...s, lastError };
}
