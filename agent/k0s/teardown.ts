import { accepted, commandFailure } from '../host/command-failure.ts';
import type { Host } from '../host/host.ts';
import { K0S_BIN, K0S_TOKEN_FILE, K0S_UNIT_FILE } from './k0s.ts';
import { K0S_DATA_DIR, K0S_UNIT } from './paths.ts';
import { removeOurUnitFiles } from './unit-config.ts';
import { MOUNTINFO_FILE } from '../host/paths.ts';
import { parseMountinfo } from '../storage/parse.ts';

/** Mount points strictly below `dir` (not `dir` itself), deepest first. From /proc/self/mountinfo. */
export function mountsBelow(mountinfo: string, dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out = new Set(parseMountinfo(mountinfo).map((m) => m.mountPoint).filter((mp) => mp.startsWith(prefix)));
  return [...out].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

export interface K0sTeardownStep {
  what: string;
  ok: boolean;
  detail?: string;
}

/**
 * Removes the k0s worker: stop k0sworker, unmount everything below
 * /var/lib/k0s (pod volumes, bind mounts of host paths: never delete through
 * them), `k0s reset`, retried once after unmounting again when mounts are
 * busy (k0s#8048), then our k0sworker drop-ins, proxy env file and boot marker
 * (unit-config.ts; only files carrying our mark). /var/lib/k0s itself may be
 * our storage mount; storage teardown handles it afterwards.
 */
export async function teardownK0s(host: Host): Promise<K0sTeardownStep[]> {
  const steps: K0sTeardownStep[] = [];
  const unitFile = await host.stat(K0S_UNIT_FILE);
  if (unitFile) {
    const r = await host.exec('systemctl', ['stop', K0S_UNIT], { timeoutMs: 120_000 });
    steps.push({ what: `systemctl stop ${K0S_UNIT}`, ok: r.exitCode === 0, ...(r.exitCode ? { detail: r.stderr.trim() } : {}) });
  }
  const unmountBelow = async () => {
    const mi = (await host.readFile(MOUNTINFO_FILE)) ?? '';
    for (const mp of mountsBelow(mi, K0S_DATA_DIR)) {
      let r = await host.exec('umount', [mp], { timeoutMs: 30_000 });
      if (r.exitCode !== 0) r = await host.exec('umount', ['-l', mp], { timeoutMs: 30_000 });
      steps.push({ what: `umount ${mp}`, ok: r.exitCode === 0, ...(r.exitCode ? { detail: r.stderr.trim() } : {}) });
    }
  };
  if (await host.stat(K0S_BIN)) {
    await unmountBelow();
    let r = await host.exec(K0S_BIN, ['reset'], { timeoutMs: 300_000 });
    if (r.exitCode !== 0 && /busy|mount/i.test(r.stderr + r.stdout)) {
      steps.push({ what: 'k0s reset', ok: false, detail: `${r.stderr.trim()} (retrying after unmounting)` });
      await unmountBelow();
      r = await host.exec(K0S_BIN, ['reset'], { timeoutMs: 300_000 });
    }
    steps.push({ what: 'k0s reset', ok: r.exitCode === 0, ...(r.exitCode ? { detail: (r.stderr || r.stdout).trim() } : {}) });
    if (!accepted(r, {})) {
      throw commandFailure([K0S_BIN, 'reset'], r, {
        what: 'k0s teardown',
        fix: 'stop what still uses /var/lib/k0s (lsof +D /var/lib/k0s), then run castai-edge-initd reset again',
      });
    }
  }
  if (await host.stat(K0S_TOKEN_FILE)) {
    await host.remove(K0S_TOKEN_FILE);
    steps.push({ what: `remove ${K0S_TOKEN_FILE}`, ok: true });
  }
  const removed = await removeOurUnitFiles(host);
  if (removed.length) {
    steps.push({ what: `remove ${removed.join(', ')}`, ok: true });
    const r = await host.exec('systemctl', ['daemon-reload'], { timeoutMs: 30_000 });
    steps.push({ what: 'systemctl daemon-reload', ok: r.exitCode === 0, ...(r.exitCode ? { detail: r.stderr.trim() } : {}) });
  }
  return steps;
}
