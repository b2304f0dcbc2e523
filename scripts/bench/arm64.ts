/**
 * `make bench` module: join_arm64_e2e_s, the wall time of the arm64 VM join e2e
 * (`make test-e2e-arm64`: install → join → re-run → reboot → DELETE on an arm64 guest under TCG).
 *
 * The bench does not run that e2e itself (it takes about 8 minutes beside the bench's own VM runs);
 * `make test-e2e-arm64` writes its record, dist/test-e2e-arm64.json ({wall_s, exit, finished_at,
 * binary_xz_sha256}), and this module reports the key ONLY when that run passed with the arm64
 * download dist/ holds now (the same sha256). Otherwise the key is left out and stderr says why
 * (never a number from another binary, or from a failed run).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { binaryPath, ROOT } from '../bench-lib.ts';

const ARM64_E2E_RECORD = path.join(ROOT, 'dist/test-e2e-arm64.json');

interface Arm64E2eRecord {
  wall_s: number;
  exit: number;
  finished_at?: string;
  binary_xz_sha256: string;
}

/** The key from a record, or why there is none. */
export function arm64Key(record: unknown, currentXzSha256: string): { join_arm64_e2e_s: number; join_arm64_e2e_at?: string } | { why: string } {
  const r = record as Partial<Arm64E2eRecord> | undefined;
  if (typeof r?.wall_s !== 'number' || typeof r.exit !== 'number' || typeof r.binary_xz_sha256 !== 'string') {
    return { why: 'no record: run make test-e2e-arm64' };
  }
  if (r.exit !== 0) return { why: `the last make test-e2e-arm64 failed (exit ${r.exit})` };
  if (r.binary_xz_sha256 !== currentXzSha256) return { why: 'the last make test-e2e-arm64 ran another arm64 binary: run it again' };
  return { join_arm64_e2e_s: r.wall_s, ...(r.finished_at ? { join_arm64_e2e_at: r.finished_at } : {}) };
}

export default async function arm64Bench(): Promise<Record<string, unknown>> {
  const xz = `${binaryPath('arm64')}.xz`;
  if (!existsSync(xz)) throw new Error(`${xz} is missing; run make build`);
  const sha = createHash('sha256').update(readFileSync(xz)).digest('hex');
  const record: unknown = existsSync(ARM64_E2E_RECORD) ? JSON.parse(readFileSync(ARM64_E2E_RECORD, 'utf8')) : undefined;
  const k = arm64Key(record, sha);
  if ('why' in k) {
    process.stderr.write(`bench arm64: join_arm64_e2e_s left out (${k.why})\n`);
    return {};
  }
  return k;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await arm64Bench())}\n`);
}
