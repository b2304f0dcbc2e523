/**
 * Which `migStrategy` of NVIDIA's k8s-device-plugin (and gpu-feature-discovery) fits the MIG layout
 * this agent creates. NVIDIA's "MIG Support in Kubernetes" and the plugin's README:
 *   - `single`: every GPU on the node is MIG-enabled and all its MIG devices are of one type; they
 *     are advertised as `nvidia.com/gpu` (with `nvidia.com/gpu.product` naming the profile);
 *   - `mixed`: MIG devices of several types, or MIG-enabled GPUs beside non-MIG GPUs; each type is
 *     its own resource, `nvidia.com/mig-<profile>` (e.g. `nvidia.com/mig-1g.5gb`).
 * `partitionSizes` applies to every MIG-capable GPU of the node (docs/decisions/0060), so the layout
 * is uniform exactly when all entries name one profile. See docs/decisions/0186-mig-strategy.md.
 */
export type MigStrategy = 'single' | 'mixed';

export function devicePluginMigStrategy(partitionSizes: readonly string[], opts: { nonMigGpus?: number } = {}): MigStrategy {
  const profiles = new Set(partitionSizes.map((s) => s.trim()));
  return profiles.size === 1 && !opts.nonMigGpus ? 'single' : 'mixed';
}

/** The plan line an operator reads next to the MIG layout. */
export function migStrategyLine(partitionSizes: readonly string[], nonMigGpus: number): string {
  const s = devicePluginMigStrategy(partitionSizes, { nonMigGpus });
  const why =
    s === 'single'
      ? 'one MIG profile on every GPU: pods request nvidia.com/gpu'
      : `${nonMigGpus ? 'GPUs without MIG beside MIG devices' : 'several MIG profiles'}: pods request nvidia.com/mig-<profile>`;
  return `NVIDIA device plugin: migStrategy=${s} (${why})`;
}
