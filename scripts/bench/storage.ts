/**
 * `make bench` module: storage_plan_24_disks_ms — the storage `plan` (inspect
 * through the Host port + the pure planner) over 24 fake NVMe disks on the
 * simulated storage host (FakeHost, test/fixtures/storage/sim.ts; no processes
 * are spawned, so this measures the agent's own work). Median of RUNS runs after
 * WARMUP. Also reports the pure planner alone (storage_plan_24_disks_pure_ms).
 */
import { planStorageStep } from '../../agent/storage/index.ts';
import { desiredFromConfig, planStorage } from '../../agent/storage/plan.ts';
import { StorageSim } from '../../test/fixtures/storage/sim.ts';

const DISKS = 24;
const WARMUP = 5;
const RUNS = 31;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** 24 NVMe disks: 20 blank, and one each with ext4, GPT, an mdadm member and a LUKS header, so every rule runs. */
function host(): StorageSim {
  const disks = Array.from({ length: DISKS }, (_, i) => StorageSim.nvme(i));
  disks[20]!.sig = 'ext4';
  disks[21]!.sig = 'gpt';
  disks[22]!.sig = 'linux_raid_member';
  disks[23]!.sig = 'crypto_LUKS';
  return new StorageSim(disks);
}

export default async function storageBench(): Promise<Record<string, unknown>> {
  const sim = host();
  const full: number[] = [];
  const pure: number[] = [];
  let actions = 0;
  for (let i = 0; i < WARMUP + RUNS; i++) {
    sim.host.calls.length = 0;
    const t0 = performance.now();
    const { actual, plan } = await planStorageStep(sim.host, {}, '/var/lib/castai-edge-initd');
    const t1 = performance.now();
    const d = desiredFromConfig({ stateDir: '/var/lib/castai-edge-initd' });
    const t2 = performance.now();
    planStorage(d, actual);
    const t3 = performance.now();
    if (i >= WARMUP) {
      full.push(t1 - t0);
      pure.push(t3 - t2);
    }
    actions = plan.actions.length;
    if (plan.refused || !plan.actions.some((a) => a.kind === 'storage.lvcreate' && a.commands?.[0]?.includes('20')))
      throw new Error(`unexpected plan: ${plan.summary}`);
  }
  return {
    storage_plan_24_disks_ms: Number(median(full).toFixed(2)),
    storage_plan_24_disks_pure_ms: Number(median(pure).toFixed(3)),
    storage_plan_24_disks_actions: actions,
  };
}

// Allow `node scripts/bench/storage.ts` on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await storageBench())}\n`);
}
