/**
 * Issue 16, item 4: a failed command says why. The explaining lines of real captured failures
 * (mkfs.xfs 6.1.0, test/fixtures/storage/mkfs/) are kept; the usage text is not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { commandFailure, explainingLines, runChecked } from '../../agent/host/command-failure.ts';
import type { ExecResult } from '../../agent/host/host.ts';
import { runStorageStep } from '../../agent/storage/index.ts';
import { FIXTURES, StorageSim } from '../fixtures/storage/sim.ts';

const mkfs = (name: string) => ({
  stdout: fs.readFileSync(path.join(FIXTURES, 'mkfs', `${name}.stdout`), 'utf8'),
  stderr: fs.readFileSync(path.join(FIXTURES, 'mkfs', `${name}.stderr`), 'utf8'),
  exitCode: Number(fs.readFileSync(path.join(FIXTURES, 'mkfs', `${name}.exit`), 'utf8')),
});
const result = (r: Partial<ExecResult>): ExecResult => ({ exitCode: 1, stdout: '', stderr: '', timedOut: false, notFound: false, durationMs: 1, ...r });

describe('explaining lines of real mkfs.xfs 6.1.0 failures', () => {
  test('too small: the reason before the 26-line usage text, and nothing of the usage', () => {
    const r = mkfs('too-small-299MiB');
    expect(r.stderr.split('\n').length).toBeGreaterThan(20);
    expect(explainingLines(r)).toEqual(['Filesystem must be larger than 300MB.']);
  });

  test('an existing filesystem: both lines', () => {
    expect(explainingLines(mkfs('existing-fs'))).toEqual([
      'mkfs.xfs: img appears to contain an existing filesystem (xfs).',
      'mkfs.xfs: Use the -f option to force overwrite.',
    ]);
  });

  test('a bad option: the lines that name it, not the usage', () => {
    expect(explainingLines(mkfs('bad-option'))).toEqual(["mkfs.xfs: invalid option -- 'Q'", 'unknown option -Q']);
  });

  test('the whole message: command, exit, reason, fix', () => {
    const e = commandFailure(['mkfs.xfs', '-K', '-L', 'castai-k0s', '/dev/castai-edge/k0s'], result(mkfs('too-small-299MiB')), {
      what: 'storage: mkfs.xfs',
      fix: 'run again',
    });
    expect(e).toBeInstanceOf(AgentError);
    expect(e.message).toBe('storage: mkfs.xfs: `mkfs.xfs -K -L castai-k0s /dev/castai-edge/k0s` failed (exit 1: Filesystem must be larger than 300MB.)');
    expect(e.remediation).toBe('run again');
  });
});

describe('the one format for any command', () => {
  test('many lines: the ones that read like a reason are kept, in order; LVM noise dropped', () => {
    const stderr = [
      'File descriptor 7 (/dev/pts/0) leaked on lvcreate invocation. Parent PID 1: systemd',
      '  Rounding size to boundary between physical extents.',
      '  Using default stripesize 64.00 KiB.',
      '  Volume group "castai-edge" has insufficient free space (94 extents): 141 required.',
      '  Run `lvcreate --help\' for more information.',
      '  something else',
      '  and more',
    ].join('\n');
    expect(explainingLines(result({ stderr }))).toEqual(['Volume group "castai-edge" has insufficient free space (94 extents): 141 required.']);
  });

  test('few lines: all of them, stderr before stdout, each once', () => {
    expect(explainingLines(result({ stderr: 'a\n\nb\n', stdout: 'b\nc\n' }))).toEqual(['a', 'b', 'c']);
  });

  test('only a usage text: said so; no output: said so; not found and timed out: said so, with their own fix', () => {
    expect(commandFailure(['x', '-Z'], result({ stderr: 'Usage: x [-a]\n  -a  all\n' }), { what: 'w', fix: 'f' }).message).toBe(
      'w: `x -Z` failed (exit 1: it printed only its usage text (an option or argument it does not accept))',
    );
    expect(commandFailure(['x'], result({ exitCode: 3 }), { what: 'w', fix: 'f' }).message).toBe('w: `x` failed (exit 3, no output)');
    const nf = commandFailure(['mkfs.xfs'], result({ exitCode: 127, notFound: true, stderr: 'mkfs.xfs: not found (ENOENT)' }), {
      what: 'w',
      fix: 'f',
      notFoundFix: 'apt-get install xfsprogs',
    });
    expect(nf.message).toBe('w: `mkfs.xfs` failed (not found)');
    expect(nf.remediation).toBe('apt-get install xfsprogs');
    expect(commandFailure(['sleep', '9'], result({ exitCode: 137, timedOut: true }), { what: 'w', fix: 'f' }).message).toBe(
      'w: `sleep 9` failed (timed out, no output)',
    );
  });

  test('a specific fix from the reason', () => {
    const e = commandFailure(
      ['pvcreate', '/dev/nvme1n1'],
      result({ exitCode: 5, stderr: "  Can't open /dev/nvme1n1 exclusively.  Mounted filesystem?\n  Device or resource busy\n" }),
      {
        what: 'w',
        fix: 'generic',
        fixFor: (why) => (why.some((l) => /busy/i.test(l)) ? 'wait for udev' : undefined),
      },
    );
    expect(e.remediation).toBe('wait for udev');
    expect(e.message).toContain("Can't open /dev/nvme1n1 exclusively.  Mounted filesystem? / Device or resource busy");
  });

  test('runChecked returns the result on success and throws the one format on failure', async () => {
    const h = new FakeHost().onExec('true', { exitCode: 0, stdout: 'ok' }).onExec('false', { exitCode: 1, stderr: 'nope: denied' });
    expect((await runChecked(h, ['true'], { what: 'w', fix: 'f', timeoutMs: 5_000 })).stdout).toBe('ok');
    await expect(runChecked(h, ['false', '-x'], { what: 'w', fix: 'f', timeoutMs: 5_000 })).rejects.toThrow('w: `false -x` failed (exit 1: nope: denied)');
    // Accepted exits and stderr are not failures (an idempotent delete of what is already gone).
    await expect(runChecked(h, ['false', '-x'], { what: 'w', fix: 'f', timeoutMs: 5_000, okStderr: /denied/ })).resolves.toMatchObject({ exitCode: 1 });
    await expect(runChecked(h, ['false', '-x'], { what: 'w', fix: 'f', timeoutMs: 5_000, okExitCodes: [1] })).resolves.toMatchObject({ exitCode: 1 });
  });
});

describe('storage apply: a failed mkfs.xfs says why', () => {
  test("the agent's error carries mkfs's reason (captured), not its usage text, and a fix", async () => {
    const sim = new StorageSim([StorageSim.nvme(1)]);
    sim.failures.set('mkfs.xfs', mkfs('too-small-299MiB').stderr);
    const err = await runStorageStep(sim.host, { nvmeDevices: ['/dev/nvme1n1'] }, '/var/lib/castai-edge-initd').then(
      () => undefined,
      (e: unknown) => e as AgentError,
    );
    expect(err).toBeInstanceOf(AgentError);
    expect(err!.message).toMatch(/^storage: mkfs\.xfs -K -L castai-k0s \/dev\/castai-edge\/k0s: `mkfs\.xfs -K -L castai-k0s \/dev\/castai-edge\/k0s` failed \(exit 5: Filesystem must be larger than 300MB\.\)$/);
    expect(err!.message).not.toMatch(/Usage|blocksize|<value>/);
    expect(err!.remediation).toMatch(/too small/);
  });
});
