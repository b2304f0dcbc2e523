import { parseGpuCsv } from '../../agent/inventory/inventory.ts';
import { describe, expect, it } from 'vitest';
import {
  classifyMessage,
  NvidiaSmiParseError,
  parseLci,
  parseLgi,
  parseLgip,
  parseLgipp,
  parseMigCall,
  parseMigEnable,
  parseQueryGpu,
} from '../../agent/gpu/parse.ts';
import { translateFailure } from '../../agent/gpu/nvidia-smi.ts';
import { fixtureFiles, fx } from './gpu-fixtures.ts';

const noFacts = { nvidiaDrmLoaded: false, persistencedRunning: false };

/** Every fixture must be consumed by a parser; this decides which one and checks the result is not empty. */
function consume(file: string): unknown {
  const text = fx(file);
  if (file.startsWith('query-gpu.csv')) {
    const [comment, ...rest] = text.split('\n');
    const fields = /--query-gpu=(\S+)/.exec(comment!)![1]!.split(',');
    const rows = parseQueryGpu(rest.join('\n'), fields);
    expect(rows.length).toBeGreaterThan(0);
    return rows;
  }
  if (file.startsWith('query-gpu-agent')) return parseQueryGpu(text);
  if (file.startsWith('query-gpu-inventory')) return parseGpuCsv(text); // the inventory's query (agent/inventory)
  if (file === 'mig-disabled.txt' || file === 'lgi-none.txt') return classifyMessage(text); // message instead of a table
  if (/\.lgipp/.test(file)) return parseLgipp(text);
  if (/\.lgip/.test(file)) return parseLgip(text);
  if (/(^|\.)lgi-/.test(file)) return parseLgi(text);
  if (/\.lci-/.test(file)) return parseLci(text);
  if (/cgi|\.dci|\.dgi/.test(file)) return parseMigCall(text, file);
  if (/mig-enable/.test(file)) return parseMigEnable(text);
  if (/gpu-reset-not-supported/.test(file)) {
    return translateFailure(
      ['-r', '-i', '00000000:00:03.0'],
      { exitCode: 3, stdout: text, stderr: '', timedOut: false, notFound: false, durationMs: 0 },
      noFacts,
    ).remediation;
  }
  if (file.endsWith('.L.txt')) return text.trim().split('\n'); // `-L` is not read by the agent; the double reproduces it
  throw new Error(`no parser is assigned to fixture ${file}: add one to consume()`);
}

describe('every nvidia-smi fixture parses', () => {
  for (const f of fixtureFiles()) {
    it(f, () => {
      const r = consume(f);
      expect(r).toBeTruthy();
      if (Array.isArray(r)) expect(r.length).toBeGreaterThan(0);
    });
  }
});

describe('query-gpu', () => {
  it('reads the real fixture with its own columns (A100 MIG, A2 without MIG)', () => {
    const [, ...rest] = fx('query-gpu.csv.txt').split('\n');
    expect(parseQueryGpu(rest.join('\n'), ['name', 'pci.bus_id', 'mig.mode.current', 'mig.mode.pending'])).toEqual([
      { name: 'NVIDIA A100-PCIE-40GB', busId: '00000000:04:00.0', migCurrent: 'Enabled', migPending: 'Enabled' },
      { name: 'NVIDIA A2', busId: '00000000:08:00.0', migCurrent: 'N/A', migPending: 'N/A' },
    ]);
  });
  it("reads the agent's query", () => {
    const rows = parseQueryGpu(fx('query-gpu-agent.derived.txt'));
    expect(rows[1]).toEqual({
      index: 1,
      busId: '00000000:16:00.0',
      name: 'NVIDIA H100 80GB HBM3',
      migCurrent: 'Disabled',
      migPending: 'Disabled',
      memoryTotalMiB: 81559,
    });
    expect(rows[2]!.migCurrent).toBe('N/A');
  });
  it('fails loudly on a wrong column count, naming the command and the line', () => {
    expect(() => parseQueryGpu('NVIDIA A2, 00000000:08:00.0\n')).toThrow(NvidiaSmiParseError);
    expect(() => parseQueryGpu('NVIDIA A2, 00000000:08:00.0\n')).toThrow(/--query-gpu=index,pci\.bus_id.*expected 6 comma-separated values.*"NVIDIA A2, 00000000:08:00.0"/);
  });
  it('rejects an unknown MIG mode and a header line', () => {
    expect(() => parseQueryGpu('0, 00000000:04:00.0, X, Maybe, Enabled, 1 MiB')).toThrow(/unknown MIG mode "Maybe"/);
    expect(() => parseQueryGpu('index, pci.bus_id, name, mig.mode.current, mig.mode.pending, memory.total [MiB]')).toThrow(/index "index" is not a number/);
  });
});

describe('-lgip', () => {
  it('A100-40GB: seven profiles with counts and engines', () => {
    const p = parseLgip(fx('a100-40gb.lgip.txt'));
    expect(p.map((x) => `${x.name}#${x.id} ${x.free}/${x.total}`)).toEqual([
      '1g.5gb#19 7/7', '1g.5gb+me#20 1/1', '1g.10gb#15 4/4', '2g.10gb#14 3/3', '3g.20gb#9 2/2', '4g.20gb#5 1/1', '7g.40gb#0 1/1',
    ]);
    expect(p[6]).toEqual({ gpu: 0, name: '7g.40gb', id: 0, free: 1, total: 1, memoryGiB: 39.5, p2p: false, sm: 98, dec: 5, enc: 0, ce: 7, jpeg: 1, ofa: 1 });
  });
  it('H100 80GB: names differ from the A100 (no 1g.5gb)', () => {
    expect(parseLgip(fx('h100-80gb.lgip.txt')).map((x) => x.name)).toEqual(['1g.10gb', '1g.10gb+me', '1g.20gb', '2g.20gb', '3g.40gb', '4g.40gb', '7g.80gb']);
  });
  it('H100 NVL fully used: every Free is 0', () => {
    const p = parseLgip(fx('h100-nvl-94gb.lgip-all-used.txt'));
    expect(p).toHaveLength(7);
    expect(p.every((x) => x.free === 0)).toBe(true);
    expect(p.find((x) => x.name === '7g.94gb')!.memoryGiB).toBe(92.62);
  });
  it('fails loudly on an unknown row, a missing second line, a truncated table, an unknown header', () => {
    const good = fx('h100-80gb.lgip.txt');
    const rows = good.split('\n');
    const bad1 = [...rows.slice(0, 5), '|   0  MIG 1g.10gb       19     7/7        9.75       No     16     1   |', ...rows.slice(6)].join('\n');
    expect(() => parseLgip(bad1)).toThrow(/nvidia-smi mig -lgip.*line 6/);
    const bad2 = [...rows.slice(0, 6), ...rows.slice(7)].join('\n');
    expect(() => parseLgip(bad2)).toThrow(/without its second line/);
    expect(() => parseLgip(rows.slice(0, 7).join('\n'))).toThrow(/does not end with a border/);
    expect(() => parseLgip(good.replace('Free/Total', 'Free|Total'))).toThrow(/unknown table header/);
    expect(() => parseLgip('Failed to display GPU instance profiles: Unknown Error\n')).toThrow(NvidiaSmiParseError);
    expect(() => parseLgip('')).toThrow(/empty output/);
  });
  it('"No MIG-enabled devices found." is no profiles (MIG off), not an error', () => {
    expect(parseLgip(fx('mig-disabled.txt'))).toEqual([]);
  });
});

describe('-lgipp', () => {
  it('H100: placements per profile, singular and plural forms', () => {
    const p = parseLgipp(fx('h100-80gb.lgipp.txt'));
    expect(p).toHaveLength(7);
    expect(p[0]).toEqual({ gpu: 0, profileId: 19, starts: [0, 1, 2, 3, 4, 5, 6], size: 1 });
    expect(p[5]).toEqual({ gpu: 0, profileId: 5, starts: [0], size: 4 });
    expect(p[6]).toEqual({ gpu: 0, profileId: 0, starts: [0], size: 8 });
  });
  it('fails loudly on anything else', () => {
    expect(() => parseLgipp('GPU  0 Profile ID 19 Placements: 0,1,2:1\n')).toThrow(/-lgipp.*line 1/);
    expect(() => parseLgipp('')).toThrow(/empty output/);
  });
});

describe('-lgi / -lci', () => {
  it('H100 7 × 1g.10gb: instance IDs 7..13 at placements 0..6', () => {
    const gi = parseLgi(fx('h100-80gb.lgi-7x1g.txt'));
    expect(gi.map((g) => `${g.id}@${g.start}:${g.size}`)).toEqual(['7@0:1', '8@1:1', '9@2:1', '10@3:1', '11@4:1', '12@5:1', '13@6:1']);
    expect(gi.every((g) => g.name === '1g.10gb' && g.profileId === 19)).toBe(true);
    const ci = parseLci(fx('h100-80gb.lci-7x1g.txt'));
    expect(ci.map((c) => c.giId)).toEqual([7, 8, 9, 10, 11, 12, 13]);
    expect(ci[0]).toEqual({ gpu: 0, giId: 7, name: '1g.10gb', profileId: 0, id: 0, start: 0, size: 1 });
  });
  it('H100 NVL two 3g.47gb and A100 one 1g.5gb', () => {
    expect(parseLgi(fx('h100-nvl-94gb.lgi-2x3g.txt')).map((g) => `${g.name}#${g.id}@${g.start}:${g.size}`)).toEqual(['3g.47gb#1@0:4', '3g.47gb#2@4:4']);
    expect(parseLci(fx('a100-40gb.lci-1x1g.txt'))).toEqual([{ gpu: 0, giId: 13, name: '1g.5gb', profileId: 0, id: 0, start: 0, size: 1 }]);
  });
  it('older drivers: -lci without the Placement column', () => {
    const old = [
      '+-------------------------------------------------------+',
      '| Compute instances:                                    |',
      '| GPU     GPU       Name             Profile   Instance |',
      '|       Instance                       ID        ID     |',
      '|         ID                                            |',
      '|=======================================================|',
      '|   0      1       MIG 1c.3g.20gb       0         0     |',
      '+-------------------------------------------------------+',
    ].join('\n');
    expect(parseLci(old)).toEqual([{ gpu: 0, giId: 1, name: '1c.3g.20gb', profileId: 0, id: 0 }]);
  });
  it('"No GPU instances found: Not Found" is an empty list', () => {
    expect(parseLgi(fx('lgi-none.txt'))).toEqual([]);
    expect(parseLci('No compute instances found: Not Found\n')).toEqual([]);
  });
  it('fails loudly on an unknown row instead of returning fewer instances', () => {
    const t = fx('h100-80gb.lgi-7x1g.txt').replace(
      '|   0  MIG 1g.10gb         19       10          3:1     |',
      '|   0  MIG 1g.10gb         19       10          3-1     |',
    );
    expect(() => parseLgi(t)).toThrow(/nvidia-smi mig -lgi.*line 12.*3-1/);
    expect(() => parseLci('No MIG-enabled devices found.\n')).toThrow(NvidiaSmiParseError);
    expect(() => parseLgi('garbage\n')).toThrow(/expected table border at line 1/);
  });
});

describe('mutating calls', () => {
  it('-cgi … -C: 7 GPU instances, each with its compute instance', () => {
    const r = parseMigCall(fx('h100-80gb.cgi-7x19-C.txt'), 'nvidia-smi mig -cgi');
    expect(r.createdGis.map((g) => g.id)).toEqual([13, 11, 12, 7, 8, 9, 10]);
    expect(r.createdCis).toHaveLength(7);
    expect(r.createdCis[0]).toEqual({ id: 0, gpu: 0, giId: 13, profile: '1g.10gb', profileId: 0 });
    expect(r.errors).toEqual([]);
  });
  it('-cgi partial failure keeps the created ones and the error lines', () => {
    const r = parseMigCall(fx('a100-40gb.cgi-19-19-14-9-insufficient.txt'), 'cgi');
    expect(r.createdGis.map((g) => g.id)).toEqual([13, 11, 3]);
    expect(r.errors).toEqual([
      'Unable to create a GPU instance on GPU  0 using profile 9: Insufficient Resources',
      'Failed to create GPU instances: Insufficient Resources',
    ]);
    expect(parseMigCall(fx('cgi-in-use.txt'), 'cgi').errors[1]).toMatch(/In use by another client/);
  });
  it('-dci and -dgi', () => {
    expect(parseMigCall(fx('h100-80gb.dci.txt'), 'dci').destroyedCis.map((c) => c.giId)).toEqual([7, 8, 9, 10, 11, 12, 13]);
    expect(parseMigCall(fx('h100-80gb.dgi.txt'), 'dgi').destroyedGis.map((g) => g.id)).toEqual([7, 8, 9, 10, 11, 12, 13]);
    expect(parseMigCall('No compute instances found: Not Found\n', 'dci').nothingFound).toBe(true);
  });
  it('fails loudly on an unknown line', () => {
    expect(() => parseMigCall('Successfully created something else\n', 'nvidia-smi mig -i 0 -cgi 19 -C')).toThrow(/nvidia-smi mig -i 0 -cgi 19 -C.*line 1/);
  });
  it('-mig 1: enabled at once, or pending with the reason', () => {
    expect(parseMigEnable(fx('h100-80gb.mig-enable.txt'))).toEqual({ enabled: ['00000000:16:00.0'], pending: [], alreadyEnabled: false });
    expect(parseMigEnable(fx('a100.mig-enable-pending-not-supported.txt')).pending).toEqual([{ busId: '00000000:00:03.0', reason: 'Not Supported' }]);
    expect(parseMigEnable(fx('a100.mig-enable-pending-in-use.txt')).pending).toEqual([{ busId: '00000000:01:00.0', reason: 'In use by another client' }]);
    expect(() => parseMigEnable('Something new\nAll done.\n')).toThrow(/-mig 1.*line 1/);
  });
});
