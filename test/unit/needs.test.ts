/** test/helpers/needs.ts: a missing need fails the test; the workstation opt-out never works under CI (decision 0222). */
import { describe, expect, it } from 'vitest';
import { maySkip, missingTools, needsMessage } from '../helpers/needs.ts';

describe('needs: root-needing tests fail instead of skipping', () => {
  it('skips only with NEEDS_ALLOW_SKIP=1 off CI', () => {
    expect(maySkip({})).toBe(false);
    expect(maySkip({ NEEDS_ALLOW_SKIP: '1' })).toBe(true);
    expect(maySkip({ NEEDS_ALLOW_SKIP: 'yes' })).toBe(false);
    expect(maySkip({ NEEDS_ALLOW_SKIP: '1', CI: 'true' })).toBe(false);
    expect(maySkip({ NEEDS_ALLOW_SKIP: '1', CI: '1' })).toBe(false);
    expect(maySkip({ NEEDS_ALLOW_SKIP: '1', CI: 'false' })).toBe(true);
  });

  it('names what is missing and how to get it', () => {
    expect(missingTools(['sh', 'no-such-tool-x9'], 'apt-get install x')).toEqual(['no-such-tool-x9 on PATH (apt-get install x)']);
    expect(missingTools(['a;touch /tmp/needs-injected'], 'n/a')).toEqual(['a;touch /tmp/needs-injected on PATH (n/a)']);
    const m = needsMessage('lane', ['root (uid 0) for netns']);
    expect(m).toMatch(/FAILS instead of skipping/);
    expect(m).toContain('  - root (uid 0) for netns');
  });
});
