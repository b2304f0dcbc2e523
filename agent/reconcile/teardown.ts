import type { Logger } from 'pino';
import { removeOwnedFiles } from '../k0s/owned-files.ts';
import { teardownK0s } from '../k0s/teardown.ts';
import { StateStore } from '../state/store.ts';
import type { Host } from '../host/host.ts';
import { desiredFromConfig, teardownStorage } from '../storage/index.ts';
import { DEFAULT_IFACE, wireguardDown } from '../wireguard/index.ts';

export interface TeardownOptions {
  removeVolumeGroup: boolean;
  stateDir: string;
  /** INITD_WIREGUARD_INTERFACE (default castai-wg): deleted only when it is proven ours. */
  wireguardInterface?: string;
}

export interface TeardownStep {
  what: string;
  ok: boolean;
  detail?: string;
}

/**
 * Tears the node down, in order: stop k0sworker, `k0s reset` (after unmounting
 * everything below /var/lib/k0s), WireGuard down, storage teardown (unmount,
 * remove the mount unit, deactivate — or remove — our volume group only). WireGuard: only an
 * interface the agent created (docs/decisions/0150); another of that name is left alone.
 * Nothing is ever deleted through a mount. Each part runs even when an earlier
 * one reported a problem; the result lists every part.
 */
export async function teardownNode(host: Host, log: Logger, o: TeardownOptions): Promise<TeardownStep[]> {
  const out: TeardownStep[] = [];
  const part = async (what: string, fn: () => Promise<TeardownStep[] | string>) => {
    try {
      const r = await fn();
      if (typeof r === 'string') out.push({ what, ok: true, detail: r });
      else out.push(...r);
    } catch (e) {
      out.push({ what, ok: false, detail: e instanceof Error ? e.message : String(e) });
    }
    for (const s of out.slice(-1))
      log[s.ok ? 'info' : 'error']({ teardown: s.what, detail: s.detail }, `teardown: ${s.what}: ${s.ok ? 'ok' : 'FAILED'}${s.detail ? ` (${s.detail})` : ''}`);
  };
  await part('k0s', () => teardownK0s(host));
  // The k0s step's files outside k0s's tree: kubelet prerequisites, containerd registries.
  await part('k0s host files', () => removeOwnedFiles(host, new StateStore(host, o.stateDir)));
  await part('wireguard', async () => {
    const iface = o.wireguardInterface ?? DEFAULT_IFACE;
    const r = await wireguardDown(host, { iface, stateDir: o.stateDir }, log);
    const said = [
      ...r.removed.map((i) => `${i} removed`),
      ...r.leftAlone.map((x) => `${x.iface} left alone: not created by castai-edge-initd (${x.why})`),
    ];
    return said.length ? said.join('; ') : `${iface} was not present`;
  });
  await part('storage', async () => {
    const r = await teardownStorage(host, desiredFromConfig({ stateDir: o.stateDir }), { removeVolumeGroup: o.removeVolumeGroup }, (l) => log.info(l));
    return r.ran.length ? `ran: ${r.ran.join('; ')}` : `nothing of ours to tear down${r.plan.notes.length ? ` (${r.plan.notes.join('; ')})` : ''}`;
  });
  return out;
}
