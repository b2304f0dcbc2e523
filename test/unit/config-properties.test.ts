/**
 * Property tests for the configuration validators (fast-check): they never
 * throw, every problem names its variable and carries a message, and whatever
 * they accept satisfies the Kubernetes rules and survives a format/parse round trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatLabels,
  formatTaints,
  parseApiUrl,
  parseGpuConfig,
  parseId,
  parseLabels,
  parseLogLevel,
  parseNvmeDevices,
  parseProxy,
  parseStateDir,
  parseTaints,
  parseToken,
  type Parsed,
} from '../../agent/config/validate.ts';
import { LABEL_VALUE, QUALIFIED_NAME } from '../helpers/kube-names.ts';

// Strings biased towards the characters that matter to the parsers.
const soup = fc.string({ unit: fc.constantFrom(...'aZ09-_./=:, \t!@#"{}[]'.split(''), 'kubernetes.io/', 'NoSchedule', '/dev/nvme0n1', 'http://'), maxLength: 60 });
const anyText = fc.oneof(soup, fc.string({ maxLength: 80 }));

function wellFormed<T>(r: Parsed<T>, variablePrefix: string): void {
  if (r.ok) return;
  expect(r.problems.length).toBeGreaterThan(0);
  for (const p of r.problems) {
    expect(p.variable.startsWith(variablePrefix)).toBe(true);
    expect(p.message.length).toBeGreaterThan(10);
  }
}

describe('validators never throw and always name the variable', () => {
  it.each<[string, (s: string) => Parsed<unknown>]>([
    ['INITD_KUBERNETES_LABELS', (s) => parseLabels(s)],
    ['INITD_KUBERNETES_TAINTS', (s) => parseTaints(s)],
    ['INITD_GPU_CONFIG', (s) => parseGpuConfig(s)],
    ['NVME_DEVICES', (s) => parseNvmeDevices(s)],
    ['API_URL', (s) => parseApiUrl(s)],
    ['ORG_ID', (s) => parseId(s, 'ORG_ID')],
    ['INITD_BOOTSTRAP_TOKEN', (s) => parseToken(s)],
    ['INITD_STATE_DIR', (s) => parseStateDir(s)],
    ['INITD_LOG_LEVEL', (s) => parseLogLevel(s)],
  ])('%s', (variable, fn) => {
    fc.assert(fc.property(anyText, (s) => wellFormed(fn(s), variable)), { numRuns: 400 });
  });

  it('proxies', () => {
    fc.assert(
      fc.property(anyText, anyText, anyText, (a, b, c) => {
        const r = parseProxy({ HTTP_PROXY: a, http_proxy: b, NO_PROXY: c });
        if (!r.ok) for (const p of r.problems) expect(/^(HTTP_PROXY|http_proxy|NO_PROXY|no_proxy)$/.test(p.variable)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('accepted values obey the Kubernetes rules and round-trip', () => {
  it('labels', () => {
    fc.assert(
      fc.property(soup, (s) => {
        const r = parseLabels(s);
        if (!r.ok) return;
        for (const [k, v] of Object.entries(r.value)) {
          expect(QUALIFIED_NAME.test(k)).toBe(true);
          expect(k.split('/').pop()!.length).toBeLessThanOrEqual(63);
          expect(LABEL_VALUE.test(v)).toBe(true);
          expect(v.length).toBeLessThanOrEqual(63);
        }
        const again = parseLabels(formatLabels(r.value));
        expect(again).toEqual(r);
      }),
      { numRuns: 500 },
    );
  });

  it('generated valid labels are accepted', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/);
    const prefix = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?){0,3}$/).filter((p) => !/(^|\.)(kubernetes|k8s)\.io$/.test(p));
    const key = fc.tuple(fc.option(prefix, { nil: undefined }), name).map(([p, n]) => (p ? `${p}/${n}` : n));
    const value = fc.oneof(fc.constant(''), name);
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 6 }), (pairs) => {
        const raw = pairs.map(([k, v]) => `${k}=${v}`).join(',');
        const r = parseLabels(raw);
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.value).toEqual(Object.fromEntries(pairs));
      }),
      { numRuns: 300 },
    );
  });

  it('taints', () => {
    fc.assert(
      fc.property(soup, (s) => {
        const r = parseTaints(s);
        if (!r.ok) return;
        for (const t of r.value) {
          expect(QUALIFIED_NAME.test(t.key)).toBe(true);
          if (t.value !== undefined) expect(LABEL_VALUE.test(t.value)).toBe(true);
          expect(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).toContain(t.effect);
        }
        expect(parseTaints(formatTaints(r.value))).toEqual(r);
      }),
      { numRuns: 500 },
    );
  });

  it('MIG sizes', () => {
    const size = fc.tuple(fc.nat(7), fc.nat(200), fc.boolean()).map(([g, m, me]) => `${g}g.${m}gb${me ? '+me' : ''}`);
    fc.assert(
      fc.property(fc.array(size, { minLength: 1, maxLength: 7 }), (sizes) => {
        const r = parseGpuConfig(JSON.stringify({ mig: { partitionSizes: sizes } }));
        expect(r).toEqual({ ok: true, value: { mig: { partitionSizes: sizes } } });
      }),
    );
  });

  it('NVMe devices are unique absolute /dev paths', () => {
    fc.assert(
      fc.property(soup, (s) => {
        const r = parseNvmeDevices(s);
        if (!r.ok || r.value === undefined) return;
        expect(new Set(r.value).size).toBe(r.value.length);
        for (const d of r.value) expect(d.startsWith('/dev/')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
