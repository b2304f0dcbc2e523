/**
 * `castai-edge-initd version [--json]` is answered by the single executable's loader
 * (agent/sea-main.ts) without loading the CLI (docs/decisions/0191-startup-floor.md): it must print
 * exactly what the CLI's `version` command prints, and leave every other argv to commander.
 */
import { describe, expect, it, vi } from 'vitest';
import { buildCli } from '../../agent/cli.ts';
import { fastVersion, versionText } from '../../agent/version.ts';

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
    expect(JSON.parse(fastVersion(['version', '--json'])!)).toEqual({ version: expect.any(String), commit: expect.any(String), node: process.versions.node, arch: expect.any(String) });
    expect(versionText(false)).toBe(fastVersion(['version']));
  });

  it.each([[[]], [['version', '--help']], [['version', '--json', 'x']], [['version', '-V']], [['--version']], [['config']], [['run', 'version']], [['version', '--jsonx']]])(
    'leaves %j to commander',
    (args) => {
      expect(fastVersion(args)).toBeUndefined();
    },
  );
});
