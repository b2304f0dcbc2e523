/** Shared helpers for the GPU tests: fixture loading and a FakeHost scripted like a GPU box. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FakeHost } from '../../agent/host/fake.ts';
import { parseLgip, parseLgipp } from '../../agent/gpu/parse.ts';
import type { GpuCapabilities } from '../../agent/gpu/layout.ts';

export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/nvidia-smi');
export const fx = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
export const fixtureFiles = (): string[] => readdirSync(FIXTURES).filter((f) => f.endsWith('.txt')).sort();

export function caps(model: string, lgip: string, lgipp: string, index = 0): GpuCapabilities {
  return { index, model, profiles: parseLgip(fx(lgip)), placements: parseLgipp(fx(lgipp)) };
}
export const A100 = () => caps('NVIDIA A100-PCIE-40GB', 'a100-40gb.lgip.txt', 'a100-40gb.lgipp.derived.txt');
export const H100 = () => caps('NVIDIA H100 80GB HBM3', 'h100-80gb.lgip.txt', 'h100-80gb.lgipp.txt');
export const NVL = () => caps('NVIDIA H100 NVL', 'h100-nvl-94gb.lgip.derived.txt', 'h100-nvl-94gb.lgipp.derived.txt');

export const QUERY = 'nvidia-smi --query-gpu=index,pci.bus_id,name,mig.mode.current,mig.mode.pending,memory.total --format=csv,noheader';

/** Match one exact command line (FakeHost string matchers are prefixes: `-lgi` would match `-lgip`). */
export const exact = (line: string) => (cmd: string, args: string[]) => [cmd, ...args].join(' ') === line;

/** A FakeHost that answers the reads for one GPU from fixtures. */
export function fakeGpuHost(o: {
  query: string;
  lgip?: string; // fixture text; omitted = "No MIG-enabled devices found."
  lgipp?: string;
  lgi?: string;
  lci?: string;
}): FakeHost {
  const h = new FakeHost();
  h.onExec(exact(QUERY), { stdout: o.query });
  const none = { stdout: 'No MIG-enabled devices found.\n', exitCode: 6 };
  h.onExec(exact('nvidia-smi mig -i 0 -lgip'), o.lgip !== undefined ? { stdout: o.lgip } : none);
  h.onExec(exact('nvidia-smi mig -i 0 -lgipp'), o.lgipp !== undefined ? { stdout: o.lgipp } : none);
  h.onExec(exact('nvidia-smi mig -i 0 -lgi'), o.lgi !== undefined ? { stdout: o.lgi } : { stdout: 'No GPU instances found: Not Found\n', exitCode: 6 });
  h.onExec(exact('nvidia-smi mig -i 0 -lci'), o.lci !== undefined ? { stdout: o.lci } : { stdout: 'No compute instances found: Not Found\n', exitCode: 6 });
  return h;
}

/** nvidia-smi calls that change the GPU. */
export const mutatingSmi = (h: FakeHost): string[] =>
  h.execLines().filter((l) => /^nvidia-smi (-i \d+ -mig|-r|mig .*(-cgi|-dci|-dgi|-cci))/.test(l));
