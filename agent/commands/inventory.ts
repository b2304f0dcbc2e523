import { loadConfig } from '../config/load.ts';
import { EXIT } from '../errors.ts';
import { aiosDocument, inventoryReport } from '../inventory/inventory.ts';
import type { CommandContext } from './context.ts';
import { readMachineId } from '../host/machine-id.ts';

/** The node's `nodeID` label: the operator's, else the machine-id (what register sends too). */
export async function nodeId(ctx: CommandContext, labels: Record<string, string>): Promise<string> {
  if (labels.nodeID) return labels.nodeID;
  return readMachineId(ctx.host);
}

export default async function inventory(ctx: CommandContext, opts: { format?: string; json?: boolean }): Promise<number> {
  const format = opts.json ? 'json' : (opts.format ?? 'text');
  if (!['text', 'json', 'aios'].includes(format)) {
    ctx.err(`--format: unknown format ${JSON.stringify(format)}; valid: text, json, aios`);
    return EXIT.CONFIG;
  }
  const cfg = await loadConfig(ctx.host, { env: ctx.env, ...(ctx.envFile ? { envFile: ctx.envFile } : {}) });
  const report = await inventoryReport(ctx.host);
  const inv = report.inventory;
  if (format === 'json') ctx.out(JSON.stringify(inv, null, 2));
  else if (format === 'aios') ctx.out(JSON.stringify(aiosDocument(inv, await nodeId(ctx, cfg.labels)), null, 2));
  else {
    const g = inv.gpus;
    ctx.out(
      [
        `vCPUs       ${inv.vcpus.count}`,
        `memory      ${inv.memory} MB`,
        `swap        ${inv.swap} MB`,
        `disks       ${inv.storage.disks} (${inv.storage.size} MB total)${report.disks.length ? `: ${report.disks.map((d) => `${d.name} ${d.type} ${Math.round(d.sizeBytes / 1024 ** 3)} GiB`).join(', ')}` : ''}`,
        `network     ${inv.network.interfaces} interface(s), ${inv.network.txBandwidth} Mbit/s${report.nicsWithoutSpeed.length ? ` (${report.nicsWithoutSpeed.join(', ')}: no speed reported by the driver, counted as 0)` : ''}`,
        `GPUs        ${g.count ? `${g.count} × ${g.modelNames.join(', ')} (${g.memory} MB total)` : 'none (no nvidia-smi, or no NVIDIA GPU)'}`,
        ...(g.features.length ? [`GPU features ${g.features.join(', ')}`] : []),
      ].join('\n'),
    );
  }
  return EXIT.OK;
}
