/**
 * One identity per machine in the VM lab (issue 14 item 2; TEST CODE; docs/decisions/0134).
 *
 * Beside a JOINED guest (the API-fault lab's), a second guest boots with the SAME /etc/machine-id
 * (a cloned VM image) and runs the documented one-liner. The control plane (emulator) refuses it
 * with 409 MACHINE_ID_CONFLICT, because the first guest's edge reports every 30 s. Observed:
 *  - the clone's agent stops at the register step with the error that names the other edge, its
 *    lastSeen and the fix, and stays running without a restart loop (one register call a pass);
 *  - nothing of ours on the clone: no WireGuard key or interface, no registration, no k0s, its
 *    NVMe disk blank;
 *  - the first guest's edge is untouched (same key, address, registrations).
 * It runs during the API-fault campaign's 404 windows (api-faults.test.ts), which only wait.
 */
import { agentLog, journalTail, oneLiner, prepareGuest, STATE_DIR, UNIT, waitFor, type ControlPlane } from './join-fixture.ts';
import type { FaultLab } from './api-faults-fixture.ts';
import type { Vm } from './lab.ts';

export interface CloneResult {
  wallS: number;
  installerExit: number;
  /** The register step's error line in the clone's journal. */
  registerError: string;
  /** systemd's Status: line of the clone's agent. */
  statusText: string;
  agentActive: string;
  restarts: number;
  /** The clone's register requests (all should be 409), and the shortest gap between two. */
  registerStatuses: number[];
  registerMinGapS: number | null;
  /** What exists on the clone that would mean a host change (should be empty). */
  hostChanges: string[];
  /** The first guest's edge before/after (key, address, registrations). */
  firstEdgeBefore: string;
  firstEdgeAfter: string;
  firstEdgeId: string;
  lastSeenOk: boolean;
  conflicts: number;
}

const edgeFacts = (cp: ControlPlane, machineId: string) => {
  const e = cp.edgeOf(machineId);
  return {
    id: e?.id ?? '',
    facts: JSON.stringify({
      key: e?.request.wireguardPublicKey,
      hostname: e?.request.hostname,
      address: e?.address,
      registrations: e?.registrations,
      phase: e?.phase,
    }),
  };
};

export async function machineIdClone(f: FaultLab, log: (s: string) => void = () => {}): Promise<CloneResult> {
  const t0 = Date.now();
  const before = edgeFacts(f.cp, f.vm.machineId);
  log(`clone: booting a second guest with machine-id ${f.vm.machineId} (the joined guest's)`);
  const [clone] = (await f.lab.boot([{ name: 'clone', machineId: f.vm.machineId, disks: [{ sizeGiB: 2 }], memoryMiB: 1024 }])) as [Vm];
  try {
    await prepareGuest(clone, f.cp);
    const inst = await clone.exec(oneLiner(f.cp), { timeoutMs: 600_000 });
    log(`clone: installer exit ${inst.exitCode}`);
    let registerError = '';
    await waitFor(
      "the clone's register step to fail with the machine-id conflict, twice (one pass apart)",
      async () => {
        const fails = (await agentLog(clone)).filter((l) => l.level >= 50 && /register: FAILED/.test(l.msg));
        registerError = fails[0]?.msg ?? '';
        return fails.length >= 2 ? true : undefined;
      },
      300_000,
      () => journalTail(clone),
      5000,
    );
    const out = await clone.sh(
      [
        `echo "status=$(systemctl show -p StatusText --value ${UNIT})"`,
        `echo "active=$(systemctl is-active ${UNIT})"`,
        `echo "restarts=$(systemctl show -p NRestarts --value ${UNIT})"`,
        // Anything of ours that would mean the host was changed:
        `for p in ${STATE_DIR}/wireguard/private.key ${STATE_DIR}/register.json ${STATE_DIR}/k0s.json /usr/local/bin/k0s /etc/systemd/system/k0sworker.service /etc/k0s /var/lib/k0s/kubelet.conf; do [ -e "$p" ] && echo "change=$p"; done`,
        'ip link show wg0 >/dev/null 2>&1 && echo "change=wg0 interface"',
        'findmnt -n --mountpoint /var/lib/k0s >/dev/null 2>&1 && echo "change=/var/lib/k0s mounted"',
        '[ -n "$(blkid -p /dev/nvme0n1 2>/dev/null)" ] && echo "change=nvme0n1 has a signature: $(blkid -p /dev/nvme0n1)"',
        '[ -n "$(lvs --noheadings 2>/dev/null)" ] && echo "change=LVM: $(lvs --noheadings | tr -s " ")"',
        'true',
      ].join('\n'),
    );
    const kv = (k: string) => out.split('\n').filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
    const regs = (f.cp.snapshot().requests as Array<{ endpoint: string; status: number; time: string; remote?: string }>).filter(
      (r) => r.endpoint === 'register' && (r.remote ?? '').replace(/^::ffff:/, '').startsWith(`${clone.ip}:`),
    );
    let gap: number | null = null;
    for (let i = 1; i < regs.length; i++) {
      const g = (Date.parse(regs[i]!.time) - Date.parse(regs[i - 1]!.time)) / 1000;
      gap = gap === null ? g : Math.min(gap, g);
    }
    const after = edgeFacts(f.cp, f.vm.machineId);
    const edge = f.cp.edgeOf(f.vm.machineId);
    const lastReport = edge?.statusReports.map((r) => r.time) ?? [];
    const named = /last status report (\S+)\)/.exec(registerError)?.[1];
    const res: CloneResult = {
      wallS: Math.round((Date.now() - t0) / 1000),
      installerExit: inst.exitCode,
      registerError,
      statusText: kv('status')[0] ?? '',
      agentActive: kv('active')[0] ?? '',
      restarts: Number(kv('restarts')[0] ?? '-1'),
      registerStatuses: regs.map((r) => r.status),
      registerMinGapS: gap === null ? null : Math.round(gap * 10) / 10,
      hostChanges: kv('change'),
      firstEdgeBefore: before.facts,
      firstEdgeAfter: after.facts,
      firstEdgeId: before.id,
      lastSeenOk: Boolean(named && lastReport.includes(named)),
      conflicts: ((edge as { conflicts?: unknown[] } | undefined)?.conflicts ?? []).length,
    };
    log(`clone: ${JSON.stringify({ ...res, registerError: res.registerError.slice(0, 160) })}`);
    return res;
  } finally {
    await clone.kill(); // frees the CPU for the rest of the lane
  }
}
