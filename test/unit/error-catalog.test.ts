import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOG, agentErrorSites, commandSites, renderCatalog, storageRefusals } from '../../scripts/error-catalog.ts';
import { CHECKS } from '../../agent/preflight/checks.ts';

describe('docs/errors.md: every error the agent prints, with its fix', () => {
  it('every AgentError in agent/ carries a fix (remediation) the operator can act on', () => {
    const sites = agentErrorSites();
    expect(sites.length).toBeGreaterThan(50);
    // a literal fix must say something; a computed one (‹…›, e.g. the failing command's own hint) is filled at run time
    const without = sites.filter((s) => !s.remediation.includes('‹') && s.remediation.trim().length < 8);
    expect(without.map((s) => `${s.file}:${s.line}`)).toEqual([]);
  });

  it('every preflight check has a remediation; the storage refusal reasons are found', () => {
    expect(CHECKS.filter((c) => c.remediation.trim().length < 8).map((c) => c.name)).toEqual([]);
    expect(storageRefusals().map((r) => r.reason)).toEqual(expect.arrayContaining(['read-only device', expect.stringMatching(/^root disk: /)]));
  });

  it('every checked command (runChecked / commandFailure) is listed with what it was doing and a fix', () => {
    const sites = commandSites();
    expect(sites.map((s) => s.argv)).toEqual(expect.arrayContaining(['modprobe ‹a.module›', 'systemctl restart ‹K0S_UNIT›', '‹K0S_BIN› reset']));
    expect(sites.filter((s) => !s.what || !s.fix).map((s) => `${s.file}:${s.line}`)).toEqual([]);
  });

  it('the committed catalog is up to date (regenerate: node scripts/error-catalog.ts)', () => {
    expect(readFileSync(CATALOG, 'utf8')).toBe(renderCatalog());
  });
});
