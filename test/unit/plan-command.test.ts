import { describe, expect, it } from 'vitest';
import { tally, type PlanEntry } from '../../agent/commands/plan.ts';

describe('plan: refusals', () => {
  it('a step whose plan refuses counts as refused (exit 1), and its refusals are not counted as changes', () => {
    const entries: PlanEntry[] = [
      { step: 'preflight', summary: 'host ok', actions: [] },
      {
        step: 'storage',
        summary: 'refusing',
        actions: [
          { kind: 'storage.refuse', description: 'refuse /dev/nvme1n1', reason: 'ext4 filesystem signature (UUID 1234)' },
          { kind: 'storage.pvcreate', description: 'pvcreate /dev/nvme0n1', reason: 'blank' },
        ],
      },
      { step: 'wireguard', summary: '2 changes', actions: [{ kind: 'wg.up', description: 'ip link add wg0', reason: '' }, { kind: 'wg.addr', description: 'ip addr add', reason: '' }] },
    ];
    expect(tally(entries)).toEqual({ changes: 2, refused: 1 });
    expect(entries[1]!.summary).toBe('REFUSED: refusing');
    expect(entries[1]!.error?.message).toBe('refuse /dev/nvme1n1: ext4 filesystem signature (UUID 1234)');
    expect(entries[1]!.error?.remediation).toMatch(/NVME_DEVICES/);
  });

  it('a plan without refusals keeps its counts', () => {
    const entries: PlanEntry[] = [{ step: 'k0s', summary: 'install', actions: [{ kind: 'k0s.install', description: 'k0s install worker', reason: '' }] }];
    expect(tally(entries)).toEqual({ changes: 1, refused: 0 });
    expect(entries[0]!.error).toBeUndefined();
  });
});
