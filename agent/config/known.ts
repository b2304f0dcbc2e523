/**
 * Every environment variable the agent reads, in one table. It drives the
 * "unknown INITD_* variable" warnings, the `config` output and the README's
 * configuration reference. A variable another part of the agent reads must be
 * listed here, or the operator gets a spurious "unknown variable" warning.
 */
import { DEFAULT_STATE_DIR } from '../state/files.ts';

export interface KnownVariable {
  name: string;
  /** Lower-case spelling accepted too (proxies only). */
  lowerCase?: boolean;
  secret?: boolean;
  format: string;
  default?: string;
  example: string;
  description: string;
}

export const DEFAULT_API_URL = 'https://api.cast.ai';
export const DEFAULT_LOG_LEVEL = 'info';
/**
 * The WireGuard interface the agent creates and owns. Not `wg0`: that is the name most hosts give
 * their own VPN (`wg-quick@wg0`). At most 15 bytes (Linux IFNAMSIZ - 1). docs/decisions/0150.
 */
export const DEFAULT_WIREGUARD_INTERFACE = 'castai-wg';

export const KNOWN_VARIABLES: readonly KnownVariable[] = [
  {
    name: 'API_URL',
    format: 'https URL (no credentials, query or fragment)',
    default: DEFAULT_API_URL,
    example: 'https://api.cast.ai',
    description: 'Base URL of the control-plane API',
  },
  { name: 'ORG_ID', format: 'ID: letters, digits, `.`, `_`, `-`; ≤128 chars', example: '3f1c2b9e-6a41-4d2f-9a51-0c7d5e8f1a22', description: 'Organization ID' },
  { name: 'CLUSTER_ID', format: 'ID (as ORG_ID)', example: '8a0b7c6d-1e2f-4a3b-9c8d-7e6f5a4b3c2d', description: 'Cluster ID' },
  { name: 'EDGE_LOCATION_ID', format: 'ID (as ORG_ID)', example: 'c0ffee00-0000-4000-8000-000000000001', description: 'Edge location ID' },
  {
    name: 'INITD_BOOTSTRAP_TOKEN',
    secret: true,
    format: 'opaque token, visible ASCII, no spaces',
    example: 'FAKE-bootstrap-token-0000',
    description: 'Bootstrap token baked into the install script (secret; masked everywhere)',
  },
  {
    name: 'INITD_CA_FILE',
    format: 'path of a PEM file with at least one certificate',
    example: '/etc/ssl/certs/corp-ca.pem',
    description: 'Extra CA bundle for TLS to the API, added to the system CA store (the bundle curl uses)',
  },
  {
    name: 'INITD_STATE_DIR',
    format: 'absolute path',
    default: DEFAULT_STATE_DIR,
    example: DEFAULT_STATE_DIR,
    description: 'Where the agent keeps its state',
  },
  {
    name: 'INITD_KUBERNETES_LABELS',
    format: '`key=value,key2=value2` (Kubernetes label rules)',
    example: 'env=prod,example.com/rack=r12',
    description: 'Node labels set by the kubelet at registration',
  },
  {
    name: 'INITD_KUBERNETES_TAINTS',
    format: '`key=value:Effect` or `key:Effect`, comma-separated',
    example: 'dedicated=gpu:NoSchedule,spot:NoExecute',
    description: 'Node taints set at registration',
  },
  {
    name: 'INITD_GPU_CONFIG',
    format: 'JSON `{"mig":{"partitionSizes":["<n>g.<m>gb[+me]",...]}}`',
    example: '{"mig":{"partitionSizes":["1g.5gb"]}}',
    description: 'NVIDIA MIG layout applied to each MIG-capable GPU',
  },
  {
    name: 'HTTP_PROXY',
    lowerCase: true,
    format: 'http(s)://[user:pass@]host[:port]',
    example: 'http://proxy.example.internal:3128',
    description: 'Proxy for plain-HTTP traffic (agent, k0s, containerd)',
  },
  {
    name: 'HTTPS_PROXY',
    lowerCase: true,
    format: 'http(s)://[user:pass@]host[:port]',
    example: 'http://proxy.example.internal:3128',
    description: 'Proxy for HTTPS traffic (agent, k0s, containerd)',
  },
  {
    name: 'NO_PROXY',
    lowerCase: true,
    format: 'comma list of hosts, .domains, IPs, CIDRs, host:port or `*`',
    example: 'localhost,127.0.0.1,.svc,.cluster.local,10.0.0.0/8',
    description: 'Destinations reached without the proxy',
  },
  {
    name: 'NVME_DEVICES',
    format: 'space-separated whole-disk paths under /dev/',
    example: '/dev/nvme0n1 /dev/nvme1n1',
    description: 'NVMe disks to stripe for /var/lib/k0s (unset: every provably empty, non-root NVMe disk)',
  },
  {
    name: 'INITD_REGISTRIES_FILE',
    format: 'absolute path of a registries.yaml in k3s format (mirrors, configs: auth, tls); root-owned, 0600 when it holds credentials',
    example: '/etc/castai-edge-initd/registries.yaml',
    description: 'Private registries and mirrors for k0s containerd (hosts.toml + a k0s containerd drop-in)',
  },
  { name: 'INITD_LOG_LEVEL', format: 'trace, debug, info, warn or error', default: DEFAULT_LOG_LEVEL, example: 'debug', description: 'Log level' },
  {
    name: 'INITD_WIREGUARD_INTERFACE',
    format: 'Linux interface name: 1-15 characters from A-Z a-z 0-9 `_` `.` `-`, not starting with `-`',
    default: DEFAULT_WIREGUARD_INTERFACE,
    example: 'edge-tun0',
    description: 'The WireGuard interface the agent creates and owns; an existing interface of that name it did not create is refused, never changed',
  },
  {
    name: 'INITD_LOG_FORMAT',
    format: 'auto, json or text',
    default: 'auto',
    example: 'json',
    description:
      'Log lines: auto = readable with a syslog priority in the journal (journalctl -p works), readable on a terminal, JSON elsewhere; json = pino JSON (after the priority in the journal)',
  },
  {
    name: 'INITD_EXTRA_ENV_FILE',
    format: 'path of a dotenv file',
    example: '/etc/castai-edge-initd/extra.env',
    description: 'Extra env file read after the environment; its values win (`--env-file` overrides this)',
  },
];

export const KNOWN_NAMES: readonly string[] = KNOWN_VARIABLES.map((v) => v.name);
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(KNOWN_VARIABLES.filter((v) => v.secret).map((v) => v.name));

/**
 * INITD_* names used by the installer and other parts of the agent that are
 * not part of AgentConfig but are legitimate (no "unknown variable" warning).
 */
export const OTHER_KNOWN_INITD: readonly string[] = [
  'INITD_INSTALL_WAIT_SECONDS', // installer only
];

/** All names accepted without a warning (both cases for proxies). */
export function acceptedNames(): Set<string> {
  const s = new Set<string>([...KNOWN_NAMES, ...OTHER_KNOWN_INITD]);
  for (const v of KNOWN_VARIABLES) if (v.lowerCase) s.add(v.name.toLowerCase());
  return s;
}
