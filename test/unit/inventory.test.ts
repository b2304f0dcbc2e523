import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { blockDisks, diskKind, disksFromSysBlock } from '../../agent/inventory/blockdev.ts';
import { aiosDocument, collectInventory, gpuFeatures, parseGpuCsv, toInventory } from '../../agent/inventory/inventory.ts';

const FIX = path.resolve(import.meta.dirname, '../fixtures');
const GiB = 1024 ** 3;

/** A FakeHost whose /sys/block is a capture from scripts/capture-sys-block.sh. */
function hostFromSysBlock(file: string): FakeHost {
  const host = new FakeHost();
  for (const line of readFileSync(path.join(FIX, 'sys-block', file), 'utf8').split('\n')) {
    const m = /^([^#/][^/]*)\/([a-z]+)=(.*)$/.exec(line);
    if (m) host.setFile(`/sys/block/${m[1]}/${m[2]}`, `${m[3]}\n`);
  }
  return host;
}

describe('inventory', () => {
  it('converts bytes to MB and counts only physical NICs; a NIC without a reported speed adds 0 (unknown, not invented)', () => {
    const inv = toInventory(
      {
        cpus: 32,
        memoryBytes: 128 * GiB,
        swapBytes: 8 * GiB,
        nics: [
          { iface: 'lo', speedMbps: null, virtual: false, internal: true },
          { iface: 'eth0', speedMbps: 10000, virtual: false, internal: false },
          { iface: 'eth1', speedMbps: 10000, virtual: false, internal: false },
          { iface: 'ens5', speedMbps: null, virtual: false, internal: false },
          { iface: 'cali123', speedMbps: 10000, virtual: true, internal: false },
        ],
      },
      [
        { name: 'nvme0n1', type: 'nvme', sizeBytes: 512 * GiB },
        { name: 'nvme1n1', type: 'nvme', sizeBytes: 512 * GiB },
      ],
      [
        { modelName: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960, computeCap: '8.0' },
        { modelName: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960, computeCap: '8.0' },
      ],
    );
    expect(inv).toEqual({
      vcpus: { count: 32 },
      memory: 131072,
      swap: 8192,
      storage: { disks: 2, size: 1048576 },
      network: { interfaces: 3, txBandwidth: 20000, rxBandwidth: 20000 },
      gpus: {
        count: 2,
        memory: 81920,
        gpus: [
          { modelName: 'NVIDIA A100-SXM4-40GB', memory: 40960 },
          { modelName: 'NVIDIA A100-SXM4-40GB', memory: 40960 },
        ],
        features: ['compute-capability-8.0'],
        modelNames: ['NVIDIA A100-SXM4-40GB'],
      },
    });
  });

  it('--format aios is one flat AIOS nodeData element: { id, gpus, vcpus, memory, swap, storage, network }', () => {
    const inv = toInventory({ cpus: 2, memoryBytes: 2 * GiB, swapBytes: 0, nics: [] }, [], []);
    const doc = aiosDocument(inv, 'node-7');
    expect(Object.keys(doc).sort()).toEqual(['gpus', 'id', 'memory', 'network', 'storage', 'swap', 'vcpus']);
    expect(doc).toEqual({ id: 'node-7', ...inv });
    expect(doc).not.toHaveProperty('nodeData');
  });

  it('parses nvidia-smi name,memory.total[,compute_cap] CSV and fails loudly on an unknown line', () => {
    expect(parseGpuCsv('NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559 MiB\n')).toEqual([
      { modelName: 'NVIDIA H100 80GB HBM3', memoryMB: 81559 },
      { modelName: 'NVIDIA H100 80GB HBM3', memoryMB: 81559 },
    ]);
    expect(parseGpuCsv('NVIDIA A2, 15356, [N/A]\n')).toEqual([{ modelName: 'NVIDIA A2', memoryMB: 15356 }]);
    expect(() => parseGpuCsv('No devices were found')).toThrow(/unexpected line "No devices were found"/);
  });

  it('gpus.features come from what the GPUs report (the nvidia-smi double, derived fixture): their compute capabilities', () => {
    const gpus = parseGpuCsv(readFileSync(path.join(FIX, 'nvidia-smi/query-gpu-inventory.derived.txt'), 'utf8'));
    expect(gpus.map((g) => g.computeCap)).toEqual(['8.0', '9.0', '8.6']);
    expect(gpuFeatures(gpus)).toEqual(['compute-capability-8.0', 'compute-capability-8.6', 'compute-capability-9.0']);
    expect(gpuFeatures([{ modelName: 'old driver', memoryMB: 1 }])).toEqual([]);
  });

  it('asks for compute_cap, and falls back to name,memory.total on a driver that does not know the field', async () => {
    const host = new FakeHost();
    host.onExec(
      (c, a) => c === 'nvidia-smi' && a[0]!.includes('compute_cap'),
      { exitCode: 2, stdout: '', stderr: 'Field "compute_cap" is not a valid field to query.\n' },
    );
    host.onExec((c, a) => c === 'nvidia-smi' && a[0] === '--query-gpu=name,memory.total', { exitCode: 0, stdout: 'Tesla T4, 15360\n' });
    const inv = await collectInventory(host);
    expect(inv.gpus).toMatchObject({ count: 1, modelNames: ['Tesla T4'], features: [] });
  });

  it('reports no GPUs when nvidia-smi is absent, and runs only read-only commands', async () => {
    const host = new FakeHost();
    const inv = await collectInventory(host);
    expect(inv.gpus.count).toBe(0);
    expect(inv.vcpus.count).toBe(4);
    expect(host.mutations(new Set(['nvidia-smi']))).toEqual([]);
  });
});

describe('disks from the kernel block devices (/sys/block), real captures', () => {
  it('the CI machine kind: its one 256 GiB virtio disk counts; loop and zram do not', async () => {
    const host = hostFromSysBlock('ci-machine-virtio.txt');
    expect(await blockDisks(host)).toEqual([{ name: 'vda', type: 'virtio', sizeBytes: 256 * GiB }]);
    const inv = await collectInventory(host);
    expect(inv.storage).toEqual({ disks: 1, size: 262144 });
    expect(host.execLines().filter((l) => !l.startsWith('nvidia-smi'))).toEqual([]);
  });

  it('the VM lab guest: its virtio root disk and both emulated NVMe disks count; loop devices do not', async () => {
    const host = hostFromSysBlock('vm-lab-virtio-nvme.txt');
    expect(await blockDisks(host)).toEqual([
      { name: 'nvme0n1', type: 'nvme', sizeBytes: 4 * GiB },
      { name: 'nvme1n1', type: 'nvme', sizeBytes: 4 * GiB },
      { name: 'vda', type: 'virtio', sizeBytes: 8 * GiB },
    ]);
    expect((await collectInventory(host)).storage).toEqual({ disks: 3, size: 16384 });
  });

  it('the rule for every kind of name the kernel uses', () => {
    const sizes: Record<string, string> = {
      vda: '41943040', xvda: '16777216', sda: '2097152', sdb: '0', nvme0n1: '7501476528', nvme0c0n1: '7501476528', hda: '1024',
      mmcblk0: '30535680', mmcblk0boot0: '8192', sr0: '2097150', fd0: '2880', loop0: '1024', ram0: '8192', zram0: '1048576',
      'dm-0': '2097152', md0: '4194304', nbd0: '1024', rbd0: '1024', sdc: '62914560',
    };
    const removable: Record<string, string> = { sdc: '1', sr0: '1' };
    const disks = disksFromSysBlock(Object.keys(sizes), (dev, attr) =>
      attr === 'size' ? sizes[dev] : attr === 'removable' ? (removable[dev] ?? '0') : undefined,
    );
    expect(disks.map((d) => `${d.name}:${d.type}`)).toEqual(['hda:ide', 'mmcblk0:mmc', 'nvme0n1:nvme', 'sda:scsi', 'vda:virtio', 'xvda:xen']);
    expect(diskKind('nvme12n3')).toBe('nvme');
    expect(diskKind('dm-3')).toBeUndefined();
  });
});

describe("the node's nodeID: the operator's label, else the machine-id (as register sends it)", () => {
  it('reads the machine-id through the one reader, and refuses a missing one as the register step does', async () => {
    const { nodeId } = await import('../../agent/commands/inventory.ts');
    const { readMachineId } = await import('../../agent/host/machine-id.ts');
    const { MACHINE_ID_FILE } = await import('../../agent/host/paths.ts');
    const ctx = (host: FakeHost) => ({ host, env: {}, json: false, out: () => {}, err: () => {} });
    const h = new FakeHost().setFile(MACHINE_ID_FILE, 'abc123\n');
    expect(await nodeId(ctx(h), {})).toBe('abc123');
    expect(await nodeId(ctx(h), { nodeID: 'n-7' })).toBe('n-7');
    const empty = new FakeHost().setFile(MACHINE_ID_FILE, '\n');
    const fromInventory = await nodeId(ctx(empty), {}).catch((e: Error) => e);
    const fromRegister = await readMachineId(empty).catch((e: Error) => e);
    expect(fromInventory).toEqual(fromRegister);
    expect(fromInventory).toMatchObject({ message: '/etc/machine-id is missing or empty', remediation: expect.stringMatching(/systemd-machine-id-setup/) });
  });
});
