/**
 * The join e2e's checks that both architectures make (test/e2e/join.test.ts on amd64,
 * test/e2e/join.arm64.test.ts on arm64): one copy, so the two files cannot drift apart (the arm64
 * file once kept an old Status: line and interface name the amd64 file had moved on from). Only
 * the timeouts differ: an arm64 guest under TCG is several times slower. (TEST CODE; imports vitest,
 * so it is not part of join-fixture.ts, which `make bench` imports too.)
 */
import { expect } from 'vitest';
import { endState, oneLiner, UNIT, waitFor, WG_IFACE, type ControlPlane, type EndState } from './join-fixture.ts';
import type { Vm } from './lab.ts';

/** Joined means Ready: the unit's Status: line (polled: while a pass runs a step longer than 1 s, it shows that step). */
export async function waitStatusJoinedReady(vm: Vm, timeoutMs: number, diag: () => Promise<string>): Promise<void> {
  await waitFor(
    'STATUS= "joined · node Ready"',
    async () => (/Status: "joined · node Ready · edge cast-[0-9a-f-]+"/.test(await vm.sh(`systemctl status --no-pager ${UNIT} | grep Status: || true`)) ? true : undefined),
    timeoutMs,
    diag,
    1000,
  );
}

/**
 * What a joined node shows on the host: /var/lib/k0s is xfs on our 2-stripe LV; our kernel WireGuard
 * interface has the gateway as peer, a handshake, and carries traffic; k0sworker runs with credentials.
 */
export async function expectJoinedHost(vm: Vm, cp: ControlPlane, st: EndState): Promise<void> {
  expect(st.mount).toEqual({ fstype: 'xfs', source: '/dev/mapper/castai--edge-k0s' });
  expect(st.lv).toMatch(/^castai-edge\/k0s stripes=2 attr=-wi-ao/);
  expect(st.wg).toMatchObject({ address: 'EDGE_IP/32', listenPort: '51840', peers: cp.env.GW_PUBLIC_KEY, endpoint: cp.env.GW_ENDPOINT, handshake: true });
  expect(await vm.sh('lsmod | grep -c "^wireguard"')).toMatch(/^1/);
  const ping = await vm.exec(`ping -c 3 -W 5 -I ${WG_IFACE} ${cp.env.GW_TUNNEL_IP}`, { timeoutMs: 60_000 });
  expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
  expect(ping.stdout).toMatch(/3 received/);
  expect(st.k0sworker).toBe('active');
  expect(st.joined).toBe(true);
}

/** Re-running the documented one-liner changes nothing and restarts nothing (same main process, no new registration). */
export async function expectRerunChangesNothing(vm: Vm, cp: ControlPlane, mainPid: () => Promise<string>, timeoutMs: number): Promise<void> {
  const before = await mainPid();
  const registrations = cp.edgeOf(vm.machineId)!.registrations;
  const r = await vm.exec(oneLiner(cp), { timeoutMs });
  expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('nothing changed; castai-edge-initd keeps running');
  expect(await mainPid()).toBe(before);
  expect(cp.edgeOf(vm.machineId)!.registrations).toBe(registrations);
}

/** The operator's DELETE tears the node down: edge DELETED, the unit stopped and disabled, no k0sworker, interface or mount. */
export async function expectDeleteTearsDown(
  vm: Vm,
  cp: ControlPlane,
  timeouts: { deletedMs: number; stoppedMs: number },
  diag: () => Promise<string>,
): Promise<void> {
  const edge = cp.edgeOf(vm.machineId)!;
  expect(await cp.deleteEdge(edge.id)).toBe(200);
  await waitFor(
    'the edge to be DELETED at the emulator',
    async () => (cp.snapshot().edges.find((e) => e.id === edge.id)?.phase === 'DELETED' ? true : undefined),
    timeouts.deletedMs,
    diag,
    3000,
  );
  await waitFor(
    'the agent unit to stop',
    async () => ((await vm.exec(`systemctl is-active --quiet ${UNIT}`)).exitCode !== 0 ? true : undefined),
    timeouts.stoppedMs,
    diag,
    2000,
  );
  const st = await endState(vm, cp);
  expect(st.agent).toEqual({ active: 'inactive', enabled: 'disabled' });
  expect(st.k0sworker).not.toBe('active');
  expect(st.wg).toBeNull();
  expect(st.mount).toBeNull();
  expect(st.edge).toBeNull();
  const reports = cp.snapshot().edges.find((e) => e.id === edge.id)!.statusReports.map((r) => r.body.phase);
  expect(reports.slice(-2)).toEqual(['TEARING_DOWN', 'DELETED']);
  expect(cp.snapshot().peers).toEqual({});
}
