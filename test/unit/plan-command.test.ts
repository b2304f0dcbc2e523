import { describe, expect, it } from 'vitest';
import { tally, type PlanEntry } from '../../agent/commands/plan.ts';
import type { AgentConfig } from '../../agent/config/types.ts';
import { runStorageStep } from '../../agent/storage/index.ts';
import { storageStep } from '../../agent/reconcile/steps/storage.ts';
import { StateStore } from '../../agent/state/store.ts';
import { StorageSim } from '../fixtures/storage/sim.ts';
import { DEFAULT_STATE_DIR } from '../../agent/state/files.ts';

const STATE_DIR = DEFAULT_STATE_DIR;

describe('plan: refusals', () => {
  it('a step whose plan refuses counts as refused (exit 1), and its refusals are not counted as changes', () => {
    const entries: PlanEntry[] = [
      { step: 'preflight', summary: 'host ok', actions: [] },
      {
        step: 'storage',
        summary: 'refusing',
        actions: [
          { kind: 'storage.pvcreate', description: 'pvcreate /dev/nvme0n1', reason: 'blank' },
        ],
        error: {
          message: 'storage: refusing to touch any disk (nothing was changed):\n  /dev/nvme1n1: ext4 filesystem signature (UUID 1234)',
          remediation: 'fix the listed devices (or NVME_DEVICES) and run again',
        },
      },
      {
        step: 'wireguard',
        summary: '2 changes',
        actions: [
          { kind: 'wg.up', description: 'ip link add wg0', reason: '' },
          { kind: 'wg.addr', description: 'ip addr add', reason: '' },
        ],
      },
    ];
    expect(tally(entries)).toEqual({ changes: 2, refused: 1 });
    expect(entries[1]!.summary).toBe('REFUSED: refusing');
    expect(tally(entries)).toEqual({ changes: 2, refused: 1 }); // idempotent
    expect(entries[1]!.summary).toBe('REFUSED: refusing');
  });

  it('a plan without refusals keeps its counts', () => {
    const entries: PlanEntry[] = [{ step: 'k0s', summary: 'install', actions: [{ kind: 'k0s.install', description: 'k0s install worker', reason: '' }] }];
    expect(tally(entries)).toEqual({ changes: 1, refused: 0 });
    expect(entries[0]!.error).toBeUndefined();
  });

  it('the storage step reports its refusal in its plan with the very words `run` raises', async () => {
    const sim = new StorageSim([StorageSim.nvme(1), StorageSim.nvme(2)]);
    sim.disk('nvme2n1').sig = 'ext4';
    // named: a disk with data is refused, not skipped
    const cfg = { nvmeDevices: ['/dev/nvme1n1', '/dev/nvme2n1'], stateDir: STATE_DIR } as unknown as AgentConfig;
    const ctx = {
      host: sim.host,
      cfg,
      store: new StateStore(sim.host, STATE_DIR),
      log: { info: () => {} },
      signal: new AbortController().signal,
      shared: { extraLabels: {} },
    } as never;
    const p = await storageStep().plan(ctx);
    const ran = (await runStorageStep(sim.host, cfg, STATE_DIR).catch((e: unknown) => e)) as Error & { remediation?: string };
    expect(p.error?.message).toMatch(/^storage: refusing to touch any disk \(nothing was changed\):\n {2}\/dev\/nvme2n1: ext4 filesystem signature/);
    expect(p.error).toEqual({ message: ran.message, remediation: ran.remediation });
    expect(p.error?.remediation).toMatch(/NVME_DEVICES/);
    expect(p.actions).toEqual([]); // a typed refusal: nothing to apply, the refused disk is in the rows
    expect((p.details as { rows: Array<{ device: string; action: string }> }).rows).toContainEqual(
      expect.objectContaining({ device: '/dev/nvme2n1', action: 'REFUSE' }),
    );
    expect(tally([p])).toEqual({ changes: 0, refused: 1 });
  });
});
