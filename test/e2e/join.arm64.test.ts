/**
 * The join end to end on an arm64 guest (issue 19 item 2): a Debian 12 arm64 VM (Debian's arm64
 * kernel 6.1, systemd, LVM, xfs, kernel WireGuard, two emulated NVMe disks) under
 * qemu-system-aarch64 (TCG, `virt` machine) runs the DOCUMENTED one-liner against the control-plane
 * EMULATOR; the installer picks the arm64 download by `uname -m` and the node joins through the k0s
 * TEST DOUBLE. Then: re-run (nothing restarts) → reboot (everything comes back, no
 * re-registration) → the operator's DELETE tears it down.
 *
 * Shares all setup with the amd64 join e2e (test/e2e/join-fixture.ts, join-control-plane.ts); the
 * architecture is the lab's `arch` option (docs/decisions/0190-arm64-vm-lab.md).
 *
 * Not part of `make test`: emulating an Arm CPU on x86 under TCG takes far longer than the amd64
 * file. It runs alone with `make test-e2e-arm64` (vitest project e2e-arm64), which prints its wall
 * time; the measured time is in docs/bench.md (join_arm64_e2e_s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentLog,
  bootJoinLab,
  endState,
  guestBootEpochMs,
  guestNow,
  journalTail,
  oneLiner,
  passes,
  prepareGuest,
  rebootVm,
  STEPS,
  UNIT,
  waitFor,
  waitJoined,
  waitPass,
  WG_IFACE,
  type ControlPlane,
  type EndState,
} from './join-fixture.ts';
import { expectDeleteTearsDown, expectJoinedHost, expectRerunChangesNothing, waitStatusJoinedReady } from './join-checks.ts';
import type { Lab, Vm } from './lab.ts';

let lab: Lab;
let cp: ControlPlane;
let vm: Vm;
let joinedState: EndState;
let failed = false;
const t0 = Date.now();
const marks: Array<[string, number]> = [];
const mark = (what: string) => {
  marks.push([what, (Date.now() - t0) / 1000]);
  process.stderr.write(`[join arm64] ${what} at +${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
};

const tail = () => journalTail(vm);
const mainPid = async () =>
  (await vm.sh(`systemctl show -p MainPID -p ExecMainStartTimestampMonotonic -p NRestarts --value ${UNIT}`)).trim().split('\n').join(' ');

// Everything an arm64 guest does under TCG is several times slower than the amd64 lab.
const BOOT_MS = 900_000;

beforeAll(async () => {
  ({ lab, cp, vm } = await bootJoinLab('join-arm64', { arch: 'arm64', vm: { bootTimeoutMs: BOOT_MS } }));
  mark(`booted (channel ${vm.bootToReadyMs} ms, system ${vm.bootToSystemMs} ms)`);
  await prepareGuest(vm, cp);
}, BOOT_MS + 300_000);

afterAll(async () => {
  if (failed && lab) await lab.collectDiagnostics('join-arm64-failed');
  await lab?.close();
  await cp?.stop();
  process.stderr.write(`[join arm64] wall time ${((Date.now() - t0) / 1000).toFixed(0)} s: ${marks.map(([w, s]) => `${w.replace(/ \(.*/, '')} +${s.toFixed(0)}s`).join(', ')}\n`);
});

function step(name: string, fn: () => Promise<void>, timeoutMs: number): void {
  it(
    name,
    async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    },
    timeoutMs,
  );
}

describe('the documented one-liner on a fresh Debian 12 arm64 VM (2 NVMe, kernel WireGuard)', () => {
  step(
    'is an aarch64 guest running Debian arm64 kernel 6.1 and systemd',
    async () => {
      expect((await vm.sh('uname -m')).trim()).toBe('aarch64');
      expect((await vm.sh('dpkg --print-architecture')).trim()).toBe('arm64');
      expect((await vm.sh('uname -r')).trim()).toMatch(/^6\.1\.\d+-\d+-arm64$/);
      expect((await vm.sh('cat /proc/1/comm')).trim()).toBe('systemd');
      expect(await vm.sh('nvme list')).toMatch(/QEMU NVMe Ctrl/);
    },
    120_000,
  );

  step(
    'installs the arm64 binary, registers, stripes the disks, brings up WireGuard and joins',
    async () => {
      const g0 = await guestNow(vm);
      const inst = await vm.exec(oneLiner(cp), { timeoutMs: 1_800_000 });
      expect(inst.exitCode, `installer:\n${inst.stdout}\n${inst.stderr}`).toBe(0);
      expect(inst.stdout).toContain('(linux/arm64, xz)');
      await waitJoined(vm, cp, 1_800_000);
      mark('joined');

      // The emulator served the arm64 download, and the node runs it.
      const served = cp.snapshot().requests.filter((r) => r.endpoint === 'artifact' && r.status === 200).map((r) => r.path);
      expect(served.length).toBeGreaterThan(0);
      expect(served.every((p) => /\/linux-arm64\.xz$/.test(p)), served.join('\n')).toBe(true);
      expect(await vm.sh('od -An -tx1 -j18 -N2 /usr/local/bin/castai-edge-initd')).toMatch(/^\s*b7 00\s*$/); // e_machine EM_AARCH64
      expect(await vm.sh('/usr/local/bin/castai-edge-initd version')).toMatch(/linux\/arm64\)$/m);

      expect((await vm.sh(`systemctl is-active ${UNIT}; systemctl is-enabled ${UNIT}`)).split('\n').slice(0, 2)).toEqual(['active', 'enabled']);
      // The daemon re-executed itself with its Node options (agent/sea-main.ts), keeping its pid.
      expect(await vm.sh(`tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value ${UNIT})/cmdline`)).toMatch(/^\/usr\/local\/bin\/castai-edge-initd run --node-options=--liftoff-only\s*$/);
      await waitStatusJoinedReady(vm, 600_000, tail);
      const first = passes(await agentLog(vm))[0]!;
      expect(first.complete, await tail()).toBe(true);
      expect(Object.keys(first.steps)).toEqual([...STEPS]);
      expect(first.start / 1000).toBeGreaterThan(g0);
      process.stderr.write(`[join arm64] first pass: ${first.totalMs} ms ${JSON.stringify(first.steps)}\n`);

      const edge = cp.edgeOf(vm.machineId)!;
      expect(edge.phase).toBe('READY');
      expect(edge.registrations).toBe(1);
      expect(edge.request.kubernetesLabels).toEqual({ env: 'e2e', 'example.com/rack': 'r12', nodeID: vm.machineId });

      const st = await endState(vm, cp);
      await expectJoinedHost(vm, cp, st);
      expect(st.node).toMatchObject({ nodeName: 'EDGE_NAME', hostname: 'edge1', nodeIP: 'EDGE_IP', providerID: 'castai-omni://EDGE_ID' });
      expect(st.node!.labels).toMatchObject({ env: 'e2e', 'example.com/rack': 'r12', 'omni.cast.ai/edge-id': 'EDGE_ID' });
      expect(st.node!.taints).toEqual([
        { key: 'dedicated', value: 'edge', effect: 'NoSchedule' },
        { key: 'spot', effect: 'NoExecute' },
      ]);
      joinedState = st;
    },
    3_600_000,
  );

  step(
    're-running the one-liner changes nothing and restarts nothing',
    async () => {
      await expectRerunChangesNothing(vm, cp, mainPid, 1_200_000);
      mark('re-run');
    },
    1_500_000,
  );
});

describe('reboot', () => {
  step(
    `mount, ${WG_IFACE} with a handshake and k0sworker come back, with no re-registration and a no-op pass`,
    async () => {
      const regs = cp.edgeOf(vm.machineId)!.registrations;
      const registerCalls = cp.snapshot().requests.filter((r) => r.endpoint === 'register').length;
      await rebootVm(vm, BOOT_MS);
      const bootMs = await guestBootEpochMs(vm);
      const bootPass = await waitPass(vm, bootMs, 1_200_000);
      await waitJoined(vm, cp, 900_000);
      await waitFor(`${WG_IFACE} handshake after the reboot`, async () => ((await endState(vm, cp)).wg?.handshake ? true : undefined), 600_000, tail, 5000);
      expect(await endState(vm, cp)).toEqual(joinedState);
      expect(cp.edgeOf(vm.machineId)!.registrations).toBe(regs);
      expect(cp.snapshot().requests.filter((r) => r.endpoint === 'register').length).toBe(registerCalls);
      const noop = await waitPass(vm, bootPass.end + 1, 600_000);
      expect(noop.lines.every((l) => l.changed === false), noop.lines.map((l) => l.msg).join('\n')).toBe(true);
      await waitStatusJoinedReady(vm, 300_000, tail);
      process.stderr.write(`[join arm64] no-op pass after the reboot: ${noop.totalMs} ms ${JSON.stringify(noop.steps)}\n`);
      mark('rebooted');
    },
    3_000_000,
  );
});

describe('removal', () => {
  step(
    `the operator's DELETE tears the node down: no k0sworker, no ${WG_IFACE}, no mount, unit disabled, edge DELETED`,
    async () => {
      await expectDeleteTearsDown(vm, cp, { deletedMs: 900_000, stoppedMs: 600_000 }, tail);
      mark('deleted');
    },
    1_800_000,
  );
});
