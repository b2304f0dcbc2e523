import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { devicePluginMigStrategy, migStrategyLine } from '../../agent/gpu/strategy.ts';

/** Issue 18 item 6: the docs say what the code does. */
const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

describe('the unit names only documentation that exists', () => {
  it('no Documentation= pointing at a repository that does not exist (docs/decisions/0185)', () => {
    for (const f of ['systemd/castai-edge-initd.service', 'installer/install.sh']) {
      const docs = read(f).split('\n').filter((l) => l.startsWith('Documentation='));
      // http(s) URLs need a real, established home; none exists yet (the repository has no remote).
      expect(docs.filter((l) => /https?:/.test(l)), f).toEqual([]);
    }
  });
});

describe('NVIDIA device plugin MIG strategy (README vs agent/gpu/strategy.ts)', () => {
  it('single for one profile on every GPU, mixed for several or beside non-MIG GPUs', () => {
    expect(devicePluginMigStrategy(['1g.5gb'])).toBe('single');
    expect(devicePluginMigStrategy(['2g.20gb', '2g.20gb'])).toBe('single');
    expect(devicePluginMigStrategy(['3g.20gb', '2g.10gb', '1g.5gb', '1g.5gb'])).toBe('mixed');
    expect(devicePluginMigStrategy(['1g.5gb'], { nonMigGpus: 1 })).toBe('mixed');
    expect(migStrategyLine(['1g.5gb'], 0)).toBe('NVIDIA device plugin: migStrategy=single (one MIG profile on every GPU: pods request nvidia.com/gpu)');
  });

  it('every partitionSizes example the README gives for a strategy is that strategy', () => {
    const readme = read('README.md');
    const line = readme.split('\n').find((l) => l.startsWith('- **NVIDIA device plugin `migStrategy`**'));
    expect(line, 'README: the migStrategy bullet under NVIDIA MIG').toBeDefined();
    const [single, mixed] = line!.split('`mixed`');
    const examples = (s: string) => [...s.matchAll(/`(\[[^`]*\])`/g)].map((m) => JSON.parse(m[1]!) as string[]);
    expect(examples(single!).length).toBeGreaterThanOrEqual(2);
    for (const e of examples(single!)) expect(devicePluginMigStrategy(e), JSON.stringify(e)).toBe('single');
    expect(examples(mixed!).length).toBeGreaterThanOrEqual(1);
    for (const e of examples(mixed!)) expect(devicePluginMigStrategy(e), JSON.stringify(e)).toBe('mixed');
  });
});
