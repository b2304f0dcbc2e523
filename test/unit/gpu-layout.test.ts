import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  creationOrders,
  currentLayout,
  describeLayout,
  findPlacement,
  fitProblems,
  MigLayoutError,
  resolveLayout,
  resolveNames,
  sameLayout,
} from '../../agent/gpu/layout.ts';
import { parseLci, parseLgi } from '../../agent/gpu/parse.ts';
import { A100, fx, H100, NVL } from './gpu-fixtures.ts';

const names = (sizes: string[], c = A100()) => resolveLayout(sizes, c).instances.map((p) => p.name);

describe('a single entry fills the GPU', () => {
  it('["1g.5gb"] on an A100-40GB is 7 × 1g.5gb', () => {
    const l = resolveLayout(['1g.5gb'], A100());
    expect(l.filled).toBe(true);
    expect(l.instances.map((p) => p.name)).toEqual(Array(7).fill('1g.5gb'));
    expect(l.instances[0]).toEqual({ name: '1g.5gb', id: 19, compute: 1, memory: 1 });
  });
  it.each([
    ['1g.10gb', H100, 7],
    ['1g.20gb', H100, 4],
    ['2g.20gb', H100, 3],
    ['3g.40gb', H100, 2],
    ['4g.40gb', H100, 1],
    ['7g.80gb', H100, 1],
    ['1g.10gb+me', H100, 1],
    ['1g.10gb', A100, 4],
    ['3g.47gb', NVL, 2],
    ['1g.12gb', NVL, 7],
  ] as const)('%s fills with %#', (size, c, n) => {
    expect(names([size], c())).toEqual(Array(n).fill(size));
  });
  it('accepts the "MIG " prefix and any case', () => {
    expect(names(['MIG 1G.5GB'])).toHaveLength(7);
  });
});

describe('several entries are the exact multiset', () => {
  it('3g.20gb + 2g.10gb + 2 × 1g.5gb, largest first', () => {
    expect(names(['1g.5gb', '2g.10gb', '1g.5gb', '3g.20gb'])).toEqual(['3g.20gb', '2g.10gb', '1g.5gb', '1g.5gb']);
  });
  it('two identical entries are exactly two', () => {
    expect(names(['1g.5gb', '1g.5gb'])).toEqual(['1g.5gb', '1g.5gb']);
  });
  it('4g + 3g fills all 8 memory slices', () => {
    expect(names(['3g.40gb', '4g.40gb'], H100())).toEqual(['4g.40gb', '3g.40gb']);
  });
});

describe('names resolve against each GPU model', () => {
  it('1g.5gb on an H100 lists the names that exist', () => {
    expect(() => resolveLayout(['1g.5gb'], H100())).toThrow(
      'profile 1g.5gb does not exist on NVIDIA H100 80GB HBM3 (GPU 0); available: 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb',
    );
  });
  it('several unknown names are listed once each', () => {
    expect(() => resolveNames(['1g.5gb', '2g.10gb', '1g.5gb'], NVL())).toThrow(/profiles 1g\.5gb, 2g\.10gb do not exist on NVIDIA H100 NVL \(GPU 0\); available: 1g\.12gb,/);
  });
  it('the error carries the GPU', () => {
    try {
      resolveLayout(['1g.5gb'], H100());
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(MigLayoutError);
      expect((e as MigLayoutError).model).toBe('NVIDIA H100 80GB HBM3');
    }
  });
});

describe('a set that does not fit shows the arithmetic', () => {
  it('compute and instance count', () => {
    expect(() => resolveLayout(['4g.20gb', '4g.20gb'], A100())).toThrow(
      [
        'MIG layout 4g.20gb + 4g.20gb does not fit on NVIDIA A100-PCIE-40GB (GPU 0):',
        '  compute slices: 4 (4g.20gb) + 4 (4g.20gb) = 8 > 7 on this GPU',
        '  instances of 4g.20gb: 2 requested > 1 possible (Total in -lgip)',
      ].join('\n'),
    );
  });
  it('memory slices', () => {
    expect(() => resolveLayout(['3g.20gb', '3g.20gb', '1g.5gb'], A100())).toThrow(
      'memory slices: 4 (3g.20gb) + 4 (3g.20gb) + 1 (1g.5gb) = 9 > 8 on this GPU',
    );
  });
  it('placements: the sums fit but no non-overlapping assignment exists', () => {
    // A synthetic GPU whose 2-slice profile may only start at 1 and 3 (overlapping a 1-slice profile at 2).
    const c = A100();
    c.placements = c.placements.map((p) => (p.profileId === 14 ? { ...p, starts: [1] } : p));
    expect(fitProblems(resolveNames(['2g.10gb', '1g.10gb', '1g.10gb', '1g.10gb'], c), c)).toEqual([
      'placements: no non-overlapping assignment of memory slices exists (possible placements from -lgipp: 2g.10gb at {1}:2; 1g.10gb at {0,2,4,6}:2)',
    ]);
  });
  it('+me profiles exist once per GPU', () => {
    expect(() => resolveLayout(['1g.10gb+me', '1g.10gb+me'], H100())).toThrow(/instances of 1g\.10gb\+me: 2 requested > 1 possible/);
  });
});

describe('placement search agrees with the driver arithmetic', () => {
  const profiles = ['1g.5gb', '1g.10gb', '2g.10gb', '3g.20gb', '4g.20gb', '7g.40gb'];
  it('a found placement never overlaps and never exceeds 8 memory slices (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...profiles), { minLength: 1, maxLength: 8 }), (sizes) => {
        const c = A100();
        const inst = resolveNames(sizes, c);
        const starts = findPlacement(inst, c);
        if (!starts) return;
        const spans = inst.map((p, i) => [starts[i]!, starts[i]! + p.memory] as const).sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
        expect(inst.reduce((a, p) => a + p.memory, 0)).toBeLessThanOrEqual(8);
      }),
      { numRuns: 300 },
    );
  });
});

describe('creation orders', () => {
  it('largest first, then the other distinct orders', () => {
    const inst = resolveNames(['1g.5gb', '1g.5gb', '2g.10gb', '3g.20gb'], A100());
    const orders = creationOrders(inst);
    expect(orders[0]).toEqual([9, 14, 19, 19]);
    expect(orders).toContainEqual([19, 19, 14, 9]);
    expect(new Set(orders.map((o) => o.join(','))).size).toBe(orders.length);
    expect(orders).toHaveLength(12); // 4! / 2!
  });
  it('identical instances have one order', () => {
    expect(creationOrders(resolveNames(Array(7).fill('1g.5gb'), A100()))).toEqual([[19, 19, 19, 19, 19, 19, 19]]);
  });
});

describe('current layout', () => {
  it('H100 7 × 1g.10gb is complete and equals ["1g.10gb"] filled', () => {
    const cur = currentLayout(0, parseLgi(fx('h100-80gb.lgi-7x1g.txt')), parseLci(fx('h100-80gb.lci-7x1g.txt')));
    expect(cur.complete).toBe(true);
    expect(describeLayout(cur.gis)).toBe('7 × 1g.10gb');
    expect(sameLayout(cur, names(['1g.10gb'], H100()))).toBe(true);
    expect(sameLayout(cur, names(['1g.20gb'], H100()))).toBe(false);
  });
  it('GPU instances without compute instances are incomplete (mig-parted#18)', () => {
    const cur = currentLayout(0, parseLgi(fx('h100-nvl-94gb.lgi-2x3g.txt')), []);
    expect(cur.complete).toBe(false);
    expect(cur.problems).toEqual(['GPU instance 1 (3g.47gb) has no compute instance', 'GPU instance 2 (3g.47gb) has no compute instance']);
    expect(sameLayout(cur, ['3g.47gb', '3g.47gb'])).toBe(false);
  });
  it('describes layouts', () => {
    expect(describeLayout([])).toBe('(none)');
    expect(describeLayout(['1g.5gb', '3g.20gb', '1g.5gb'])).toBe('3g.20gb + 2 × 1g.5gb');
  });
});
