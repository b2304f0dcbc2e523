/**
 * Pure parsers for the outputs `inspect` collects. Every format here is
 * covered by captured real outputs in test/fixtures/storage/ (see SOURCES.md).
 */
import type { BlockDevice, LvmLv, LvmPv, LvmVg, MountEntry, Signature } from './types.ts';

type Json = Record<string, unknown>;

// Objects and arrays where a scalar belongs count as missing: String() of one is
// meaningless, and throws when the JSON carries its own "toString" key.
const scalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
const str = (v: unknown): string => (scalar(v) ? String(v) : '');
const strOrNull = (v: unknown): string | null => {
  if (!scalar(v)) return null;
  const s = String(v).trim();
  return s === '' ? null : s;
};
const num = (v: unknown): number => {
  if (typeof v === 'number') return v;
  const n = Number(str(v).trim());
  return Number.isFinite(n) ? n : 0;
};
const bool = (v: unknown): boolean => v === true || v === '1' || v === 1 || v === 'true';

export class ParseError extends Error {
  constructor(what: string, detail: string) {
    super(`could not parse ${what}: ${detail}`);
    this.name = 'ParseError';
  }
}

/** An element of a JSON array that must be an object (a null or a number there is not something to guess about). */
function record(what: string, where: string, v: unknown): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ParseError(what, `${where} is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}, expected an object`);
  }
  return v as Json;
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ParseError(what, (e as Error).message);
  }
}

/** `lsblk -J -b -o <LSBLK_COLUMNS>` (tree form). Older lsblk prints numbers and booleans as strings; both are accepted. */
export function parseLsblk(text: string): BlockDevice[] {
  const doc = parseJson('lsblk JSON', text) as { blockdevices?: unknown };
  if (!doc || !Array.isArray(doc.blockdevices)) throw new ParseError('lsblk JSON', 'no "blockdevices" array');
  const conv = (raw: unknown, where: string): BlockDevice => {
    const d = record('lsblk JSON', where, raw);
    const mps = Array.isArray(d.mountpoints) ? d.mountpoints : d.mountpoint !== undefined ? [d.mountpoint] : [];
    const name = str(d.name);
    return {
      name,
      kname: str(d.kname) || name,
      path: str(d.path) || `/dev/${name}`,
      majMin: str(d['maj:min']),
      type: str(d.type),
      tran: strOrNull(d.tran),
      model: strOrNull(d.model),
      serial: strOrNull(d.serial),
      size: num(d.size),
      ro: bool(d.ro),
      mountpoints: mps.filter((m: unknown): m is string => typeof m === 'string' && m !== ''),
      fstype: strOrNull(d.fstype),
      pkname: strOrNull(d.pkname),
      children: Array.isArray(d.children) ? (d.children as unknown[]).map((c, i) => conv(c, `${where}.children[${i}]`)) : [],
    };
  };
  return (doc.blockdevices as unknown[]).map((d, i) => conv(d, `blockdevices[${i}]`));
}

/** `wipefs -n -J <dev>`: `{"signatures":[...]}`; empty output also means none. */
export function parseWipefs(text: string): Signature[] {
  if (text.trim() === '') return [];
  const doc = parseJson('wipefs JSON', text) as { signatures?: unknown };
  if (!doc || !Array.isArray(doc.signatures)) throw new ParseError('wipefs JSON', 'no "signatures" array');
  return (doc.signatures as unknown[]).map((v, i) => record('wipefs JSON', `signatures[${i}]`, v)).map((s) => ({
    offset: str(s.offset),
    type: str(s.type),
    uuid: strOrNull(s.uuid),
    label: strOrNull(s.label),
  }));
}

/** `blkid -p -o export <dev>`: KEY=value lines (values may contain `\ ` escapes). */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).replace(/\\(.)/g, '$1');
  }
  return out;
}

/** Undo the octal escapes the kernel uses in mountinfo and /proc/swaps (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** /proc/self/mountinfo. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const parts = line.split(' ');
    const sep = parts.indexOf('-', 6);
    if (sep < 0 || parts.length < sep + 3) continue;
    out.push({
      majMin: parts[2] ?? '',
      root: unescapeOctal(parts[3] ?? ''),
      mountPoint: unescapeOctal(parts[4] ?? ''),
      fstype: parts[sep + 1] ?? '',
      source: unescapeOctal(parts[sep + 2] ?? ''),
    });
  }
  return out;
}

/** /proc/swaps: the device paths of swap partitions (swap files live on a mounted fs, covered by the mounts). */
export function parseSwaps(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && f[0]) out.push(unescapeOctal(f[0]));
  }
  return out;
}

const tags = (v: unknown): string[] =>
  str(v)
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** The rows of one LVM JSON report (`pvs|vgs|lvs --reportformat json`). Several report objects are concatenated. */
function lvmRows(what: string, text: string, key: 'pv' | 'vg' | 'lv'): Json[] {
  if (text.trim() === '') return [];
  const doc = parseJson(`${what} JSON`, text) as { report?: unknown };
  if (!doc || !Array.isArray(doc.report)) throw new ParseError(`${what} JSON`, 'no "report" array');
  const rows: Json[] = [];
  (doc.report as unknown[]).forEach((raw, i) => {
    const list = record(`${what} JSON`, `report[${i}]`, raw)[key];
    if (Array.isArray(list)) list.forEach((row: unknown, j) => rows.push(record(`${what} JSON`, `report[${i}].${key}[${j}]`, row)));
  });
  return rows;
}

export const PVS_FIELDS = 'pv_name,vg_name,pv_uuid,pv_size,pv_tags,pv_attr';
export const VGS_FIELDS = 'vg_name,vg_uuid,vg_tags,vg_attr,pv_count,lv_count,vg_size,vg_free';
export const LVS_FIELDS = 'lv_name,vg_name,lv_path,lv_dm_path,lv_size,lv_attr,lv_tags,stripes,segtype,devices,lv_kernel_major,lv_kernel_minor';

export function parsePvs(text: string): LvmPv[] {
  return lvmRows('pvs', text, 'pv').map((r) => ({
    pvName: str(r.pv_name),
    vgName: str(r.vg_name),
    pvUuid: str(r.pv_uuid),
    pvSize: num(r.pv_size),
    tags: tags(r.pv_tags),
    attr: str(r.pv_attr),
  }));
}

export function parseVgs(text: string): LvmVg[] {
  return lvmRows('vgs', text, 'vg').map((r) => ({
    vgName: str(r.vg_name),
    vgUuid: str(r.vg_uuid),
    tags: tags(r.vg_tags),
    attr: str(r.vg_attr),
    pvCount: num(r.pv_count),
    lvCount: num(r.lv_count),
    size: num(r.vg_size),
    free: num(r.vg_free),
  }));
}

export function parseLvs(text: string): LvmLv[] {
  const byKey = new Map<string, LvmLv>();
  for (const r of lvmRows('lvs', text, 'lv')) {
    const major = num(r.lv_kernel_major);
    const minor = num(r.lv_kernel_minor);
    const active = str(r.lv_kernel_major) !== '' && major >= 0 && str(r.lv_kernel_major) !== '-1';
    const lv: LvmLv = {
      lvName: str(r.lv_name),
      vgName: str(r.vg_name),
      lvPath: str(r.lv_path),
      dmPath: str(r.lv_dm_path),
      size: num(r.lv_size),
      attr: str(r.lv_attr),
      tags: tags(r.lv_tags),
      stripes: num(r.stripes),
      segtype: str(r.segtype),
      devices: str(r.devices)
        .split(',')
        .map((d) => d.replace(/\(\d+\)$/, '').trim())
        .filter(Boolean),
      kernelMajMin: active ? `${major}:${minor}` : null,
    };
    // An LV with several segments has one row per segment: merge them.
    const key = `${lv.vgName}/${lv.lvName}`;
    const prev = byKey.get(key);
    if (prev) {
      prev.devices = [...new Set([...prev.devices, ...lv.devices])];
      prev.stripes = Math.max(prev.stripes, lv.stripes);
    } else byKey.set(key, lv);
  }
  return [...byKey.values()];
}
