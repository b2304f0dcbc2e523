/**
 * The nvidia-smi TEST DOUBLE (test/doubles/nvidia-smi-test-double.sh) against
 * the real fixtures: byte for byte where a capture exists, plus its state
 * machine. It runs with a PATH holding only bash, coreutils, sed, mawk and grep,
 * like the minimal Debian VM guest.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFiles, fx } from './gpu-fixtures.ts';

const DOUBLE = path.resolve(import.meta.dirname, '../doubles/nvidia-smi-test-double.sh');
const TOOLS = ['bash', 'dirname', 'mkdir', 'cat', 'head', 'tail', 'sort', 'cut', 'tr', 'sed', 'awk', 'grep'];
let root: string;
let bin: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'nvsmi-double-'));
  bin = path.join(root, 'bin');
  mkdirSync(bin);
  for (const t of TOOLS) {
    const where = spawnSync('bash', ['-c', `command -v ${t}`], { encoding: 'utf8' }).stdout.trim();
    symlinkSync(where, path.join(bin, t));
  }
  symlinkSync(DOUBLE, path.join(bin, 'nvidia-smi'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh simulated machine. */
function box(config: string) {
  const state = path.join(root, `state-${n++}`);
  mkdirSync(state);
  writeFileSync(path.join(state, 'config'), config);
  const run = (...args: string[]) => {
    const r = spawnSync('nvidia-smi', args, { env: { PATH: bin, NVIDIA_SMI_TEST_DOUBLE_STATE: state }, encoding: 'utf8' });
    if (r.error) throw r.error;
    return { out: r.stdout, err: r.stderr, code: r.status };
  };
  const ok = (...args: string[]) => {
    const r = run(...args);
    expect(r.err, `stderr of nvidia-smi ${args.join(' ')}`).toBe('');
    expect(r.code, `exit of nvidia-smi ${args.join(' ')}: ${r.out}`).toBe(0);
    return r.out;
  };
  const calls = () => readFileSync(path.join(state, 'calls.log'), 'utf8').trim().split('\n');
  return { state, run, ok, calls };
}

describe('byte for byte with the real captures', () => {
  it('H100 80GB: -mig 1, -lgip, -lgipp, -cgi 19×7 -C, -lgi, -lci, -dci, -dgi, -L', () => {
    const b = box('gpus=h100-80gb\n');
    expect(b.ok('-i', '0', '-mig', '1')).toBe(fx('h100-80gb.mig-enable.txt'));
    expect(b.ok('mig', '-i', '0', '-lgip')).toBe(fx('h100-80gb.lgip.txt'));
    expect(b.ok('mig', '-i', '0', '-lgipp')).toBe(fx('h100-80gb.lgipp.txt'));
    expect(b.ok('mig', '-i', '0', '-cgi', '19,19,19,19,19,19,19', '-C')).toBe(fx('h100-80gb.cgi-7x19-C.txt'));
    expect(b.ok('mig', '-i', '0', '-lgi')).toBe(fx('h100-80gb.lgi-7x1g.txt'));
    expect(b.ok('mig', '-i', '0', '-lci')).toBe(fx('h100-80gb.lci-7x1g.txt'));
    expect(b.ok('mig', '-i', '0', '-dci')).toBe(fx('h100-80gb.dci.txt'));
    expect(b.ok('mig', '-i', '0', '-dgi')).toBe(fx('h100-80gb.dgi.txt'));
    expect(b.ok('-L')).toBe(fx('h100-80gb.L.txt'));
  });
  it('A100-40GB: -lgip by bus id, and the first 1g.5gb lands on GI 13 like the capture', () => {
    const b = box('gpus=a100-40gb\nmig_mode=enabled\n');
    expect(b.ok('mig', '-i', '00000000:04:00.0', '-lgip')).toBe(fx('a100-40gb.lgip.txt'));
    b.ok('mig', '-cgi', '1g.5gb', '-C');
    expect(b.ok('mig', '-lci')).toBe(fx('a100-40gb.lci-1x1g.txt'));
  });
  it('H100 NVL: two 3g.47gb leave every profile with Free 0', () => {
    const b = box('gpus=h100-nvl\nmig_mode=enabled\n');
    b.ok('mig', '-cgi', '9,9', '-C');
    expect(b.ok('mig', '-lgi')).toBe(fx('h100-nvl-94gb.lgi-2x3g.txt'));
    expect(b.ok('mig', '-lgip')).toBe(fx('h100-nvl-94gb.lgip-all-used.txt'));
  });
  it('query-gpu with the columns of the capture (A100 in MIG mode + A2 without MIG)', () => {
    const b = box('gpus=a100-40gb,a2\nmig_mode=enabled\n');
    const [comment, ...rest] = fx('query-gpu.csv.txt').split('\n');
    const args = comment!.replace(/^# nvidia-smi /, '').split(' ');
    expect(b.ok(...args)).toBe(rest.join('\n'));
  });
  it('messages: no instances, MIG off, pending enable, reset not supported, -cgi order failure, in use', () => {
    expect(box('gpus=h100-80gb\nmig_mode=enabled\n').run('mig', '-lgi')).toMatchObject({ out: fx('lgi-none.txt'), code: 6 });
    expect(box('gpus=h100-80gb\nlgip_when_disabled=none\n').run('mig', '-lgi')).toMatchObject({ out: fx('mig-disabled.txt'), code: 6 });
    const bus = (t: string) => t.replaceAll('00000000:00:03.0', '00000000:04:00.0').replaceAll('00000000:01:00.0', '00000000:04:00.0');
    expect(box('gpus=a100-40gb\nenable=pending-not-supported\n').ok('-i', '0', '-mig', '1')).toBe(bus(fx('a100.mig-enable-pending-not-supported.txt')));
    expect(box('gpus=a100-40gb\nenable=pending-in-use\n').ok('-i', '0', '-mig', '1')).toBe(bus(fx('a100.mig-enable-pending-in-use.txt')));
    expect(box('gpus=a100-40gb\nreset=unsupported\n').run('-r', '-i', '00000000:04:00.0')).toMatchObject({
      out: bus(fx('a100.gpu-reset-not-supported.txt')),
      code: 3,
    });
    expect(box('gpus=a100-40gb\nmig_mode=enabled\n').run('mig', '-cgi', '19,19,14,9')).toMatchObject({
      out: fx('a100-40gb.cgi-19-19-14-9-insufficient.txt'),
      code: 255,
    });
    expect(box('gpus=a100-40gb\nmig_mode=enabled\nbusy=1\n').run('mig', '-cgi', '20,20,20,20,20,20,20,20', '-C')).toMatchObject({
      out: fx('cgi-in-use.txt'),
      code: 255,
    });
  });
});

describe('placements follow the orders NVIDIA documents for the A100', () => {
  it('"-cgi 9,19,14,19" gives GI 2, 7, 4, 8 and 14,19×5 gives 5, 13, 7, 8, 9, 10', () => {
    const b = box('gpus=a100-40gb\nmig_mode=enabled\n');
    const ids = (out: string) => [...out.matchAll(/GPU instance ID\s+(\d+) on/g)].map((m) => Number(m[1]));
    expect(ids(b.ok('mig', '-cgi', '9,19,14,19'))).toEqual([2, 7, 4, 8]);
    b.ok('mig', '-dgi');
    expect(ids(b.ok('mig', '-cgi', '14,19,19,19,19,19'))).toEqual([5, 13, 7, 8, 9, 10]);
  });
});

describe('derived fixtures are what the double prints', () => {
  it('regenerates every *.derived.txt', () => {
    const derived = fixtureFiles().filter((f) => f.endsWith('.derived.txt'));
    expect(derived.length).toBeGreaterThanOrEqual(10);
    const a = box('gpus=a100-40gb\nmig_mode=enabled\n');
    expect(a.ok('mig', '-i', '0', '-lgipp')).toBe(fx('a100-40gb.lgipp.derived.txt'));
    expect(a.ok('mig', '-i', '0', '-cgi', '19,19,19,19,19,19,19', '-C')).toBe(fx('a100-40gb.cgi-7x19-C.derived.txt'));
    expect(a.ok('mig', '-i', '0', '-lgi')).toBe(fx('a100-40gb.lgi-7x1g.derived.txt'));
    expect(a.ok('mig', '-i', '0', '-lci')).toBe(fx('a100-40gb.lci-7x1g.derived.txt'));
    expect(a.ok('mig', '-i', '0', '-lgip')).toBe(fx('a100-40gb.lgip-7x1g.derived.txt'));
    const v = box('gpus=h100-nvl\nmig_mode=enabled\n');
    expect(v.ok('mig', '-i', '0', '-lgip')).toBe(fx('h100-nvl-94gb.lgip.derived.txt'));
    expect(v.ok('mig', '-i', '0', '-lgipp')).toBe(fx('h100-nvl-94gb.lgipp.derived.txt'));
    expect(v.ok('mig', '-i', '0', '-cgi', '9,14,19,19', '-C')).toBe(fx('h100-nvl-94gb.cgi-3-2-1-1-C.derived.txt'));
    expect(v.ok('mig', '-i', '0', '-lgi')).toBe(fx('h100-nvl-94gb.lgi-3-2-1-1.derived.txt'));
    expect(v.ok('mig', '-i', '0', '-lci')).toBe(fx('h100-nvl-94gb.lci-3-2-1-1.derived.txt'));
    const q = box('gpus=a100-40gb,h100-80gb,a2\n');
    expect(q.ok('--query-gpu=index,pci.bus_id,name,mig.mode.current,mig.mode.pending,memory.total', '--format=csv,noheader')).toBe(
      fx('query-gpu-agent.derived.txt'),
    );
  });

  it('regenerates query-gpu-inventory.derived.txt (compute_cap, issue 18)', () => {
    const q = box('gpus=a100-40gb,h100-80gb,a2\n');
    expect(q.ok('--query-gpu=name,memory.total,compute_cap', '--format=csv,noheader,nounits')).toBe(fx('query-gpu-inventory.derived.txt'));
  });
});

describe('state machine', () => {
  const mode = (b: ReturnType<typeof box>) => b.ok('--query-gpu=mig.mode.current,mig.mode.pending', '--format=csv,noheader').trim();
  it('enable → pending until a reset; reset by bus id makes it current', () => {
    const b = box('gpus=a100-40gb\nenable=pending-in-use\n');
    expect(mode(b)).toBe('Disabled, Disabled');
    b.ok('-i', '0', '-mig', '1');
    expect(mode(b)).toBe('Disabled, Enabled');
    expect(b.run('mig', '-lgi')).toMatchObject({ out: 'No MIG-enabled devices found.\n', code: 6 });
    expect(b.ok('-r', '-i', '00000000:04:00.0')).toBe('GPU 00000000:04:00.0 was successfully reset.\nAll done.\n');
    expect(mode(b)).toBe('Enabled, Enabled');
  });
  it('reset not supported: only a reboot applies the mode, unless reboot_applies_mode=0 (passthrough)', () => {
    const b = box('gpus=a100-40gb\nenable=pending-not-supported\nreset=unsupported\n');
    b.ok('-i', '0', '-mig', '1');
    expect(b.run('-r', '-i', '00000000:04:00.0').code).toBe(3);
    expect(mode(b)).toBe('Disabled, Enabled');
    b.ok('--test-double-reboot');
    expect(mode(b)).toBe('Enabled, Enabled');
    const p = box('gpus=a100-40gb\nenable=pending-not-supported\nreset=unsupported\nreboot_applies_mode=0\n');
    p.ok('-i', '0', '-mig', '1');
    p.ok('--test-double-reboot');
    expect(mode(p)).toBe('Disabled, Enabled');
  });
  it('reset in use', () => {
    const r = box('gpus=a100-40gb\nreset=in-use\n').run('-r', '-i', '0');
    expect(r.code).toBe(255);
    expect(r.out).toMatch(/^GPU 00000000:04:00\.0 is currently in use by another process\./);
  });
  it('a reboot clears instances but keeps the mode; Free/Total follow the instances', () => {
    const b = box('gpus=a100-40gb\nmig_mode=enabled\n');
    b.ok('mig', '-cgi', '3g.20gb,2g.10gb', '-C');
    const lgip = b.ok('mig', '-lgip');
    expect(lgip).toMatch(/MIG 3g\.20gb\s+9\s+0\/2 /); // 3g at 4:4, 2g at 0:2 blocks the other 3g slot
    expect(lgip).toMatch(/MIG 2g\.10gb\s+14\s+1\/3 /);
    expect(lgip).toMatch(/MIG 1g\.5gb\s+19\s+2\/7 /);
    expect(lgip).toMatch(/MIG 7g\.40gb\s+0\s+0\/1 /);
    b.ok('--test-double-reboot');
    expect(b.run('mig', '-lgi')).toMatchObject({ out: 'No GPU instances found: Not Found\n', code: 6 });
    expect(mode(b)).toBe('Enabled, Enabled');
    expect(b.ok('mig', '-lgip')).toBe(fx('a100-40gb.lgip.txt'));
  });
  it('GPU instances with compute instances cannot be destroyed; too many instances are refused', () => {
    const b = box('gpus=h100-80gb\nmig_mode=enabled\n');
    b.ok('mig', '-cgi', '7g.80gb', '-C');
    expect(b.run('mig', '-dgi').out).toBe(
      'Unable to destroy GPU instance ID  0 from GPU  0: In use by another client\nFailed to destroy GPU instances: In use by another client\n',
    );
    expect(b.run('mig', '-cgi', '19').out).toBe(
      'Unable to create a GPU instance on GPU  0 using profile 19: Insufficient Resources\nFailed to create GPU instances: Insufficient Resources\n',
    );
    expect(b.run('mig', '-cgi', '1g.5gb').out).toMatch(/using profile 1g\.5gb: Invalid Argument/);
  });
  it('notices a real reboot of its machine through the kernel boot_id', () => {
    const b = box('gpus=a100-40gb\nenable=pending-not-supported\nreset=unsupported\n');
    b.ok('-i', '0', '-mig', '1');
    expect(mode(b)).toBe('Disabled, Enabled');
    writeFileSync(path.join(b.state, 'boot_id'), 'an-earlier-boot\n');
    expect(mode(b)).toBe('Enabled, Enabled');
    b.ok('mig', '-cgi', '19', '-C');
    expect(b.run('mig', '-lgi').code).toBe(0); // same boot: instances stay
    writeFileSync(path.join(b.state, 'boot_id'), 'another-boot\n');
    expect(b.run('mig', '-lgi')).toMatchObject({ out: 'No GPU instances found: Not Found\n', code: 6 });
  });
  it('cgi_lies=1 prints success and creates nothing (mig-parted#18)', () => {
    const b = box('gpus=a100-40gb\nmig_mode=enabled\ncgi_lies=1\n');
    expect(b.ok('mig', '-cgi', '19', '-C')).toMatch(/^Successfully created GPU instance ID 13/);
    expect(b.run('mig', '-lgi').code).toBe(6);
  });
  it('MIG off: profiles listed by default, not with lgip_when_disabled=none; A2 never', () => {
    expect(box('gpus=h100-80gb\n').ok('mig', '-lgip')).toBe(fx('h100-80gb.lgip.txt'));
    expect(box('gpus=h100-80gb\nlgip_when_disabled=none\n').run('mig', '-lgip')).toMatchObject({ out: 'No MIG-enabled devices found.\n', code: 6 });
    expect(box('gpus=a2\n').run('mig', '-lgip')).toMatchObject({ out: 'No MIG-enabled devices found.\n', code: 6 });
  });
  it('logs every call; unknown arguments are refused loudly', () => {
    const b = box('gpus=a100-40gb\n');
    const r = b.run('--frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nvidia-smi test double: arguments not simulated: --frobnicate/);
    expect(b.calls()).toEqual(['--frobnicate']);
  });
  it('finds its state dir from a .conf beside the executable when the env var is not passed', () => {
    const dir = path.join(root, 'conf-bin');
    const state = path.join(root, 'conf-state');
    mkdirSync(dir);
    mkdirSync(state);
    writeFileSync(path.join(state, 'config'), 'gpus=h100-nvl\n');
    writeFileSync(path.join(dir, 'nvidia-smi-test-double.conf'), `state_dir=${state}\n`);
    writeFileSync(path.join(dir, 'nvidia-smi'), readFileSync(DOUBLE), { mode: 0o755 });
    const r = spawnSync(path.join(dir, 'nvidia-smi'), ['-L'], { env: { PATH: bin }, encoding: 'utf8' });
    expect(r.stdout).toBe('GPU 0: NVIDIA H100 NVL (UUID: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)\n');
  });
});
