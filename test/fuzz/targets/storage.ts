/** Fuzz targets: the storage parsers (agent/storage/parse.ts) on mutated real and simulated outputs. */
import fc from 'fast-check';
import {
  ParseError,
  parseBlkidExport,
  parseLsblk,
  parseLvs,
  parseMountinfo,
  parsePvs,
  parseSwaps,
  parseVgs,
  parseWipefs,
} from '../../../agent/storage/parse.ts';
import type { BlockDevice } from '../../../agent/storage/types.ts';
import { readAny } from '../fixtures.ts';
import { assert, isStr, parseWith, target, type FuzzTarget } from '../harness.ts';
import { lineSoup, mutatedJsonText, mutatedText, noise, tokensOf } from '../mutate.ts';
import { storageScenarios } from '../scenarios.ts';

/** ParseError messages say which command's output failed ("could not parse lsblk JSON: ..."). */
const namesCmd = (cmd: string) => (e: Error) => (e instanceof ParseError && e.message.startsWith(`could not parse ${cmd}`) ? cmd : false);

function jsonInputs(texts: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 10, arbitrary: mutatedJsonText(texts) },
    { weight: 1, arbitrary: noise },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  );
}

function textInputs(texts: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: mutatedText(texts) },
    { weight: 2, arbitrary: lineSoup(tokensOf(texts), [' ', '\t', '=', '\\040']) },
    { weight: 1, arbitrary: noise },
  );
}

function walk(devs: BlockDevice[], f: (d: BlockDevice) => void): void {
  for (const d of devs) {
    f(d);
    walk(d.children, f);
  }
}

const strOrNull = (v: unknown) => v === null || isStr(v);

export async function storageTargets(): Promise<FuzzTarget[]> {
  const sc = await storageScenarios();
  const dirs = ['storage/devhost', 'storage/vm', 'storage/synthetic'];
  const lsblk = [...readAny(dirs, /^lsblk\..*\.json$/), ...sc.map((s) => s.lsblk)];
  const wipefs = readAny(dirs, /^wipefs\..*\.json$/);
  const blkid = readAny(dirs, /^blkid\..*\.txt$/);
  const lvm = (k: 'pvs' | 'vgs' | 'lvs') => [...readAny(dirs, new RegExp(`^${k}\\..*\\.json$`)), ...sc.map((s) => s[k]).filter((t) => t.trim())];
  const mountinfo = [...readAny(dirs, /^mountinfo\..*txt$|^mountinfo\.txt$/), ...sc.map((s) => s.mountinfo)];
  const swaps = [...readAny(dirs, /^swaps\.txt$/), ...sc.map((s) => s.swaps), 'Filename\tType\tSize\tUsed\tPriority\n/dev/nvme3n1p2                          partition\t1003516\t\t0\t\t-2\n/swap\\040file file 1 0 -3\n'];

  return [
    {
      name: 'storage.lsblk',
      parser: 'parseLsblk (lsblk -J -b -o ...)',
      arbitrary: jsonInputs(lsblk),
      check: (s: string) =>
        parseWith(() => parseLsblk(s), (devs) => walk(devs, (d) => {
          assert(isStr(d.name) && isStr(d.kname) && isStr(d.path) && isStr(d.type) && isStr(d.majMin), 'lsblk: non-string name/path/type');
          assert(typeof d.size === 'number' && !Number.isNaN(d.size), `lsblk: size ${d.size}`);
          assert(typeof d.ro === 'boolean' && Array.isArray(d.mountpoints) && d.mountpoints.every(isStr), 'lsblk: ro/mountpoints types');
          assert([d.tran, d.model, d.serial, d.fstype, d.pkname].every(strOrNull), 'lsblk: nullable string fields');
        }), [ParseError], namesCmd('lsblk'), 'lsblk'),
    },
    {
      name: 'storage.wipefs',
      parser: 'parseWipefs (wipefs -n -J)',
      arbitrary: jsonInputs(wipefs),
      check: (s: string) =>
        parseWith(() => parseWipefs(s), (sigs) => {
          for (const g of sigs) assert(isStr(g.offset) && isStr(g.type) && strOrNull(g.uuid) && strOrNull(g.label), 'wipefs: field types');
        }, [ParseError], namesCmd('wipefs'), 'wipefs'),
    },
    {
      name: 'storage.blkid',
      parser: 'parseBlkidExport (blkid -p -o export)',
      arbitrary: textInputs(blkid),
      check: (s: string) =>
        parseWith(() => parseBlkidExport(s), (kv) => {
          for (const [k, v] of Object.entries(kv)) assert(isStr(k) && isStr(v), 'blkid: non-string');
          assert(Object.getPrototypeOf(kv) === Object.prototype, 'blkid: prototype changed');
        }, [], () => false, 'blkid'),
    },
    ...(['pvs', 'vgs', 'lvs'] as const).map((k): FuzzTarget => ({
      name: `storage.${k}`,
      parser: `parse${k[0]!.toUpperCase()}${k.slice(1)} (${k} --reportformat json)`,
      arbitrary: jsonInputs(lvm(k)),
      check: (s: string) =>
        parseWith(() => (k === 'pvs' ? parsePvs(s) : k === 'vgs' ? parseVgs(s) : parseLvs(s)), (rows) => {
          for (const r of rows as unknown as Array<Record<string, unknown>>) {
            for (const [f, v] of Object.entries(r)) {
              if (f === 'kernelMajMin') assert(strOrNull(v), `${k}: kernelMajMin`);
              else if (f === 'tags' || f === 'devices') assert(Array.isArray(v) && (v as unknown[]).every(isStr), `${k}: ${f} not a string list`);
              else assert(isStr(v) || typeof v === 'number', `${k}: ${f} is ${typeof v}`);
            }
          }
        }, [ParseError], namesCmd(k), k),
    })),
    target({
      name: 'storage.mountinfo',
      parser: 'parseMountinfo (/proc/self/mountinfo) + parseSwaps (/proc/swaps)',
      arbitrary: fc.tuple(textInputs(mountinfo), textInputs(swaps)),
      check: ([m, w]) => {
        const entries = parseMountinfo(m);
        for (const e of entries) assert([e.majMin, e.root, e.mountPoint, e.fstype, e.source].every(isStr), 'mountinfo: non-string field');
        const sw = parseSwaps(w);
        assert(sw.every((x) => isStr(x) && x !== ''), 'swaps: empty path');
        return entries.length || sw.length ? 'accepted' : 'rejected';
      },
    }),
  ];
}
