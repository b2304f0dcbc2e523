/**
 * Fuzz targets: the inspect → plan paths of storage and GPU, fed with fuzzed
 * tool outputs through a FakeHost. Properties:
 *   - only read-only commands run (FakeHost.mutations(READ_ONLY_COMMANDS) is
 *     empty; for nvidia-smi only the query and -lgip/-lgipp/-lgi/-lci reads);
 *   - nothing is written;
 *   - rejections are AgentError (with a remediation) or the parser's error,
 *     naming the command;
 *   - storage safety holds for whatever the outputs say: a disk is planned for
 *     pvcreate only if the parsed outputs show it blank (no children, mounts,
 *     swap, signatures, partition table, read-only flag).
 */
import fc from 'fast-check';
import { AgentError } from '../../../agent/errors.ts';
import { NvidiaSmiParseError } from '../../../agent/gpu/parse.ts';
import { gpuStep } from '../../../agent/reconcile/steps/gpu.ts';
import type { FakeHost } from '../../../agent/host/fake.ts';
import type { StepContext } from '../../../agent/reconcile/step.ts';
import { READ_ONLY_COMMANDS } from '../../../agent/storage/inspect.ts';
import { planStorageStep } from '../../../agent/storage/index.ts';
import { ParseError } from '../../../agent/storage/parse.ts';
import { assert, expectRejection, fail, target, type FuzzTarget, type Outcome } from '../harness.ts';
import { applyJson, applyText, jsonMutation, textMutation, type JsonMutation, type TextMutation } from '../mutate.ts';
import planCommand from '../../../agent/commands/plan.ts';
import {
  a100Reads,
  gpuHost,
  nonReadOnlyExecs,
  READ_ONLY_SMI,
  registeredHostFacts,
  STATE_DIR,
  storageHost,
  storageScenarios,
  type StorageScenario,
} from '../scenarios.ts';
import { validRegisterResponse } from './api.ts';

type Mut = { json?: JsonMutation[]; text?: TextMutation[] } | null;

/** No change (most of the time), or JSON-structural and/or text mutations. */
const mut: fc.Arbitrary<Mut> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.record({ json: fc.array(jsonMutation, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ text: fc.array(textMutation, { minLength: 1, maxLength: 3 }) }) },
);

function mutate(text: string, m: Mut): string {
  if (!m) return text;
  let out = text;
  if (m.json) {
    try {
      out = JSON.stringify(applyJson(JSON.parse(out), m.json)) ?? '';
    } catch {
      /* not JSON: text mutations only */
    }
  }
  return m.text ? applyText(out, m.text) : out;
}

const exitCode = fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 5, 127) });

interface StorageCase {
  scenario: number;
  lsblk: Mut;
  pvs: Mut;
  vgs: Mut;
  lvs: Mut;
  probes: Array<{ disk: number; wipefs: Mut; blkid: Mut; blkidExit?: number | undefined }>;
  mountinfo: Mut;
  swaps: Mut;
  state: Mut;
  exits: Record<'lsblk' | 'pvs' | 'vgs' | 'lvs' | 'wipefs', number | undefined>;
  nvme: Array<number | string> | null;
}

const storageCase: fc.Arbitrary<StorageCase> = fc.record({
  scenario: fc.nat(2),
  lsblk: mut,
  pvs: mut,
  vgs: mut,
  lvs: mut,
  probes: fc.array(fc.record({ disk: fc.nat(30), wipefs: mut, blkid: mut, blkidExit: fc.option(fc.constantFrom(0, 2, 4), { nil: undefined }) }), {
    maxLength: 4,
  }),
  mountinfo: mut,
  swaps: mut,
  state: mut,
  exits: fc.record({ lsblk: exitCode, pvs: exitCode, vgs: exitCode, lvs: exitCode, wipefs: exitCode }),
  nvme: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    {
      weight: 2,
      arbitrary: fc.array(
        fc.oneof(
          { weight: 8, arbitrary: fc.nat(30) },
          { weight: 1, arbitrary: fc.constantFrom('/dev/vda', '/dev/nvme99n1', '/dev/disk/by-id/nvme-X_S64HNE0T500001') },
        ),
        { minLength: 1, maxLength: 4 },
      ),
    },
  ),
});

function fuzzedScenario(base: StorageScenario, c: StorageCase): StorageScenario {
  const disks = Object.keys(base.probes);
  const probes = structuredClone(base.probes);
  for (const p of c.probes) {
    const d = disks[p.disk % Math.max(1, disks.length)];
    if (!d) continue;
    probes[d] = {
      wipefs: mutate(probes[d]!.wipefs, p.wipefs),
      blkid: { exitCode: p.blkidExit ?? probes[d]!.blkid.exitCode, stdout: mutate(probes[d]!.blkid.stdout, p.blkid) },
    };
  }
  return {
    ...base,
    lsblk: mutate(base.lsblk, c.lsblk),
    pvs: mutate(base.pvs, c.pvs),
    vgs: mutate(base.vgs, c.vgs),
    lvs: mutate(base.lvs, c.lvs),
    probes,
    mountinfo: mutate(base.mountinfo, c.mountinfo),
    swaps: mutate(base.swaps, c.swaps),
    ...(base.state !== undefined ? { state: mutate(base.state, c.state) } : {}),
  };
}

/** AgentErrors carry a remediation; parse errors name the command whose output failed. */
const namesStorage = (e: Error) =>
  e instanceof AgentError ? (e.message.startsWith('storage') && e.remediation ? 'storage' : false) : e instanceof ParseError && /^could not parse (lsblk|wipefs|pvs|vgs|lvs) JSON/.test(e.message) ? 'parser' : false;

async function checkStorage(scenarios: StorageScenario[], c: StorageCase): Promise<Outcome> {
  const base = scenarios[c.scenario % scenarios.length]!;
  const s = fuzzedScenario(base, c);
  const host = storageHost(s, { exit: c.exits });
  const disks = Object.keys(base.probes);
  const nvmeDevices = c.nvme ? [...new Set(c.nvme.map((x) => (typeof x === 'number' ? (disks[x % disks.length] ?? '/dev/nvme0n1') : x)))] : undefined;
  let outcome: Outcome;
  try {
    const { actual, plan } = await planStorageStep(host, { nvmeDevices }, STATE_DIR);
    outcome = plan.refused ? 'rejected' : 'accepted';
    if (plan.refused) assert(plan.actions.length === 0 && plan.refusals.every((a) => a.reason.length > 5), 'a refused plan carries other actions');
    for (const a of plan.actions.filter((x) => x.kind === 'storage.pvcreate')) {
      for (const d of a.devices ?? []) {
        const node = actual.blockDevices.find((n) => n.path === d || n.path === actual.resolved[d]);
        assert(node, `pvcreate planned on ${d}, which lsblk does not list as a whole disk`);
        const probe = actual.probes[node.path];
        assert(probe && !probe.error, `pvcreate planned on ${d} without a clean probe`);
        assert(probe.signatures.length === 0 && !probe.blkid.TYPE && !probe.blkid.PTTYPE, `pvcreate planned on ${d}, which carries a signature`);
        // Auto-discovery: only a disk proven empty (its sample reads all zeros), unless our state records it.
        const recorded = actual.state?.devices.includes(node.path) ?? false;
        if (!nvmeDevices && !recorded)
          assert(probe.content && !probe.content.error && !probe.content.nonZero, `pvcreate planned on ${d} in auto-discovery without reading it empty`);
        assert(
          node.children.length === 0 && node.mountpoints.length === 0 && !node.ro && node.size > 0,
          `pvcreate planned on ${d}, which has children/mounts/ro/size 0`,
        );
        assert(!actual.mounts.some((m) => m.majMin === node.majMin) && !actual.swaps.includes(node.path), `pvcreate planned on mounted/swap disk ${d}`);
      }
    }
  } catch (e) {
    outcome = expectRejection(e, [AgentError, ParseError], namesStorage, 'storage plan');
  }
  const changes = host.mutations(READ_ONLY_COMMANDS);
  if (changes.length) fail(`storage plan changed the host: ${JSON.stringify(changes)}`);
  return outcome;
}

// ---------------------------------------------------------------------------
// GPU

const SIZES = ['1g.5gb', '1g.5gb+me', '1g.10gb', '2g.10gb', '3g.20gb', '4g.20gb', '7g.40gb', '1g.12gb', '3g.40gb'];
const OPS = ['lgip', 'lgipp', 'lgi', 'lci'] as const;

interface GpuCase {
  n: number;
  migOn: boolean;
  query: Mut;
  queryExit: number | undefined;
  reads: Array<{ gpu: number; op: number; m: Mut; exit: number | undefined }>;
  sizes: string[];
  guard: string | null;
}

const gpuCase: fc.Arbitrary<GpuCase> = fc.record({
  n: fc.integer({ min: 1, max: 8 }),
  migOn: fc.boolean(),
  query: mut,
  queryExit: exitCode,
  reads: fc.array(fc.record({ gpu: fc.nat(7), op: fc.nat(3), m: mut, exit: fc.oneof(fc.constant(undefined), fc.constantFrom(0, 6, 127)) }), { maxLength: 5 }),
  sizes: fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom<string[]>(
        ['1g.5gb'],
        ['1g.10gb'],
        ['3g.20gb', '2g.10gb', '1g.5gb', '1g.5gb'],
        ['7g.40gb'],
        ['4g.20gb', '3g.20gb'],
        ['1g.5gb', '1g.5gb', '1g.5gb', '1g.5gb', '1g.5gb', '1g.5gb', '1g.5gb'],
      ),
    },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...SIZES), { minLength: 1, maxLength: 8 }) },
  ),
  guard: fc.option(fc.constantFrom('{"at":"2026-01-01T00:00:00Z","busIds":["00000000:10:00.0"]}', '{', 'null', '[]', '{"busIds":7}'), { nil: null }),
});

function gpuCtx(host: FakeHost, sizes: string[]): StepContext {
  const log = { warn: () => {}, info: () => {}, debug: () => {}, error: () => {} };
  return {
    host,
    cfg: { stateDir: STATE_DIR, gpu: { mig: { partitionSizes: sizes } } },
    log,
    shared: { extraLabels: {} },
    signal: new AbortController().signal,
  } as unknown as StepContext;
}

const namesGpu = (e: Error) =>
  e instanceof NvidiaSmiParseError ? (e.command.startsWith('nvidia-smi') ? e.command : false) : e instanceof AgentError && e.remediation && /nvidia-smi|INITD_GPU_CONFIG|MIG|GPU/.test(e.message) ? 'gpu' : false;

async function checkGpu(c: GpuCase): Promise<Outcome> {
  const reads = a100Reads(c.n, c.migOn);
  reads.query = mutate(reads.query, c.query);
  for (const r of c.reads) {
    const g = reads.perGpu[r.gpu % c.n]!;
    const op = OPS[r.op]!;
    g[op] = [mutate(g[op][0], r.m), r.exit ?? g[op][1]];
  }
  const host = gpuHost(reads, c.queryExit ?? 0);
  if (c.guard !== null) host.setFile(`${STATE_DIR}/gpu-reboot-attempted`, c.guard, 0o600);
  let outcome: Outcome;
  try {
    const p = await gpuStep().plan(gpuCtx(host, c.sizes));
    assert(typeof p.summary === 'string' && Array.isArray(p.actions), 'gpu plan: bad shape');
    for (const a of p.actions) assert(a.kind.startsWith('gpu.') && a.description.length > 5, `gpu plan: odd action ${JSON.stringify(a)}`);
    outcome = 'accepted';
  } catch (e) {
    outcome = expectRejection(e, [AgentError, NvidiaSmiParseError], namesGpu, 'gpu plan');
  }
  const bad = host.execLines().filter((l) => !READ_ONLY_SMI.test(l));
  if (bad.length) fail(`gpu plan ran a command that is not a read: ${bad.join('; ')}`);
  const writes = host.mutations(new Set(['nvidia-smi']));
  if (writes.length) fail(`gpu plan changed the host: ${JSON.stringify(writes)}`);
  return outcome;
}

export async function planTargets(): Promise<FuzzTarget[]> {
  const scenarios = await storageScenarios();
  return [
    target({
      name: 'plan.storage',
      parser: 'storage inspect → plan (lsblk, wipefs, blkid, pvs/vgs/lvs, mountinfo, swaps, state file) on a FakeHost',
      arbitrary: storageCase,
      check: (c) => checkStorage(scenarios, c),
      cost: 5,
    }),
    target({
      name: 'plan.gpu',
      parser: 'gpu inspect → plan (nvidia-smi query, -lgip/-lgipp/-lgi/-lci, up to 8 A100) on a FakeHost',
      arbitrary: gpuCase,
      check: checkGpu,
      cost: 3,
    }),
  ];
}

// ---------------------------------------------------------------------------
// The whole `plan` command

/** JS-internal messages: a TypeError/RangeError that `plan` caught and printed as a refusal is still a crash. */
const INTERNAL = /Cannot read propert|is not a function|is not iterable|Cannot convert|undefined is not|of undefined|of null|Maximum call stack|Invalid array length|is not defined/;

interface CommandCase {
  storage: StorageCase;
  gpu: GpuCase;
  register: Mut;
}

async function checkPlanCommand(scenarios: StorageScenario[], c: CommandCase): Promise<Outcome> {
  const base = scenarios[c.storage.scenario % scenarios.length]!;
  const host = storageHost(fuzzedScenario(base, c.storage), { exit: c.storage.exits });
  // GPUs on the same host: the mutated A100 reads.
  const reads = a100Reads(c.gpu.n, c.gpu.migOn);
  reads.query = mutate(reads.query, c.gpu.query);
  for (const r of c.gpu.reads) {
    const g = reads.perGpu[r.gpu % c.gpu.n]!;
    const op = OPS[r.op]!;
    g[op] = [mutate(g[op][0], r.m), r.exit ?? g[op][1]];
  }
  const gh = gpuHost(reads, c.gpu.queryExit ?? 0);
  // FakeHost scripts: later ones win, so copy the GPU host's nvidia-smi answers over.
  host.onExec((cmd) => cmd === 'nvidia-smi', (args, opts) => gh.exec('nvidia-smi', args, opts));
  host.setFile('/usr/bin/nvidia-container-runtime', '#!/bin/sh\n', 0o755);
  registeredHostFacts(host, mutate(JSON.stringify(validRegisterResponse()), c.register));
  let out = '';
  const env = { API_URL: 'https://api.example.test', INITD_STATE_DIR: STATE_DIR, INITD_GPU_CONFIG: JSON.stringify({ mig: { partitionSizes: c.gpu.sizes } }) };
  let rc: number;
  try {
    rc = await planCommand({ host, env, json: true, out: (t) => (out += t), err: () => {} }, { json: true });
  } catch (e) {
    // A damaged saved register.json stops `plan` before any step (the CLI prints the remediation).
    // (StateStore.read: "state file … is not valid JSON (…); move it aside and re-run"; readSavedRegistration: AgentError naming the field.)
    const names = (x: Error) =>
      (x instanceof AgentError && x.remediation && /register\.json is damaged: field /.test(x.message)) || /^state file \S+register\.json is not valid JSON .*move it aside/s.test(x.message) ? 'register.json' : false;
    return expectRejection(e, [Error], names, 'plan command');
  }
  assert(rc === 0 || rc === 1, `plan exited ${rc}`);
  const doc = JSON.parse(out) as { steps: Array<{ step: string; error?: { message: string } }> };
  for (const s of doc.steps) {
    if (!s.error) continue;
    assert(s.error.message.length > 5, `${s.step}: empty refusal`);
    if (INTERNAL.test(s.error.message)) fail(`${s.step}: plan printed an internal error as a refusal: ${s.error.message.slice(0, 300)}`);
  }
  const bad = nonReadOnlyExecs(host);
  if (bad.length) fail(`plan ran a command that is not a read: ${bad.join('; ')}`);
  const writes = host.calls.filter((x) => x.kind === 'write' || x.kind === 'mkdir' || x.kind === 'remove');
  if (writes.length) fail(`plan changed the host: ${JSON.stringify(writes).slice(0, 500)}`);
  return rc === 0 ? 'accepted' : 'rejected';
}

export async function planCommandTargets(): Promise<FuzzTarget[]> {
  const scenarios = await storageScenarios();
  return [
    target({
      name: 'plan.command',
      parser: 'the whole `plan` command (all steps) on a FakeHost with fuzzed storage/nvidia-smi outputs and a fuzzed saved register.json',
      arbitrary: fc.record({ storage: storageCase, gpu: gpuCase, register: mut }),
      check: (c) => checkPlanCommand(scenarios, c),
      cost: 10,
      chaosScale: 0.2,
    }),
  ];
}
