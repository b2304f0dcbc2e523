/**
 * Guest-side driver for test/e2e/storage.test.ts: runs the REAL storage step
 * (agent/storage with RealHost: real lsblk, wipefs, LVM, mkfs.xfs, systemd)
 * inside the lab VM, with the pinned Node and the repository shared read-only
 * over 9p. TEST TOOLING. Prints one JSON line; exit code = the agent's.
 *
 *   node storage-guest.ts plan|run|teardown [--remove-volume-group]
 *   NVME_DEVICES="/dev/nvme0n1 /dev/nvme1n1"  (unset = auto-discovery)
 *   STATE_DIR=/var/lib/castai-edge-initd
 *
 * This exists until `castai-edge-initd run --once` / `plan` carry the storage
 * step (agent/storage/index.ts: runStorageStep / planStorageStep); the test can
 * then drive the SEA binary instead (see the report of issue 5).
 */
import { AgentError } from '../../agent/errors.ts';
import { RealHost } from '../../agent/host/real.ts';
import { describeStorage, desiredFromConfig, planStorageStep, runStorageStep, teardownStorage } from '../../agent/storage/index.ts';

const [cmd = 'plan', ...flags] = process.argv.slice(2);
const env = process.env.NVME_DEVICES;
const cfg = env !== undefined && env.trim() !== '' ? { nvmeDevices: env.trim().split(/\s+/) } : {};
const stateDir = process.env.STATE_DIR ?? '/var/lib/castai-edge-initd';
const host = new RealHost();
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

try {
  const t0 = performance.now();
  if (cmd === 'plan') {
    const { plan } = await planStorageStep(host, cfg, stateDir);
    out({
      ok: true,
      ms: Math.round(performance.now() - t0),
      refused: plan.refused,
      summary: plan.summary,
      kinds: plan.actions.map((a) => a.kind),
      notes: plan.notes,
      rows: describeStorage(plan).rows,
    });
  } else if (cmd === 'run') {
    const lines: string[] = [];
    const r = await runStorageStep(host, cfg, stateDir, (l) => lines.push(l));
    out({
      ok: true,
      ms: Math.round(performance.now() - t0),
      summary: r.summary,
      changed: r.changed,
      kinds: r.plan.actions.map((a) => a.kind),
      timings: r.timings,
      ran: r.apply?.ran ?? [],
      lines,
    });
  } else if (cmd === 'teardown') {
    const r = await teardownStorage(host, desiredFromConfig({ stateDir }), { removeVolumeGroup: flags.includes('--remove-volume-group') });
    out({ ok: true, ms: Math.round(performance.now() - t0), ran: r.ran, notes: r.plan.notes });
  } else throw new Error(`unknown command ${cmd}`);
} catch (e) {
  const ae = e instanceof AgentError ? e : undefined;
  out({ ok: false, message: e instanceof Error ? e.message : String(e), remediation: ae?.remediation, exitCode: ae?.exitCode ?? 1 });
  process.exitCode = ae?.exitCode ?? 1;
}
