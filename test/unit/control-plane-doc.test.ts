/**
 * The control-plane contract lives in the repository (issue 17 item 6; docs/decisions/0223):
 * docs/control-plane-api.md. Every citation points there, with a section that exists, and the
 * document names every field the agent's contract types carry and every endpoint the emulator serves.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOC = 'docs/control-plane-api.md';
const doc = readFileSync(path.join(ROOT, DOC), 'utf8');
const SKIP_DIRS = new Set(['node_modules', '.cache', 'dist', 'out', 'cache', '.git']);
const TEXT = /\.(ts|md|sh|mk|json|service|conf|txt)$|^Makefile$/;

function walk(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (!statSync(abs, { throwIfNoEntry: false })) return [];
  if (statSync(abs).isFile()) return [rel];
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return SKIP_DIRS.has(e.name) ? [] : walk(path.join(rel, e.name));
    return e.isFile() && TEXT.test(e.name) ? [path.join(rel, e.name)] : [];
  });
}
const SELF = 'test/unit/control-plane-doc.test.ts';
const FILES = ['agent', 'test', 'docs', 'scripts', 'installer', 'systemd', 'mk', 'vm-images', 'README.md', 'Makefile', '.ci']
  .flatMap(walk)
  .filter((f) => f !== SELF);
const sections = new Set([...doc.matchAll(/^## (\d+)\. /gm)].map((m) => m[1]));

describe(`the contract is ${DOC}`, () => {
  it('no file cites the shared copy or a bare control-plane-api.md; every cited section exists', () => {
    const shared = ['shared', 'design', 'control-plane-api.md'].join('/');
    const bad: string[] = [];
    for (const f of FILES) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      text.split('\n').forEach((line, i) => {
        const at = `${f}:${i + 1}`;
        if (line.includes(shared)) bad.push(`${at}: cites the shared copy (${shared}); cite ${DOC} §N`);
        for (const m of line.matchAll(/(\S*)control-plane-api\.md/g)) if (!/(^|[^\w/.-])docs\/$/.test(m[1]!)) bad.push(`${at}: "${m[0]}" is not ${DOC}`);
        if (/\b[Cc]ontract §\d/.test(line)) bad.push(`${at}: "contract §N" names no document; cite ${DOC} §N`);
        for (const m of line.matchAll(/control-plane-api\.md((?:,? ?§\d+)+)/g)) {
          for (const s of m[1]!.matchAll(/§(\d+)/g)) if (!sections.has(s[1])) bad.push(`${at}: ${DOC} has no section ${s[1]}`);
        }
      });
    }
    expect(bad).toEqual([]);
    expect(FILES.length).toBeGreaterThan(100); // the walk found the tree
  });

  it('names every field of the contract types the agent sends and checks (agent/api/types.ts)', () => {
    const api = [
      'RegisterRequest',
      'Inventory',
      'EdgeRef',
      'NodeSpec',
      'WireguardPeer',
      'WireguardSpec',
      'K0sSpec',
      'LogSink',
      'RegisterResponse',
      'StatusStep',
      'StatusReport',
      'LogEvent',
    ];
    // Taint is the configuration's type too: its one home is agent/config/types.ts (docs/decisions/0210).
    const homes: Array<[string, string]> = [...api.map((n): [string, string] => ['agent/api/types.ts', n]), ['agent/config/types.ts', 'Taint']];
    const missing: string[] = [];
    for (const [file, name] of homes) {
      const types = readFileSync(path.join(ROOT, file), 'utf8');
      const body = types.match(new RegExp(`export interface ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`))?.[1];
      expect(body, `interface ${name} in ${file}`).toBeDefined();
      for (const f of body!.matchAll(/^ {2}(\w+)\??:/gm)) if (!doc.includes(f[1]!)) missing.push(`${name}.${f[1]}`);
      // nested object fields such as `k0s?: { unitActive: boolean; nodeReady?: … }`
      for (const line of body!.split('\n').filter((l) => /:\s*\{/.test(l))) {
        for (const f of line.replace(/^[^{]*\{/, '').matchAll(/(\w+)\??:/g)) if (!doc.includes(f[1]!)) missing.push(`${name}.…${f[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('describes every endpoint the emulator serves, both error reasons and our extension', () => {
    for (const s of [
      ':edgeInitdScript', '/artifacts/castai-edge-initd/{version}/linux-{arch}.{xz|gz}', 'POST /v2beta/organizations/{org}/clusters/{cluster}/edge-locations/{loc}/edges',
      'GET /v2beta/organizations/{org}/clusters/{cluster}/edges/{edgeId}', ':reportStatus', 'DELETE /v2beta/organizations/{org}/clusters/{cluster}/edge-locations/{loc}/edges/{edgeId}',
      'POST {logs.url}', 'logEvents', 'EDGE_NOT_FOUND', 'MACHINE_ID_CONFLICT', '"code": 5', '"code": 6', 'lastSeen', 'nodeReady', 'nodeReadyMessage',
      'DELETING', 'Retry-After', 'google.rpc.Status', '/downloads/k0s/',
    ]) expect(doc, s).toContain(s);
    // The emulator's endpoint table (test/control-plane/faults.ts) has a section here for each API endpoint.
    const faults = readFileSync(path.join(ROOT, 'test/control-plane/faults.ts'), 'utf8');
    const endpoints = faults.match(/ENDPOINTS = \[([^\]]+)\]/)?.[1]?.match(/'([\w-]+)'/g)?.map((x) => x.slice(1, -1)) ?? [];
    expect(endpoints).toEqual(expect.arrayContaining(['register', 'get-edge', 'report-status', 'delete-edge', 'logs', 'install-script', 'artifact']));
  });
});
