import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOG, agentErrorSites, renderCatalog, storageRefusals } from '../../scripts/error-catalog.ts';
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

  it('the committed catalog is up to date (regenerate: node scripts/error-catalog.ts)', () => {
    expect(readFileSync(CATALOG, 'utf8')).toBe(renderCatalog());
  });
});
