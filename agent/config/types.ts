/**
 * The validated configuration of the agent. Produced only by `loadConfig`
 * (agent/config/load.ts); every field is already checked, so consumers never
 * re-validate. See docs/decisions/0010-config-precedence.md for where values
 * come from, and the README's configuration reference for each variable.
 */

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
export const TAINT_EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

export interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
}

/** INITD_GPU_CONFIG, as validated (parseGpuConfig), sent at registration (gpuConfig) and planned by the GPU step. */
export interface GpuConfig {
  mig?: { partitionSizes: string[] };
}

export interface ProxyConfig {
  httpProxy?: string;
  httpsProxy?: string;
  /** Comma list, whitespace removed (e.g. `localhost,127.0.0.1,.svc,10.0.0.0/8`). */
  noProxy?: string;
}

export type ConfigSource = 'environment' | 'env-file' | 'default';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export interface AgentConfig {
  /** API_URL, default https://api.cast.ai; https only, no trailing slash. */
  apiUrl: string;
  orgId?: string; // ORG_ID
  clusterId?: string; // CLUSTER_ID
  edgeLocationId?: string; // EDGE_LOCATION_ID
  /** INITD_BOOTSTRAP_TOKEN (secret; registered with registerSecret() by loadConfig). */
  bootstrapToken?: string;
  /** INITD_CA_FILE: extra CA bundle (PEM) for TLS to the API. Checked to exist and hold a certificate. */
  caFile?: string;
  /** INITD_STATE_DIR, default /var/lib/castai-edge-initd; absolute, normalized. */
  stateDir: string;
  /** INITD_KUBERNETES_LABELS. */
  labels: Record<string, string>;
  /** INITD_KUBERNETES_TAINTS. */
  taints: Taint[];
  /** INITD_GPU_CONFIG (undefined when unset/empty). */
  gpu?: GpuConfig;
  /** HTTP_PROXY / HTTPS_PROXY / NO_PROXY (upper or lower case). */
  proxy: ProxyConfig;
  /** NVME_DEVICES (undefined = auto-discover all non-root NVMe disks). */
  nvmeDevices?: string[];
  /** INITD_WIREGUARD_INTERFACE, default castai-wg: the interface the agent creates and owns. */
  wireguardInterface: string;
  /** INITD_LOG_LEVEL, default info. */
  logLevel: string;
  /** INITD_REGISTRIES_FILE: a k3s-format registries.yaml (agent/k0s/registries.ts), and what it says. */
  registriesFile?: string;
  registries?: import('../k0s/registries.ts').Registries;
  /** INITD_LOG_FORMAT, default auto (agent/log/journal.ts). */
  logFormat?: import('../log/journal.ts').LogFormatChoice;
  /** The extra env file actually read (--env-file or INITD_EXTRA_ENV_FILE). */
  envFile?: string;
  /** Where each set (or defaulted) variable came from, keyed by canonical (upper-case) name. */
  sources: Record<string, ConfigSource>;
  /** Non-fatal findings, e.g. unknown INITD_* variables with a "did you mean". */
  warnings: string[];
}
