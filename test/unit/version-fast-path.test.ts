/**
 * `castai-edge-initd version [--json]` is answered by the single executable's loader
 * (agent/sea-main.ts) without loading the CLI (docs/decisions/0191-startup-floor.md): it must print
 * exactly what the CLI's `version` command prints, and leave every other argv to commander.
 */
import { describe, expect, it, vi } from 'vitest';
import { buildCli } from '../../agent/cli.ts';
import { fastVersion, versionText } from '../../agent/version.ts';
import { DAEMON_NODE_OPTIONS, daemonReexecArgv } from '../../agent/sea-assets.ts';

async function cliOutput(args: string[]): Promise<string> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  try {
    await buildCli().parseAsync(['node', 'castai-edge-initd', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out.join('');
}

describe('version fast path', () => {
  it('prints what the CLI prints for `version` and `version --json`', async () => {
    expect(fastVersion(['version'])).toBe(await cliOutput(['version']));
    expect(fastVersion(['version', '--json'])).toBe(await cliOutput(['version', '--json']));
    expect(fastVersion(['version'])).toMatch(/^castai-edge-initd \S+ \(commit \S+, node \S+, linux\/\w+\)\n$/);
    expect(JSON.parse(fastVersion(['version', '--json'])!)).toEqual({
      version: expect.any(String),
      commit: expect.any(String),
      node: process.versions.node,
      arch: expect.any(String),
    });
    expect(versionText(false)).toBe(fastVersion(['version']));
  });

  it.each([
    [[]],
    [['version', '--help']],
    [['version', '--json', 'x']],
    [['version', '-V']],
    [['--version']],
    [['config']],
    [['run', 'version']],
    [['version', '--jsonx']],
  ])('leaves %j to commander', (args) => {
    expect(fastVersion(args)).toBeUndefined();
  });
});

describe('the daemon re-executes itself with its Node options (agent/sea-main.ts)', () => {
  const exe = '/usr/local/bin/castai-edge-initd';
  it('`run` without them: the same executable and arguments, with --node-options right after `run`', () => {
    expect(DAEMON_NODE_OPTIONS).toEqual(['--liftoff-only']);
    expect(daemonReexecArgv([exe, exe, 'run'], [])).toEqual([exe, 'run', '--node-options=--liftoff-only']);
    expect(daemonReexecArgv([exe, exe, 'run', '--once', '--skip', 'dns'], ['--no-warnings'])).toEqual([
      exe,
      'run',
      '--node-options=--liftoff-only',
      '--once',
      '--skip',
      'dns',
    ]);
  });

  it('never twice, and never for another command', () => {
    expect(daemonReexecArgv([exe, exe, 'run'], ['--liftoff-only'])).toBeUndefined();
    for (const c of ['version', 'status', 'plan', 'doctor', 'config', 'reset', '--help']) expect(daemonReexecArgv([exe, exe, c], [])).toBeUndefined();
    expect(daemonReexecArgv([exe, exe], [])).toBeUndefined();
  });
});
