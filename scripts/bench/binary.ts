/**
 * `make bench` module: binary_bytes_{amd64,arm64}, binary_xz_bytes_*,
 * binary_gz_bytes_* (the files `make build` writes to dist/), and
 * binary_xz_decompress_ms_amd64: median of 3 `xz -dc` of the amd64 download
 * (what the installer pays once per install or upgrade).
 */
import { existsSync, statSync } from 'node:fs';
import { binaryPath, median, round, wallMs } from '../bench-lib.ts';

export default async function binaryBench(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const arch of ['amd64', 'arm64'] as const) {
    const bin = binaryPath(arch);
    for (const [key, file] of [['binary_bytes', bin], ['binary_xz_bytes', `${bin}.xz`], ['binary_gz_bytes', `${bin}.gz`]] as const) {
      if (!existsSync(file)) throw new Error(`${file} is missing; run make build`);
      out[`${key}_${arch}`] = statSync(file).size;
    }
  }
  const xz = `${binaryPath('amd64')}.xz`;
  out.binary_xz_decompress_ms_amd64 = round(median([0, 1, 2].map(() => wallMs('sh', ['-c', 'xz -dc "$1" >/dev/null', 'sh', xz]))), 0);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await binaryBench())}\n`);
}
