import { describe, expect, it } from 'vitest';
import { FakeHost } from '../../agent/host/fake.ts';
import { aiosDocument, collectInventory, parseGpuCsv, toInventory } from '../../agent/inventory/inventory.ts';

describe('inventory', () => {
  it('converts bytes to MB and counts only physical NICs', () => {
    const inv = toInventory(
      {
        cpus: 32,
        memoryBytes: 128 * 1024 ** 3,
        swapBytes: 8 * 1024 ** 3,
        disks: [
          { name: '/dev/nvme0n1', type: 'NVMe', sizeBytes: 512 * 1024 ** 3 },
          { name: '/dev/nvme1n1', type: 'NVMe', sizeBytes: 512 * 1024 ** 3 },
          { name: '/dev/sr0', type: 'SATA', sizeBytes: 0 },
        ],
        nics: [
          { iface: 'lo', speedMbps: null, virtual: false, internal: true },
          { iface: 'eth0', speedMbps: 10000, virtual: false, internal: false },
          { iface: 'eth1', speedMbps: 10000, virtual: false, internal: false },
          { iface: 'cali123', speedMbps: 10000, virtual: true, internal: false },
        ],
      },
      [
        { modelName: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960 },
        { modelName: 'NVIDIA A100-SXM4-40GB', memoryMB: 40960 },
      ],
    );
    expect(inv).toEqual({
      vcpus: { count: 32 },
      memory: 131072,
      swap: 8192,
      storage: { disks: 2, size: 1048576 },
      network: { interfaces: 2, txBandwidth: 20000, rxBandwidth: 20000 },
      gpus: {
        count: 2,
        memory: 81920,
        gpus: [
          { modelName: 'NVIDIA A100-SXM4-40GB', memory: 40960 },
          { modelName: 'NVIDIA A100-SXM4-40GB', memory: 40960 },
        ],
        features: [],
        modelNames: ['NVIDIA A100-SXM4-40GB'],
      },
    });
    expect(aiosDocument(inv, 'node-7').id).toBe('node-7');
  });

  it('parses nvidia-smi name,memory.total CSV and fails loudly on an unknown line', () => {
    expect(parseGpuCsv('NVIDIA H100 80GB HBM3, 81559\nNVIDIA H100 80GB HBM3, 81559 MiB\n')).toEqual([
      { modelName: 'NVIDIA H100 80GB HBM3', memoryMB: 81559 },
      { modelName: 'NVIDIA H100 80GB HBM3', memoryMB: 81559 },
    ]);
    expect(() => parseGpuCsv('No devices were found')).toThrow(/unexpected line "No devices were found"/);
  });

  it('reports no GPUs when nvidia-smi is absent, and runs only read-only commands', async () => {
    const host = new FakeHost();
    const inv = await collectInventory(host);
    expect(inv.gpus.count).toBe(0);
    expect(inv.vcpus.count).toBe(4);
    expect(host.mutations(new Set(['nvidia-smi']))).toEqual([]);
  });
});
