import { describe, expect, it } from 'vitest';
import { readyOf } from '../../scripts/lab-demo-view.ts';

describe('make demo: Ready from whatever the emulator’s node record has', () => {
  it('a Ready condition (top level or under status), a boolean, or a plain statement when absent', () => {
    expect(
      readyOf({
        conditions: [
          { type: 'MemoryPressure', status: 'False' },
          { type: 'Ready', status: 'True', reason: 'KubeletReady' },
        ],
      }),
    ).toBe('True (KubeletReady)');
    expect(readyOf({ status: { conditions: [{ type: 'Ready', status: 'False', lastHeartbeatTime: '2026-12-05T14:00:00Z' }] } })).toBe(
      'False, last heartbeat 2026-12-05T14:00:00Z',
    );
    expect(readyOf({ ready: true })).toBe('True');
    expect(readyOf({ joinedAt: '2026-12-05T14:00:00Z', heartbeats: 3 })).toBe(
      'not reported by this emulator (joined 2026-12-05T14:00:00Z, 3 heartbeat(s) from the k0s test double)',
    );
  });
});
