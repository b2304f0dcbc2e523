/**
 * Files the k0s step writes outside k0s's own tree — the kubelet prerequisites
 * (agent/k0s/hostprep.ts) and the containerd registry configuration (agent/k0s/registries.ts) —
 * and the record that proves they are ours (`<state dir>/owned-files.json`: path → sha256, and the
 * directories we created). Like nodeadm's tracker of what it installed:
 *
 *   a file that does not exist            → write it, record it
 *   a file we recorded                    → rewrite it when its content differs from the desired
 *   a file we did not record              → adopted only when it already holds exactly the desired
 *                                           content; anything else is refused (not ours)
 *   a recorded file no longer desired     → removed
 *   teardown (removal, reset, uninstall)  → every recorded file, then every recorded directory
 *                                           that is empty, deepest first
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Host } from '../host/host.ts';
import type { StateStore } from '../state/store.ts';
import { refusal, type Action, type Executors, type Refusal } from '../contract.ts';
import { OWNED_FILES_STATE } from '../state/files.ts';

export interface OwnedRecord {
  files: Record<string, string>;
  dirs: string[];
}

export interface DesiredFile {
  path: string;
  content: string;
  mode: number;
  /** What it is for, in `plan` ("kernel modules at boot"). */
  why: string;
  /** Holds credentials: never shown in `plan`, 0600. */
  secret?: boolean;
}

export type OwnedFileAction = (Action & { kind: 'host-file.write'; path: string; file: DesiredFile }) | (Action & { kind: 'host-file.remove'; path: string });

export interface OwnedActual {
  record: OwnedRecord;
  /** path → current content (undefined: absent) for every desired or recorded path. */
  content: Record<string, string | undefined>;
  /** path → mode of existing files. */
  modes: Record<string, number>;
}

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export async function readOwned(store: StateStore): Promise<OwnedRecord> {
  const r = await store.read<Partial<OwnedRecord>>(OWNED_FILES_STATE);
  return { files: r?.files ?? {}, dirs: r?.dirs ?? [] };
}

/** Reads the current content of every desired and recorded file. */
export async function inspectOwned(host: Host, store: StateStore, desired: readonly DesiredFile[], prefixes: readonly string[]): Promise<OwnedActual> {
  const record = await readOwned(store);
  const paths = new Set([...desired.map((d) => d.path), ...Object.keys(record.files).filter((p) => prefixes.some((x) => p.startsWith(x)))]);
  const content: Record<string, string | undefined> = {};
  const modes: Record<string, number> = {};
  await Promise.all(
    [...paths].map(async (p) => {
      content[p] = await host.readFile(p);
      const st = content[p] !== undefined ? await host.stat(p) : undefined;
      if (st) modes[p] = st.mode;
    }),
  );
  return { record, content, modes };
}

/**
 * Pure: desired files vs what is there → write/remove actions, or a refusal naming the file that
 * is not ours. `prefixes` scopes removal to the caller's files (hostprep and registries share the
 * record).
 */
export function planOwned(desired: readonly DesiredFile[], actual: OwnedActual, prefixes: readonly string[]): OwnedFileAction[] | Refusal {
  const out: OwnedFileAction[] = [];
  for (const d of desired) {
    const cur = actual.content[d.path];
    const ours = d.path in actual.record.files;
    if (cur === d.content && actual.modes[d.path] === d.mode && ours) continue;
    if (cur !== undefined && !ours && cur !== d.content) {
      return refusal(
        `${d.path} exists and was not written by castai-edge-initd (no record in ${OWNED_FILES_STATE}); refusing to overwrite it`,
        `move ${d.path} aside (its settings belong in a file of your own name), then restart castai-edge-initd`,
      );
    }
    const verb = cur === undefined ? 'write' : cur === d.content && !ours ? 'adopt (same content)' : cur === d.content ? 'fix the mode of' : 'rewrite';
    out.push({
      kind: 'host-file.write',
      path: d.path,
      file: d,
      description: `${verb} ${d.path} (${d.mode.toString(8).padStart(4, '0')}): ${d.why}`,
      reason: cur === undefined ? 'missing' : cur === d.content ? 'mode or record differs' : 'content differs',
    });
  }
  const want = new Set(desired.map((d) => d.path));
  for (const p of Object.keys(actual.record.files)) {
    if (want.has(p) || !prefixes.some((x) => p.startsWith(x))) continue;
    out.push({ kind: 'host-file.remove', path: p, description: `remove ${p}`, reason: 'ours and no longer configured' });
  }
  return out;
}

/** The file's content as `plan` shows it: credentials never. */
export function showFile(d: DesiredFile): string[] {
  if (d.secret) return [`  ${d.path} (${d.mode.toString(8).padStart(4, '0')}): credentials, not shown`];
  return [`  ${d.path} (${d.mode.toString(8).padStart(4, '0')}):`, ...d.content.trimEnd().split('\n').map((l) => `    ${l}`)];
}

/** What the file executors share during one apply: the record they keep up to date. */
export interface OwnedApplyContext {
  host: Host;
  store: StateStore;
  /** Read once, at the first file action; written after every change. */
  record?: OwnedRecord;
}

async function recordFor(c: OwnedApplyContext): Promise<OwnedRecord> {
  c.record ??= await readOwned(c.store);
  return c.record;
}

/** One executor per file action kind; each records what it created (every file, every directory). */
export const ownedFileExecutors: Executors<OwnedFileAction, OwnedApplyContext> = {
  'host-file.write': async (a, c) => {
    const record = await recordFor(c);
    // Parents one by one, so that each directory we create is recorded (and only those).
    const parents: string[] = [];
    // (Never a top-level directory such as /etc: writeFileAtomic would create it, we never record or remove it.)
    for (let d = path.dirname(a.path); d.split('/').length > 2 && !(await c.host.stat(d)); d = path.dirname(d)) parents.unshift(d);
    for (const d of parents) {
      await c.host.mkdir(d, 0o700);
      if (!record.dirs.includes(d)) record.dirs.push(d);
    }
    await c.host.writeFileAtomic(a.path, a.file.content, { mode: a.file.mode, dirMode: 0o700 });
    record.files[a.path] = sha256(a.file.content);
    await c.store.write(OWNED_FILES_STATE, record);
  },
  'host-file.remove': async (a, c) => {
    const record = await recordFor(c);
    await c.host.remove(a.path);
    delete record.files[a.path];
    await c.store.write(OWNED_FILES_STATE, record);
  },
};

/** After the file actions ran: our directories they left empty go, and the record is saved. */
export async function finishOwned(c: OwnedApplyContext): Promise<void> {
  if (!c.record) return; // no file action ran
  await removeEmptyDirs(c.host, c.record);
  await c.store.write(OWNED_FILES_STATE, c.record);
}

async function removeEmptyDirs(host: Host, record: OwnedRecord): Promise<string[]> {
  const removed: string[] = [];
  for (const d of [...record.dirs].sort((a, b) => b.length - a.length)) {
    const st = await host.stat(d);
    if (!st) {
      record.dirs = record.dirs.filter((x) => x !== d);
      continue;
    }
    if (st.isDirectory && (await host.readdir(d)).length === 0 && !Object.keys(record.files).some((f) => f.startsWith(`${d}/`))) {
      await host.remove(d);
      record.dirs = record.dirs.filter((x) => x !== d);
      removed.push(d);
    }
  }
  return removed;
}

/** Teardown: remove every file we recorded, then our directories that are left empty. */
export async function removeOwnedFiles(host: Host, store: StateStore): Promise<string> {
  const record = await readOwned(store);
  const files = Object.keys(record.files);
  if (!files.length && !record.dirs.length) return 'no file of ours';
  for (const f of files) {
    await host.remove(f);
    delete record.files[f];
  }
  const dirs = await removeEmptyDirs(host, record);
  if (record.dirs.length) await store.write(OWNED_FILES_STATE, record);
  else await store.remove(OWNED_FILES_STATE).catch(() => undefined);
  return `removed ${[...files, ...dirs].join(', ')}`;
}
