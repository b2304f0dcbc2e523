/** Fuzz targets: every nvidia-smi parser (agent/gpu/parse.ts) on mutated real captures. */
import fc from 'fast-check';
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
} from '../../../agent/gpu/parse.ts';
import { readAll } from '../fixtures.ts';
import { assert, isInt, isStr, parseWith, target, type FuzzTarget } from '../harness.ts';
import { lineSoup, mutatedText, noise, tokensOf } from '../mutate.ts';

const NS = 'nvidia-smi';
const all = readAll(NS, /\.txt$/);
const names = (e: Error) => (e instanceof NvidiaSmiParseError && e.command.startsWith('nvidia-smi') && e.message.includes(e.command) ? e.command : false);

/** Mutations of `own` fixtures (mostly), of all nvidia-smi captures, token soup and noise. */
function inputs(own: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: mutatedText(own) },
    { weight: 2, arbitrary: mutatedText(all) },
    { weight: 2, arbitrary: lineSoup(tokensOf(own)) },
    { weight: 1, arbitrary: noise },
  );
}

function smiTarget<R>(name: string, parser: string, own: string[], fn: (s: string) => R, ok: (v: R) => void): FuzzTarget {
  return target({
    name: `gpu.${name}`,
    parser,
    arbitrary: inputs(own),
    check: (s) => parseWith(() => fn(s), ok, [NvidiaSmiParseError], names, name),
  });
}

const ints = (o: Record<string, unknown>, keys: string[], where: string) => {
  for (const k of keys) assert(isInt(o[k]), `${where}: ${k}=${String(o[k])} is not a non-negative integer`);
};

export const gpuTargets: FuzzTarget[] = [
  smiTarget('query-gpu', 'parseQueryGpu (nvidia-smi --query-gpu=...)', readAll(NS, /^query-gpu/), (s) => parseQueryGpu(s), (rows) => {
    for (const r of rows) {
      ints(r as Record<string, unknown>, ['index', 'memoryTotalMiB'], 'query-gpu');
      assert(isStr(r.busId) && isStr(r.name) && r.name !== '', 'query-gpu: bus id/name not strings');
      assert(['Enabled', 'Disabled', 'N/A'].includes(r.migCurrent!) && ['Enabled', 'Disabled', 'N/A'].includes(r.migPending!), 'query-gpu: bad MIG mode');
    }
  }),
  smiTarget('lgip', 'parseLgip (nvidia-smi mig -lgip)', readAll(NS, /lgip\.|lgip-|mig-disabled/), (s) => parseLgip(s), (ps) => {
    for (const p of ps) {
      ints(p as unknown as Record<string, unknown>, ['gpu', 'id', 'free', 'total', 'sm', 'dec', 'enc', 'ce', 'jpeg', 'ofa'], 'lgip');
      assert(p.free <= p.total, 'lgip: free > total accepted');
      assert(Number.isFinite(p.memoryGiB) && p.name !== '' && !p.name.startsWith('MIG '), 'lgip: bad memory/name');
    }
  }),
  smiTarget('lgipp', 'parseLgipp (nvidia-smi mig -lgipp)', readAll(NS, /lgipp|mig-disabled/), (s) => [s, parseLgipp(s)] as const, ([s, ps]) => {
    assert(ps.length > 0 || classifyMessage(s) === 'no-mig-enabled-devices', 'lgipp: accepted with no rows');
    for (const p of ps) {
      ints(p as unknown as Record<string, unknown>, ['gpu', 'profileId', 'size'], 'lgipp');
      assert(p.starts.length > 0 && p.starts.every((x) => isInt(x)), 'lgipp: bad starts');
    }
  }),
  smiTarget('lgi', 'parseLgi (nvidia-smi mig -lgi)', readAll(NS, /\.lgi-|lgi-none/), (s) => parseLgi(s), (gs) => {
    for (const g of gs) ints(g as unknown as Record<string, unknown>, ['gpu', 'profileId', 'id', 'start', 'size'], 'lgi');
  }),
  smiTarget('lci', 'parseLci (nvidia-smi mig -lci)', readAll(NS, /\.lci-/), (s) => parseLci(s), (cs) => {
    for (const c of cs) ints(c as unknown as Record<string, unknown>, ['gpu', 'giId', 'profileId', 'id'], 'lci');
  }),
  smiTarget('mig-call', 'parseMigCall (nvidia-smi mig -cgi/-cci/-dci/-dgi)', readAll(NS, /cgi|dci|dgi|in-use|insufficient/), (s) => parseMigCall(s, 'nvidia-smi mig -i 0 -cgi 19 -C'), (r) => {
    for (const g of r.createdGis) ints(g, ['gpu', 'id', 'profileId'], 'mig-call');
    for (const e of r.errors) assert(/^(Unable to|Failed to) /.test(e), 'mig-call: error line kept without its prefix');
  }),
  smiTarget('mig-enable', 'parseMigEnable (nvidia-smi -i N -mig 1)', readAll(NS, /mig-enable|reset/), (s) => parseMigEnable(s), (r) => {
    for (const p of r.pending) assert(isStr(p.busId) && isStr(p.reason), 'mig-enable: bad pending row');
  }),
  target({
    name: 'gpu.classify',
    parser: 'classifyMessage (nvidia-smi "No ... found" messages)',
    arbitrary: inputs(readAll(NS, /none|disabled/)),
    check: (s) => {
      const m = classifyMessage(s);
      assert(m === undefined || ['no-mig-enabled-devices', 'no-gpu-instances', 'no-compute-instances', 'no-devices'].includes(m), `classify: ${m}`);
      return m ? 'accepted' : 'rejected';
    },
  }),
];
