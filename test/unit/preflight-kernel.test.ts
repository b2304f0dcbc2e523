import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MIN_KERNEL, compareKernel, parseKernelRelease } from '../../agent/preflight/kernel.ts';

describe('parseKernelRelease', () => {
  const good: Array<[string, [number, number, number], boolean]> = [
    // release, parsed, >= 6.0
    ['6.1.0-28-amd64', [6, 1, 0], true],
    ['6.18.44-fc-v595', [6, 18, 44], true],
    ['5.15.0-1034-aws', [5, 15, 0], false],
    ['6.0', [6, 0, 0], true],
    ['4.19.0', [4, 19, 0], false],
    ['6.8.0-45-generic', [6, 8, 0], true],
    ['5.14.0-427.13.1.el9_4.x86_64', [5, 14, 0], false],
    ['6.12.0-55.9.1.el10_0.aarch64', [6, 12, 0], true],
    ['6.6.30+rpt-rpi-v8', [6, 6, 30], true],
    ['6.1.0-rc7', [6, 1, 0], true],
    ['5.19.17', [5, 19, 17], false],
    ['10.0.1', [10, 0, 1], true],
    ['  6.1.0-28-amd64\n', [6, 1, 0], true],
  ];
  it.each(good)('%j parses', (release, [major, minor, patch], newEnough) => {
    const r = parseKernelRelease(release);
    expect(r).toEqual({ ok: true, version: { major, minor, patch } });
    if (r.ok) expect(compareKernel(r.version, MIN_KERNEL) >= 0).toBe(newEnough);
  });

  const bad = ['', 'garbage', 'linux-6.1', '6', '6.', '6.x', 'v6.1.0', '6.1.0 extra words', '６.1', '6.1.0-\u0000', 'a'.repeat(200)];
  it.each(bad)('%j is a clear failure', (release) => {
    const r = parseKernelRelease(release);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(/^cannot parse kernel release "/);
      expect(r.error).toContain('expected MAJOR.MINOR[.PATCH][-suffix] such as 6.1.0-28-amd64');
      expect(r.error.length).toBeLessThan(200); // long garbage is truncated, not echoed whole
    }
  });

  it('compares numerically, not as strings', () => {
    const v = (s: string) => {
      const r = parseKernelRelease(s);
      if (!r.ok) throw new Error(r.error);
      return r.version;
    };
    expect(compareKernel(v('6.10.0'), v('6.9.0'))).toBeGreaterThan(0);
    expect(compareKernel(v('5.99.99'), v('6.0'))).toBeLessThan(0);
    expect(compareKernel(v('6.0'), v('6.0.0-1-amd64'))).toBe(0);
  });
});

describe('parseKernelRelease properties', () => {
  it('MAJOR.MINOR.PATCH with any distro suffix parses to exactly those numbers', () => {
    fc.assert(
      fc.property(
        fc.nat(999), fc.nat(999), fc.nat(99999),
        fc.constantFrom('', '-', '+', '_', '.', '~'), fc.stringMatching(/^[a-z0-9._+-]{0,20}$/),
        (ma, mi, pa, sep, rest) => {
          const r = parseKernelRelease(`${ma}.${mi}.${pa}${sep ? sep + rest : ''}`);
          expect(r).toEqual({ ok: true, version: { major: ma, minor: mi, patch: pa } });
        },
      ),
    );
  });
  it('never throws, and an ok result always has numbers', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const r = parseKernelRelease(s);
        if (r.ok) expect(Number.isInteger(r.version.major) && Number.isInteger(r.version.minor)).toBe(true);
        else expect(r.error).toMatch(/^cannot parse kernel release/);
      }),
    );
  });
});
