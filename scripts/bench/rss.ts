/**
 * `make bench` module: rss_config_mb — peak RSS (MiB, GNU time %M) of
 * `dist/castai-edge-initd-linux-amd64 config --env-file test/fixtures/example.env`,
 * median of RUNS runs; and rss_version_mb, the same for `version` (the floor of
 * the binary: Node runtime + bundle + code cache).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { binaryPath, median, peakRssKiB, ROOT, round } from '../bench-lib.ts';

const RUNS = 5;

export default async function rssBench(): Promise<Record<string, unknown>> {
  const bin = binaryPath('amd64');
  if (!existsSync(bin)) throw new Error(`${bin} is missing; run make build`);
  const envFile = path.join(ROOT, 'test/fixtures/example.env');
  if (!existsSync(envFile)) throw new Error(`${envFile} is missing (the config fixture)`);
  const mib = (args: string[]): number => round(median(Array.from({ length: RUNS }, () => peakRssKiB(bin, args))) / 1024);
  return {
    rss_config_mb: mib(['config', '--env-file', envFile]),
    rss_version_mb: mib(['version']),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  rssBench().then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
