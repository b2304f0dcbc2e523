/** The bugs the fuzzers found (docs/decisions/0080-fuzzing.md), pinned as plain examples. */
import { describe, expect, it } from 'vitest';
import { AgentError } from '../../agent/errors.ts';
import { FakeHost } from '../../agent/host/fake.ts';
import { parseYamlSubset } from '../../agent/k0s/yaml-subset.ts';
import { StateStore } from '../../agent/state/store.ts';
import { readSavedRegistration } from '../../agent/reconcile/steps/register.ts';
import { ParseError, parseLsblk, parseLvs, parsePvs, parseVgs, parseWipefs } from '../../agent/storage/parse.ts';
import { parseIpAddr, parseIpLink, parseIpRoutes } from '../../agent/wireguard/parse.ts';
import { validRegisterResponse } from '../fuzz/targets/api.ts';
import { REGISTER_FILE } from '../../agent/state/files.ts';

describe('storage parsers: null rows are a ParseError naming the path (was TypeError)', () => {
  it.each([
    ['lsblk', () => parseLsblk('{"blockdevices":[null]}'), /lsblk JSON: blockdevices\[0\] is null/],
    ['lsblk child', () => parseLsblk('{"blockdevices":[{"name":"nvme0n1","children":[7]}]}'), /blockdevices\[0\]\.children\[0\] is number/],
    ['wipefs', () => parseWipefs('{"signatures":[{"type":"xfs"},null]}'), /wipefs JSON: signatures\[1\] is null/],
    ['pvs report', () => parsePvs('{"report":[null]}'), /pvs JSON: report\[0\] is null/],
    ['vgs row', () => parseVgs('{"report":[{"vg":[null]}]}'), /vgs JSON: report\[0\]\.vg\[0\] is null/],
    ['lvs row', () => parseLvs('{"report":[{"lv":["x"]}]}'), /lvs JSON: report\[0\]\.lv\[0\] is string/],
  ])('%s', (_n, f, re) => {
    expect(f).toThrow(ParseError);
    expect(f).toThrow(re);
  });

  it('a JSON "toString" key where a scalar belongs counts as missing (String() threw)', () => {
    const [d] = parseLsblk('{"blockdevices":[{"name":{"toString":1},"size":{"toString":1},"model":{"toString":1}}]}');
    expect(d).toMatchObject({ name: '', size: 0, model: null });
    expect(parseVgs('{"report":[{"vg":[{"vg_name":{"toString":1},"vg_tags":{"toString":1}}]}]}')[0]).toMatchObject({ vgName: '', tags: [] });
  });
});

describe('ip -j parsers: errors name the command (were SyntaxError/TypeError)', () => {
  it.each([
    ['link, not JSON', () => parseIpLink(''), /^ip -j link show: .*not JSON/],
    ['link, null', () => parseIpLink('null'), /^ip -j link show: expected a JSON array/],
    ['link, null element', () => parseIpLink('[null]'), /^ip -j link show: /],
    ['link, no ifindex', () => parseIpLink('[{"mtu":1380}]'), /^ip -j link show: .*ifindex/],
    ['addr, object', () => parseIpAddr('{}'), /^ip -j addr show: expected a JSON array/],
    ['route, string', () => parseIpRoutes('"7"'), /^ip -j route show: expected a JSON array/],
  ])('%s', (_n, f, re) => expect(f).toThrow(re));

  it('odd fields are skipped, not crashed on', () => {
    expect(parseIpRoutes('[{"dst":7},{"dst":"10.0.0.0/8","protocol":{}}]')).toEqual([{ dst: '10.0.0.0/8' }]);
    expect(parseIpAddr('[{"addr_info":[{"local":{"toString":1},"prefixlen":24},{"local":"100.96.0.7","prefixlen":32,"family":"inet"}]}]')).toEqual([
      '100.96.0.7/32',
    ]);
    expect(parseIpLink('[{"ifindex":2,"mtu":1380,"flags":"LOWER_UP","linkinfo":{"info_kind":{}}}]')).toEqual({ ifindex: 2, up: false, mtu: 1380 });
  });
});

describe('k0s yaml subset', () => {
  it('a "__proto__" key is a plain key, not the prototype', () => {
    const v = parseYamlSubset('__proto__:\n  kind: Config\nusers: []\n') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'users']);
    expect(v.kind).toBeUndefined();
  });
});

describe('a damaged saved register.json is an AgentError naming the field (was a TypeError in the k0s step)', () => {
  const STATE = '/var/lib/castai-edge-initd';
  it('valid: returned as is', async () => {
    const h = new FakeHost().setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify(validRegisterResponse()), 0o600);
    expect((await readSavedRegistration(new StateStore(h, STATE)))?.edge.name).toBe('cast-7d1f');
  });
  it('missing: undefined', async () => {
    expect(await readSavedRegistration(new StateStore(new FakeHost(), STATE))).toBeUndefined();
  });
  it('a field of the wrong shape', async () => {
    const bad = { ...validRegisterResponse(), k0s: { ...(validRegisterResponse().k0s as object), artifacts: undefined } };
    const h = new FakeHost().setFile(`${STATE}/${REGISTER_FILE}`, JSON.stringify(bad), 0o600);
    const err = await readSavedRegistration(new StateStore(h, STATE)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).message).toBe(`state file ${STATE}/register.json is damaged: field k0s.artifacts must be an object, got nothing (missing)`);
    expect((err as AgentError).remediation).toMatch(/move it aside .* registers again/);
    expect(h.mutations()).toEqual([]);
  });
});

describe('env file: a bad line never shows the bootstrap token', () => {
  it('KEY and =value on two lines (dotenv reads them as one assignment; the line check printed the value)', async () => {
    const { parseEnvFileText } = await import('../../agent/config/envfile.ts');
    const r = parseEnvFileText('API_URL=https://api.cast.ai\nINITD_BOOTSTRAP_TOKEN\r=FAKE-bootstrap-token-not-real-0000\n', '/etc/x.env');
    expect(r.vars.INITD_BOOTSTRAP_TOKEN).toBe('FAKE-bootstrap-token-not-real-0000');
    expect(r.problems.map((p) => p.message)).toEqual([
      '/etc/x.env line 2: INITD_BOOTSTRAP_TOKEN …(value hidden) is not KEY=value; write e.g. INITD_KUBERNETES_LABELS=env=prod, or start the line with # to comment it out',
      '/etc/x.env line 3: (a line holding the value of INITD_BOOTSTRAP_TOKEN, hidden) is not KEY=value; write e.g. INITD_KUBERNETES_LABELS=env=prod, or start the line with # to comment it out',
    ]);
    expect(JSON.stringify(r.problems)).not.toContain('FAKE-bootstrap-token');
  });
  it('proxy credentials on a bad line are masked', async () => {
    const { parseEnvFileText } = await import('../../agent/config/envfile.ts');
    const r = parseEnvFileText('HTTPS_PROXY http://u:s3cret@proxy:3128\n', '/etc/x.env');
    expect(r.problems[0]!.message).toContain('"HTTPS_PROXY http://u:****@proxy:3128"');
    expect(JSON.stringify(r.problems)).not.toContain('s3cret');
  });
});

describe('k0s join token: the server port is 1-65535', () => {
  it('port 0 ("https://cp.example.test:00") is refused, naming the field (was accepted as port 0)', async () => {
    const { gzipSync } = await import('node:zlib');
    const { readFileSync } = await import('node:fs');
    const { decodeJoinToken } = await import('../../agent/k0s/token.ts');
    const yaml = readFileSync(new URL('../fixtures/k0s/worker-token.kubeconfig.yaml', import.meta.url), 'utf8').replace(/server: \S+/, 'server: https://cp.example.test:00');
    const token = gzipSync(Buffer.from(yaml)).toString('base64');
    expect(() => decodeJoinToken(token)).toThrow(AgentError);
    expect(() => decodeJoinToken(token)).toThrow('k0s join token: clusters[].cluster.server "https://cp.example.test:00" has port 0; expected 1-65535');
  });
});

describe('storage plan: inconsistent lsblk output is refused, never mapped onto another disk', () => {
  it('a disk named nvme6n1 whose path is /dev/vda (the root disk): refused (pvcreate /dev/vda was planned)', async () => {
    const { StorageSim } = await import('../fixtures/storage/sim.ts');
    const { planStorageStep } = await import('../../agent/storage/index.ts');
    const sim = new StorageSim([StorageSim.nvme(6)]);
    const ls = JSON.parse(sim.lsblk()) as { blockdevices: Array<Record<string, unknown>> };
    delete ls.blockdevices[0]!.path; // vda: lsblk path falls back to /dev/vda
    ls.blockdevices[1]!.path = '/dev/vda'; // nvme6n1 claims /dev/vda
    sim.host.onExec('lsblk', { stdout: JSON.stringify(ls) });
    sim.host.onExec((cmd, args) => (cmd === 'wipefs' || cmd === 'blkid') && args.at(-1) === '/dev/vda', { exitCode: 2 });
    const { plan } = await planStorageStep(sim.host, { nvmeDevices: ['/dev/nvme6n1'] }, '/var/lib/castai-edge-initd');
    expect(plan.refused).toBe(true);
    expect(plan.actions).toEqual([]);
    expect(plan.refusals).toHaveLength(1);
    expect(plan.summary).toContain('lsblk lists /dev/vda for more than one disk');
  });

  it('a disk whose lsblk size is negative is unsafe (was eligible)', async () => {
    const { StorageSim } = await import('../fixtures/storage/sim.ts');
    const { planStorageStep } = await import('../../agent/storage/index.ts');
    const sim = new StorageSim([StorageSim.nvme(0), StorageSim.nvme(1)]);
    const ls = JSON.parse(sim.lsblk()) as { blockdevices: Array<Record<string, unknown>> };
    ls.blockdevices.find((d) => d.name === 'nvme1n1')!.size = -1;
    sim.host.onExec('lsblk', { stdout: JSON.stringify(ls) });
    const { plan } = await planStorageStep(sim.host, {}, '/var/lib/castai-edge-initd');
    expect(plan.disks.find((d) => d.path === '/dev/nvme1n1')!.verdict).toEqual({
      kind: 'unsafe',
      reasons: ['size -1 from lsblk is not a disk size; refusing to guess'],
    });
    expect(plan.actions.find((a) => a.kind === 'storage.pvcreate')?.devices).toEqual(['/dev/nvme0n1']);
  });
});
