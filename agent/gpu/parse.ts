/**
 * Pure parsers for the text nvidia-smi prints (see test/fixtures/nvidia-smi/).
 *
 * Every parser accepts exactly the layouts it knows and throws a
 * `NvidiaSmiParseError` naming the command and the first unexpected line for
 * anything else: an unknown layout must never turn into "no instances".
 */

export class NvidiaSmiParseError extends Error {
  readonly command: string;
  readonly line: string;
  readonly lineNo: number;
  constructor(command: string, lineNo: number, line: string, why = 'unexpected line') {
    super(`cannot parse output of \`${command}\`: ${why} at line ${lineNo}: ${JSON.stringify(line)}`);
    this.name = 'NvidiaSmiParseError';
    this.command = command;
    this.line = line;
    this.lineNo = lineNo;
  }
}

export type MigMode = 'Enabled' | 'Disabled' | 'N/A';

export interface GpuRow {
  index?: number;
  busId?: string;
  name?: string;
  migCurrent?: MigMode;
  migPending?: MigMode;
  memoryTotalMiB?: number;
}

/** A GPU instance profile from `nvidia-smi mig -lgip`. */
export interface GiProfile {
  gpu: number;
  /** Without the "MIG " prefix, e.g. "1g.5gb", "1g.10gb+me". */
  name: string;
  id: number;
  free: number;
  total: number;
  memoryGiB: number;
  p2p: boolean;
  sm: number;
  dec: number;
  enc: number;
  ce: number;
  jpeg: number;
  ofa: number;
}

/** Possible placements of one profile, from `nvidia-smi mig -lgipp`. */
export interface ProfilePlacements {
  gpu: number;
  profileId: number;
  starts: number[];
  size: number;
}

/** A GPU instance from `nvidia-smi mig -lgi`. */
export interface GpuInstance {
  gpu: number;
  name: string;
  profileId: number;
  id: number;
  start: number;
  size: number;
}

/** A compute instance from `nvidia-smi mig -lci`. */
export interface ComputeInstance {
  gpu: number;
  giId: number;
  name: string;
  profileId: number;
  id: number;
  start?: number;
  size?: number;
}

/** The query columns the agent asks for. */
export const QUERY_GPU_FIELDS = ['index', 'pci.bus_id', 'name', 'mig.mode.current', 'mig.mode.pending', 'memory.total'] as const;

function lines(text: string): string[] {
  const l = text.replace(/\r\n/g, '\n').split('\n');
  while (l.length && l[l.length - 1]!.trim() === '') l.pop();
  return l;
}

function mode(cmd: string, lineNo: number, line: string, v: string): MigMode {
  if (v === 'Enabled' || v === 'Disabled') return v;
  if (v === '[N/A]' || v === 'N/A' || v === '[Not Supported]') return 'N/A';
  throw new NvidiaSmiParseError(cmd, lineNo, line, `unknown MIG mode ${JSON.stringify(v)}`);
}

/**
 * `nvidia-smi --query-gpu=<fields> --format=csv,noheader[,nounits]`: one line per GPU,
 * values separated by ", ". Known fields are typed; any other field is rejected.
 */
export function parseQueryGpu(text: string, fields: readonly string[] = QUERY_GPU_FIELDS): GpuRow[] {
  const cmd = `nvidia-smi --query-gpu=${fields.join(',')} --format=csv,noheader`;
  const out: GpuRow[] = [];
  lines(text).forEach((line, i) => {
    const n = i + 1;
    if (line.trim() === '') throw new NvidiaSmiParseError(cmd, n, line, 'empty line');
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length !== fields.length) {
      throw new NvidiaSmiParseError(cmd, n, line, `expected ${fields.length} comma-separated values (${fields.join(', ')}), got ${parts.length}`);
    }
    const row: GpuRow = {};
    fields.forEach((f, k) => {
      const v = parts[k]!;
      switch (f) {
        case 'index':
          if (!/^\d+$/.test(v)) throw new NvidiaSmiParseError(cmd, n, line, `index ${JSON.stringify(v)} is not a number`);
          row.index = Number(v);
          break;
        case 'pci.bus_id':
          if (!/^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$/.test(v)) throw new NvidiaSmiParseError(cmd, n, line, `bus id ${JSON.stringify(v)}`);
          row.busId = v;
          break;
        case 'name':
          if (!v) throw new NvidiaSmiParseError(cmd, n, line, 'empty name');
          row.name = v;
          break;
        case 'mig.mode.current':
          row.migCurrent = mode(cmd, n, line, v);
          break;
        case 'mig.mode.pending':
          row.migPending = mode(cmd, n, line, v);
          break;
        case 'memory.total': {
          const m = /^(\d+)(?: MiB)?$/.exec(v);
          if (!m) throw new NvidiaSmiParseError(cmd, n, line, `memory.total ${JSON.stringify(v)}`);
          row.memoryTotalMiB = Number(m[1]);
          break;
        }
        default:
          throw new NvidiaSmiParseError(cmd, n, line, `field ${f} is not supported by this parser`);
      }
    });
    out.push(row);
  });
  return out;
}

/** Messages nvidia-smi prints instead of a table. */
export type MigMessage = 'no-mig-enabled-devices' | 'no-gpu-instances' | 'no-compute-instances' | 'no-devices';

export function classifyMessage(text: string): MigMessage | undefined {
  const t = text.trim();
  if (/^No MIG-enabled devices found\.?$/.test(t)) return 'no-mig-enabled-devices';
  if (/^No GPU instances found(?:: Not Found|\.)?$/.test(t)) return 'no-gpu-instances';
  if (/^No compute instances found(?:: Not Found|\.)?$/.test(t)) return 'no-compute-instances';
  if (/^No devices were found\.?$/.test(t)) return 'no-devices';
  return undefined;
}

const BORDER = /^\+-+\+$/;
const RULE = /^\|=+\|$/;

/** Table rows between `|====|` and the end; header lines must match `headers` in order. */
function tableBody(cmd: string, text: string, title: RegExp, headers: RegExp[][]): Array<{ n: number; line: string }> {
  const l = lines(text);
  if (l.length === 0) throw new NvidiaSmiParseError(cmd, 1, '', 'empty output');
  let i = 0;
  const expect = (re: RegExp, why: string) => {
    const line = l[i];
    if (line === undefined || !re.test(line)) throw new NvidiaSmiParseError(cmd, i + 1, line ?? '', why);
    i++;
  };
  expect(BORDER, 'expected table border');
  expect(title, 'expected table title');
  // Headers: one of the known header variants (older drivers omit columns).
  let matched = false;
  for (const variant of headers) {
    if (variant.every((re, k) => l[i + k] !== undefined && re.test(l[i + k]!))) {
      i += variant.length;
      matched = true;
      break;
    }
  }
  if (!matched) throw new NvidiaSmiParseError(cmd, i + 1, l[i] ?? '', 'unknown table header');
  expect(RULE, 'expected ==== rule under the header');
  const body: Array<{ n: number; line: string }> = [];
  for (; i < l.length; i++) body.push({ n: i + 1, line: l[i]! });
  if (body.length === 0 || !BORDER.test(body[body.length - 1]!.line)) {
    throw new NvidiaSmiParseError(cmd, l.length, l[l.length - 1] ?? '', 'table does not end with a border (truncated output?)');
  }
  return body;
}

const profileName = (s: string) => s.replace(/^MIG /, '');

/** `nvidia-smi mig -lgip`: two lines per profile, separated by borders. */
export function parseLgip(text: string, cmd = 'nvidia-smi mig -lgip'): GiProfile[] {
  if (classifyMessage(text) === 'no-mig-enabled-devices') return [];
  const body = tableBody(cmd, text, /^\|\s+GPU instance profiles:\s+\|$/, [
    [
      /^\|\s+GPU\s+Name\s+ID\s+Instances\s+Memory\s+P2P\s+SM\s+DEC\s+ENC\s+\|$/,
      /^\|\s+Free\/Total\s+GiB\s+CE\s+JPEG\s+OFA\s+\|$/,
    ],
  ]);
  const first = /^\|\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\/(\d+)\s+(\d+(?:\.\d+)?)\s+(Yes|No)\s+(\d+)\s+(\d+)\s+(\d+)\s+\|$/;
  const second = /^\|\s+(\d+)\s+(\d+)\s+(\d+)\s+\|$/;
  const out: GiProfile[] = [];
  let pending: GiProfile | undefined;
  for (const { n, line } of body) {
    if (BORDER.test(line)) {
      if (pending) throw new NvidiaSmiParseError(cmd, n, line, 'profile row without its second line (CE/JPEG/OFA)');
      continue;
    }
    let m = first.exec(line);
    if (m && !pending) {
      pending = {
        gpu: Number(m[1]), name: profileName(`MIG ${m[2]}`), id: Number(m[3]), free: Number(m[4]), total: Number(m[5]),
        memoryGiB: Number(m[6]), p2p: m[7] === 'Yes', sm: Number(m[8]), dec: Number(m[9]), enc: Number(m[10]), ce: 0, jpeg: 0, ofa: 0,
      };
      if (pending.free > pending.total) throw new NvidiaSmiParseError(cmd, n, line, 'Free is larger than Total');
      continue;
    }
    m = second.exec(line);
    if (m && pending) {
      pending.ce = Number(m[1]);
      pending.jpeg = Number(m[2]);
      pending.ofa = Number(m[3]);
      out.push(pending);
      pending = undefined;
      continue;
    }
    throw new NvidiaSmiParseError(cmd, n, line);
  }
  return out;
}

/** `nvidia-smi mig -lgipp`: `GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1`. */
export function parseLgipp(text: string, cmd = 'nvidia-smi mig -lgipp'): ProfilePlacements[] {
  if (classifyMessage(text) === 'no-mig-enabled-devices') return [];
  const re = /^GPU\s+(\d+)\s+Profile ID\s+(\d+)\s+Placements?\s*:\s*\{(\d+(?:,\d+)*)\}:(\d+)$/;
  const out: ProfilePlacements[] = [];
  lines(text).forEach((line, i) => {
    const m = re.exec(line.trim());
    if (!m) throw new NvidiaSmiParseError(cmd, i + 1, line);
    out.push({ gpu: Number(m[1]), profileId: Number(m[2]), starts: m[3]!.split(',').map(Number), size: Number(m[4]) });
  });
  if (out.length === 0) throw new NvidiaSmiParseError(cmd, 1, '', 'empty output');
  return out;
}

/** `nvidia-smi mig -lgi`. "No GPU instances found" is an empty list. */
export function parseLgi(text: string, cmd = 'nvidia-smi mig -lgi'): GpuInstance[] {
  if (classifyMessage(text) === 'no-gpu-instances') return [];
  const body = tableBody(cmd, text, /^\|\s+GPU instances:\s+\|$/, [
    [/^\|\s+GPU\s+Name\s+Profile\s+Instance\s+Placement\s+\|$/, /^\|\s+ID\s+ID\s+Start:Size\s+\|$/],
  ]);
  const row = /^\|\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+):(\d+)\s+\|$/;
  const out: GpuInstance[] = [];
  for (const { n, line } of body) {
    if (BORDER.test(line)) continue;
    const m = row.exec(line);
    if (!m) throw new NvidiaSmiParseError(cmd, n, line);
    out.push({ gpu: Number(m[1]), name: m[2]!, profileId: Number(m[3]), id: Number(m[4]), start: Number(m[5]), size: Number(m[6]) });
  }
  return out;
}

/** `nvidia-smi mig -lci` (with or without the Placement column of older drivers). */
export function parseLci(text: string, cmd = 'nvidia-smi mig -lci'): ComputeInstance[] {
  if (classifyMessage(text) === 'no-compute-instances') return [];
  const body = tableBody(cmd, text, /^\|\s+Compute instances:\s+\|$/, [
    [
      /^\|\s+GPU\s+GPU\s+Name\s+Profile\s+Instance\s+Placement\s+\|$/,
      /^\|\s+Instance\s+ID\s+ID\s+Start:Size\s+\|$/,
      /^\|\s+ID\s+\|$/,
    ],
    [/^\|\s+GPU\s+GPU\s+Name\s+Profile\s+Instance\s+\|$/, /^\|\s+Instance\s+ID\s+ID\s+\|$/, /^\|\s+ID\s+\|$/],
  ]);
  const row = /^\|\s+(\d+)\s+(\d+)\s+MIG\s+(\S+)\s+(\d+)\s+(\d+)(?:\s+(\d+):(\d+))?\s+\|$/;
  const out: ComputeInstance[] = [];
  for (const { n, line } of body) {
    if (BORDER.test(line)) continue;
    const m = row.exec(line);
    if (!m) throw new NvidiaSmiParseError(cmd, n, line);
    out.push({
      gpu: Number(m[1]), giId: Number(m[2]), name: m[3]!, profileId: Number(m[4]), id: Number(m[5]),
      ...(m[6] !== undefined ? { start: Number(m[6]), size: Number(m[7]) } : {}),
    });
  }
  return out;
}

/** The result lines of a mutating `nvidia-smi mig` call. */
export interface MigCallResult {
  createdGis: Array<{ gpu: number; id: number; profile: string; profileId: number }>;
  createdCis: Array<{ gpu: number; giId: number; id?: number; profile: string; profileId: number }>;
  destroyedCis: Array<{ gpu: number; giId: number; id: number }>;
  destroyedGis: Array<{ gpu: number; id: number }>;
  /** "Unable to …"/"Failed to …" lines, verbatim (the reason is after the last ": "). */
  errors: string[];
  /** "No … instances found" (nothing to destroy). */
  nothingFound: boolean;
}

/** Output of `-cgi … -C`, `-cci`, `-dci`, `-dgi`. */
export function parseMigCall(text: string, cmd: string): MigCallResult {
  const r: MigCallResult = { createdGis: [], createdCis: [], destroyedCis: [], destroyedGis: [], errors: [], nothingFound: false };
  const cgi = /^Successfully created GPU instance ID\s+(\d+) on GPU\s+(\d+) using profile MIG (\S+) \(ID\s+(\d+)\)$/;
  const cci = /^Successfully created compute instance(?: ID\s+(\d+))? on GPU\s+(\d+) GPU instance ID\s+(\d+) using profile MIG (\S+) \(ID\s+(\d+)\)$/;
  const dci = /^Successfully destroyed compute instance ID\s+(\d+) from GPU\s+(\d+) GPU instance ID\s+(\d+)$/;
  const dgi = /^Successfully destroyed GPU instance ID\s+(\d+) from GPU\s+(\d+)$/;
  const err = /^(?:Unable to|Failed to) .+: .+$/;
  lines(text).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = cgi.exec(line))) r.createdGis.push({ id: Number(m[1]), gpu: Number(m[2]), profile: m[3]!, profileId: Number(m[4]) });
    else if ((m = cci.exec(line))) {
      const id = m[1] !== undefined ? { id: Number(m[1]) } : {};
      r.createdCis.push({ ...id, gpu: Number(m[2]), giId: Number(m[3]), profile: m[4]!, profileId: Number(m[5]) });
    } else if ((m = dci.exec(line))) r.destroyedCis.push({ id: Number(m[1]), gpu: Number(m[2]), giId: Number(m[3]) });
    else if ((m = dgi.exec(line))) r.destroyedGis.push({ id: Number(m[1]), gpu: Number(m[2]) });
    else if (err.test(line)) r.errors.push(line);
    else if (classifyMessage(line) === 'no-gpu-instances' || classifyMessage(line) === 'no-compute-instances') r.nothingFound = true;
    else throw new NvidiaSmiParseError(cmd, i + 1, raw);
  });
  return r;
}

/** Output of `nvidia-smi -i N -mig 1`. */
export interface MigEnableResult {
  enabled: string[]; // bus ids switched on at once
  pending: Array<{ busId: string; reason: string }>; // "pending enable state … : <reason>"
  alreadyEnabled: boolean;
}

export function parseMigEnable(text: string, cmd = 'nvidia-smi -mig 1'): MigEnableResult {
  const r: MigEnableResult = { enabled: [], pending: [], alreadyEnabled: false };
  const en = /^Enabled MIG Mode for GPU ([0-9A-Fa-f:.]+)$/;
  const pend = /^Warning: MIG mode is in pending enable state for GPU ([0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\.[0-7]):(.+)$/;
  const hints = [
    /^Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU \S+$/,
    /^\S+ is currently being used by one or more other processes .*$/,
    /^All done\.$/,
  ];
  const already = /^MIG mode is already enabled for GPU \S+\.?$|^MIG mode already enabled for GPU \S+\.?$/;
  lines(text).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = en.exec(line))) r.enabled.push(m[1]!);
    else if ((m = pend.exec(line))) r.pending.push({ busId: m[1]!, reason: m[2]!.trim() });
    else if (already.test(line)) r.alreadyEnabled = true;
    else if (hints.some((h) => h.test(line))) return;
    else throw new NvidiaSmiParseError(cmd, i + 1, raw);
  });
  return r;
}
