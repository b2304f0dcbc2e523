/**
 * "Trust only root's files": what the root agent reads for configuration, CA bundles or state
 * must be changeable by root alone, or whoever can change it steers a root daemon (its API URL,
 * CA, or the state that names the k0s binary it runs).
 *
 * The rule is OpenSSH's StrictModes check (misc.c safe_path(), used for authorized_keys and
 * friends): the file and EVERY directory above it, up to `/`, must be owned by root (or by the
 * user running the command) and must not be writable by group or others (`mode & 022`). Two
 * refinements, both at least as strict in effect:
 *  - symlinks are resolved one hop at a time: the link's own directory chain is checked, the link
 *    itself must be root's, and then its target is checked the same way (OpenSSH checks the
 *    realpath only, which hides who could re-point the link);
 *  - an ANCESTOR directory that is world-writable with the sticky bit, owned by root (/tmp,
 *    /var/tmp) is accepted: in a sticky directory only an entry's owner (and root) may rename or
 *    delete it (unlink(2), rename(2): EPERM), so a root-owned entry below cannot be swapped. The
 *    checked path itself may never be group- or world-writable.
 * All access goes through the Host port (lstat, readlink, readdir). docs/decisions/0160-config-trust.md.
 */
import path from 'node:path';
import type { Host } from '../host/host.ts';

export interface TrustFinding {
  /** The path that is not root's alone (the checked path, an ancestor, or a symlink on the way). */
  path: string;
  /** What is wrong, e.g. "is owned by uid 1000" or "is group-writable (mode 0775)". */
  problem: string;
  /** The command that fixes it. */
  fix: string;
  /** True when the path is a directory above what was checked (moving the file is the other fix). */
  ancestor: boolean;
}

export interface TrustOptions {
  /** Owners accepted besides root: the uid running the command (OpenSSH: root or the user). */
  uid: number;
}

const MAX_SYMLINK_HOPS = 40; // Linux's MAXSYMLINKS

const octal = (m: number) => m.toString(8).padStart(4, '0');

/** Problems with one path's own owner and mode (pure). */
export function ownProblems(
  p: string,
  st: { uid: number; mode: number; isDirectory: boolean; isSymlink: boolean },
  o: TrustOptions & { ancestor: boolean },
): TrustFinding[] {
  const out: TrustFinding[] = [];
  if (st.uid !== 0 && st.uid !== o.uid) {
    out.push({ path: p, problem: `is owned by uid ${st.uid}, not root`, fix: `chown root:root ${p}`, ancestor: o.ancestor });
  }
  if (st.isSymlink) return out; // a symlink's own mode is always 0777 and never used
  const writable = st.mode & 0o022;
  const stickyRootDir = st.isDirectory && (st.mode & 0o1000) !== 0 && st.uid === 0;
  if (writable && !(o.ancestor && stickyRootDir)) {
    const who = [st.mode & 0o020 ? 'group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    out.push({ path: p, problem: `is writable by ${who} (mode ${octal(st.mode)})`, fix: `chmod go-w ${p}`, ancestor: o.ancestor });
  }
  return out;
}

/**
 * Every reason `target` is not root's alone, walking from it up to `/` (and through symlinks).
 * A path that does not exist is not a finding (whoever reads it reports that); its existing
 * ancestors are still checked, so a state directory the agent is about to create under a user's
 * directory is refused too.
 */
export async function trustFindings(host: Host, target: string, o: TrustOptions): Promise<TrustFinding[]> {
  const out: TrustFinding[] = [];
  const seen = new Set<string>();
  let hops = 0;
  const walk = async (p: string, ancestor: boolean): Promise<void> => {
    for (let cur = path.posix.normalize(p), anc = ancestor; ; cur = path.posix.dirname(cur), anc = true) {
      const key = `${cur}\0${anc}`;
      if (seen.has(key)) return;
      seen.add(key);
      const st = await host.stat(cur);
      if (st) {
        out.push(...ownProblems(cur, st, { ...o, ancestor: anc }));
        if (st.isSymlink) {
          if (++hops > MAX_SYMLINK_HOPS) {
            out.push({ path: cur, problem: 'has too many levels of symbolic links', fix: `replace ${cur} with a plain file or directory`, ancestor: anc });
            return;
          }
          const to = await host.readlink(cur);
          if (to !== undefined) {
            // The link's own directory chain (who could re-point it), then its target.
            await walk(path.posix.dirname(cur), true);
            await walk(path.posix.resolve(path.posix.dirname(cur), to), anc);
            return;
          }
        }
      }
      if (cur === '/') return;
    }
  };
  await walk(target, false);
  return out;
}

/**
 * Findings for a directory the agent owns outright (INITD_STATE_DIR, /etc/castai-edge-initd): the
 * directory with its ancestors, and every entry inside it (bounded: `maxDepth` levels, at most
 * `maxEntries` entries; symlinks inside are checked like any path).
 */
export async function trustFindingsTree(host: Host, dir: string, o: TrustOptions & { maxDepth?: number; maxEntries?: number }): Promise<TrustFinding[]> {
  const out = await trustFindings(host, dir, o);
  let budget = o.maxEntries ?? 500;
  const visit = async (d: string, depth: number): Promise<void> => {
    for (const name of await host.readdir(d)) {
      if (--budget < 0) return;
      const p = path.posix.join(d, name);
      const st = await host.stat(p);
      if (!st) continue;
      if (st.isSymlink) {
        out.push(...(await trustFindings(host, p, o)).filter((f) => !out.some((x) => x.path === f.path && x.problem === f.problem)));
        continue;
      }
      out.push(...ownProblems(p, st, { ...o, ancestor: false }));
      if (st.isDirectory && depth < (o.maxDepth ?? 3)) await visit(p, depth + 1);
    }
  };
  const st = await host.stat(dir);
  if (st?.isDirectory) await visit(dir, 1);
  return out;
}

/**
 * One message for the operator: what `what` is, every finding, and the commands that fix them.
 * `moveTo` names a root-only directory to suggest when an ancestor is the problem (a user's home
 * is better left alone than chowned to root).
 */
export function trustMessage(what: string, target: string, findings: TrustFinding[], moveTo?: string): string {
  const list = findings.map((f) => `${f.path} ${f.problem}`).join('; ');
  const fixes = [...new Set(findings.map((f) => f.fix))].join(' && ');
  // A directory above the file is someone else's (a user's home): copying the file out is the
  // better fix than taking that directory over.
  if (moveTo && findings.some((f) => f.ancestor)) {
    const dst = path.posix.join(moveTo, path.posix.basename(target));
    return `${what} ${JSON.stringify(target)} could be changed by someone other than root, so the root agent does not trust it: ${list}. Fix: move it where only root can write (install -o root -g root -m 0600 ${target} ${dst}) and use that path; or make every path above root's alone: ${fixes}`;
  }
  return `${what} ${JSON.stringify(target)} could be changed by someone other than root, so the root agent does not trust it: ${list}. Fix: ${fixes}`;
}
