/**
 * `make bench` module for the VM lab (issue 3):
 *   vm_accel            "tcg" (the lab never uses KVM; see docs/decisions/0030-vm-lab.md)
 *   vm_boot_to_ready_s  qemu start → guest command channel answering, median of RUNS cold boots
 *   vm_boot_to_system_s qemu start → `systemctl is-system-running --wait` done, median
 *   vm_qemu_rss_mb      RSS of the qemu process on the host once the guest has booted (median)
 *   vm_guest_used_mb    guest MemTotal − MemAvailable after boot (median)
 *   vm_image_build_s    `make vm-image` time from vm-images/out/current/build.json, ONLY when that
 *                       build started from an empty cache (the bench never rebuilds the image;
 *                       a build that reused cached .debs or the debootstrap result is not the
 *                       number the key asks for, so the key is left out)
 *   vm_boot_runs_values, vm_boot_runs_spread_pct  each run's value of the keys above, and their
 *                       spread ((max − min) ÷ median, %)
 * Needs the image (`make vm-image`). Env: BENCH_VM_RUNS (default 3).
 */
import { currentImage, Lab } from '../../test/e2e/lab.ts';
import { median, spreadPct } from '../bench-lib.ts';

const r1 = (x: number) => Number(x.toFixed(1));

export default async function vmBench(): Promise<Record<string, unknown>> {
  const runs = Math.max(1, Number(process.env.BENCH_VM_RUNS ?? 3));
  const image = await currentImage();
  const ready: number[] = [];
  const system: number[] = [];
  const rss: number[] = [];
  const used: number[] = [];
  for (let i = 0; i < runs; i++) {
    const lab = await Lab.create({ name: 'bench', network: false });
    try {
      const [vm] = await lab.boot([{ disks: [{ sizeGiB: 1 }, { sizeGiB: 1 }] }]);
      ready.push(vm!.bootToReadyMs! / 1000);
      system.push(vm!.bootToSystemMs! / 1000);
      const kib = vm!.qemuRssKiB();
      if (kib) rss.push(kib / 1024);
      const mem = await vm!.sh("awk '/^MemTotal:/{t=$2} /^MemAvailable:/{a=$2} END{print t-a}' /proc/meminfo");
      used.push(Number(mem.trim()) / 1024);
    } finally {
      await lab.close();
    }
  }
  const values = {
    vm_boot_to_ready_s: ready.map(r1),
    vm_boot_to_system_s: system.map(r1),
    vm_qemu_rss_mb: rss.map(Math.round),
    vm_guest_used_mb: used.map(Math.round),
  };
  return {
    vm_boot_runs_values: values,
    ...(runs > 1
      ? {
          vm_boot_runs_spread_pct: Object.fromEntries(
            Object.entries(values)
              .filter(([, v]) => v.length > 1)
              .map(([k, v]) => [k, spreadPct(v)]),
          ),
        }
      : {}),
    vm_accel: 'tcg',
    vm_boot_to_ready_s: r1(median(ready)),
    vm_boot_to_system_s: r1(median(system)),
    ...(rss.length ? { vm_qemu_rss_mb: Math.round(median(rss)) } : {}),
    vm_guest_used_mb: Math.round(median(used)),
    ...(image.cache === 'cold' ? { vm_image_build_s: r1(image.buildSeconds) } : {}),
  };
}
