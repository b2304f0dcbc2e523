/**
 * `make bench` module: rss_config_mb — peak RSS (MiB, GNU time %M) of
 * `dist/castai-edge-initd-linux-amd64 config --env-file test/fixtures/example.env`,
 * median of RUNS runs; and rss_version_mb, the same for `version` (the floor of
 * the binary: Node runtime + bundle + code cache).
 *
 * Peak RSS counts the executable's file pages the process touches, and on this
 * kernel that depends on how those pages got into the page cache: right after
 * the build wrote the file (postject) they sit in large folios and the same run
 * shows ~4 MiB more than when the file is read from disk. So the binary's cached
 * pages are dropped first (posix_fadvise DONTNEED via `dd iflag=nocache
 * count=0`): the state of a node after boot, which measured the same (±0.1 MiB)
 * as a binary freshly unpacked by `xz -dc` as the installer does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { binaryPath, median, peakRssKiB, ROOT, round } from '../bench-lib.ts';

const RUNS = 5;

export default async function rssBench(): Promise<Record<string, unknown>> {
  const bin = binaryPath('amd64');
  if (!existsSync(bin)) throw new Error(`${bin} is missing; run make build`);
  const envFile = path.join(ROOT, 'test/fixtures/example.env');
  if (!existsSync(envFile)) throw new Error(`${envFile} is missing (the config fixture)`);
  spawnSync('dd', [`if=${bin}`, 'iflag=nocache', 'count=0', 'status=none']);
  const mib = (args: string[]): number => round(median(Array.from({ length: RUNS }, () => peakRssKiB(bin, args))) / 1024);
  return {
    rss_config_mb: mib(['config', '--env-file', envFile]),
    rss_version_mb: mib(['version']),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await rssBench())}\n`);
}
