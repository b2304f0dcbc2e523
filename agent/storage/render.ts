/**
 * render: the operator's view of a storage plan (`plan`, `plan --json`): one row per refusal and
 * action, then every disk left alone and why; the same as a text table. Pure; plans nothing.
 */
import type { StoragePlan } from './types.ts';

/** 3.5 TiB, 894.3 GiB, 512 MiB ... */
export function humanSize(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}


export interface StorageRow {
  device: string;
  size: string;
  action: string;
  reason: string;
}

const ACTION_WORD: Record<string, string> = {
  'storage.pvcreate': 'pvcreate',
  'storage.vgcreate': 'vgcreate',
  'storage.lvcreate': 'lvcreate',
  'storage.activate': 'activate',
  'storage.mkfs': 'mkfs.xfs',
  'storage.mount-unit': 'write unit',
  'storage.mount': 'mount',
  'storage.record': 'record',
};

/** Rows for `plan`: every action, then every disk left alone (with why). */
export function describeStorage(p: StoragePlan): { summary: string; rows: StorageRow[]; notes: string[] } {
  const rows: StorageRow[] = [
    ...p.refusals.map((x) => ({ device: x.device ?? '-', size: humanSize(x.sizeBytes), action: 'REFUSE', reason: x.reason })),
    ...p.actions.map((x) => ({
      device: x.device ?? '-',
      size: humanSize(x.sizeBytes),
      action: ACTION_WORD[x.kind] ?? x.kind,
      reason: `${x.description} — ${x.reason}`,
    })),
  ];
  if (!p.refused)
    for (const dk of p.disks) {
      if (dk.verdict.kind === 'ours' && p.actions.length === 0)
        rows.push({ device: dk.path, size: humanSize(dk.size), action: 'keep', reason: dk.verdict.reason });
      if (dk.verdict.kind === 'unsafe' || dk.verdict.kind === 'not-candidate')
        if (!p.actions.some((x) => x.device === dk.path))
          rows.push({
            device: dk.path,
            size: humanSize(dk.size),
            action: 'skip',
            reason: dk.verdict.kind === 'unsafe' ? dk.verdict.reasons.join('; ') : dk.verdict.reason,
          });
    }
  return { summary: p.summary, rows, notes: p.notes };
}

/** The text table an operator reads. */
export function renderStoragePlan(p: StoragePlan): string {
  const { summary, rows, notes } = describeStorage(p);
  const head = { device: 'DEVICE', size: 'SIZE', action: 'ACTION', reason: 'REASON' };
  const all = [head, ...rows];
  const w = (k: keyof StorageRow) => Math.max(...all.map((r) => r[k].length));
  const wd = w('device');
  const ws = w('size');
  const wa = w('action');
  const lines = [`storage: ${summary}`];
  if (rows.length) for (const r of all) lines.push(`  ${r.device.padEnd(wd)}  ${r.size.padStart(ws)}  ${r.action.padEnd(wa)}  ${r.reason}`);
  const shown = new Set(rows.map((r) => r.device));
  for (const n of notes) if (!/^skipping (\S+) /.test(n) || !shown.has(n.split(' ')[1]!)) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
