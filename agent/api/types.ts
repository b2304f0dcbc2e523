/**
 * Types of the control-plane contract (docs/control-plane-api.md)
 * and strict validators for what the control plane sends back. A malformed
 * response fails with an error naming the field (`wireguard.peers[0].publicKey`)
 * instead of a TypeError three steps later.
 */
import { isIP } from 'node:net';
import { TAINT_EFFECTS, type GpuConfig, type Taint } from '../config/types.ts';
import { ID_RE, labelErrors, nodeNameErrors, providerIdErrors, taintErrors } from '../config/validate.ts';
import { registerSecret } from '../log/secrets.ts';

export type Arch = 'amd64' | 'arm64';
export type EdgePhase = 'CREATING' | 'READY' | 'DELETING' | 'DELETED';
export type ReportPhase = 'JOINING' | 'READY' | 'DEGRADED' | 'TEARING_DOWN' | 'DELETED';

/** Sizes in MB (the AIOS node document's units). */
export interface Inventory {
  vcpus: { count: number };
  memory: number;
  swap: number;
  storage: { disks: number; size: number };
  network: { interfaces: number; txBandwidth: number; rxBandwidth: number };
  gpus: { count: number; memory: number; gpus: Array<{ modelName: string; memory: number }>; features: string[]; modelNames: string[] };
}

export interface RegisterRequest {
  machineId: string;
  hostname: string;
  arch: Arch;
  kernel: string;
  agentVersion: string;
  wireguardPublicKey: string;
  kubernetesLabels: Record<string, string>;
  kubernetesTaints: Taint[];
  gpuConfig?: GpuConfig;
  inventory: Inventory;
}

export interface EdgeRef {
  id: string;
  name: string;
  phase: EdgePhase;
}

export interface NodeSpec {
  name: string;
  providerID: string;
  labels: Record<string, string>;
  taints: Taint[];
}

export interface WireguardPeer {
  publicKey: string;
  endpoint: string;
  allowedIPs: string[];
  persistentKeepalive?: number;
}

export interface WireguardSpec {
  address: string;
  listenPort: number;
  mtu: number;
  peers: WireguardPeer[];
}

export interface Artifact {
  url: string;
  sha256: string;
}

export interface K0sSpec {
  version: string;
  artifacts: Partial<Record<Arch, Artifact>>;
  /** Secret: base64(gzip(kubeconfig)). Registered with registerSecret on receipt. */
  joinToken: string;
  apiEndpoint: string;
  konnectivityEndpoint: string;
}

export interface LogSink {
  url: string;
  /** Secret, scoped to log ingestion for this node only. */
  apiKey: string;
  /** RFC 3339; uploads stop at this time. */
  expiresAt: string;
}

/** GET edge: the register response minus edgeToken and logs. */
export interface EdgeState {
  edge: EdgeRef;
  node: NodeSpec;
  wireguard: WireguardSpec;
  k0s: K0sSpec;
}

export interface RegisterResponse extends EdgeState {
  /** Secret per-edge token (store 0600), used as `Authorization: Token …`. */
  edgeToken: string;
  logs: LogSink;
}

export interface StatusStep {
  name: string;
  state: 'done' | 'running' | 'failed' | 'skipped';
  message?: string;
  durationMs?: number;
}

export interface StatusReport {
  phase: ReportPhase;
  agentVersion: string;
  bootId: string;
  steps: StatusStep[];
  wireguard?: { latestHandshakeSeconds: number | null; rxBytes: number; txBytes: number };
  /** nodeReady/nodeReadyMessage: our extension of the contract (docs/decisions/0141-node-ready.md). */
  k0s?: { unitActive: boolean; version?: string; nodeReady?: 'True' | 'False' | 'Unknown' | 'NotFound' | 'Unread'; nodeReadyMessage?: string };
}

export interface LogEvent {
  level: string;
  /** RFC 3339 */
  time: string;
  message: string;
}

// ---------------------------------------------------------------------------
// validation

/** A response field that does not match the contract. */
export class ResponseShapeError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`field ${field} ${message}`);
    this.name = 'ResponseShapeError';
    this.field = field;
  }
}

const SECRET_FIELDS = new Set(['edgeToken', 'k0s.joinToken', 'logs.apiKey']);

function show(field: string, v: unknown): string {
  if (SECRET_FIELDS.has(field)) return '(secret, not shown)';
  if (v === undefined) return 'nothing (missing)';
  const s = JSON.stringify(v) ?? typeof v; // undefined only for what JSON cannot hold (a function, a symbol)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ResponseShapeError(field, `must be an object, got ${show(field, v)}`);
  return v as Record<string, unknown>;
}

function str(v: unknown, field: string, re?: RegExp, what?: string): string {
  if (typeof v !== 'string' || v === '') throw new ResponseShapeError(field, `must be a non-empty string, got ${show(field, v)}`);
  if (re && !re.test(v)) throw new ResponseShapeError(field, `must be ${what ?? `like ${re}`}, got ${show(field, v)}`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ResponseShapeError(field, `must be an integer ${min}..${max}, got ${show(field, v)}`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ResponseShapeError(field, `must be one of ${allowed.join(', ')}, got ${show(field, v)}`);
  }
  return v as T;
}

function strMap(v: unknown, field: string): Record<string, string> {
  const o = obj(v, field);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') throw new ResponseShapeError(`${field}.${k}`, `must be a string, got ${show(field, x)}`);
  return o as Record<string, string>;
}

function arr(v: unknown, field: string, minLen = 0): unknown[] {
  if (!Array.isArray(v)) throw new ResponseShapeError(field, `must be an array, got ${show(field, v)}`);
  if (v.length < minLen) throw new ResponseShapeError(field, `must have at least ${minLen} element(s)`);
  return v;
}

function httpsUrl(v: unknown, field: string): string {
  const s = str(v, field);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ResponseShapeError(field, `must be a URL, got ${show(field, s)}`);
  }
  if (u.protocol !== 'https:') throw new ResponseShapeError(field, `must be an https:// URL (TLS is always used), got ${show(field, s)}`);
  return s;
}

function cidr(v: unknown, field: string): string {
  const s = str(v, field);
  const m = /^(.+)\/(\d{1,3})$/.exec(s);
  const fam = m ? isIP(m[1] as string) : 0;
  if (!m || fam === 0 || Number(m[2]) > (fam === 4 ? 32 : 128)) throw new ResponseShapeError(field, `must be a CIDR like 100.96.0.7/32, got ${show(field, s)}`);
  return s;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const SHA256 = /^[0-9a-f]{64}$/;
const EDGE_PHASES: readonly EdgePhase[] = ['CREATING', 'READY', 'DELETING', 'DELETED'];

/**
 * What the control plane says about the Node reaches the kubelet's argv (`k0s install worker
 * --labels= --taints= --kubelet-extra-args=…`) and the state files: it passes the same
 * validators as the operator's INITD_* values (agent/config/validate.ts), never fewer.
 */
function checked(v: string, field: string, errors: string[]): string {
  if (errors.length) throw new ResponseShapeError(field, `is not valid: ${errors.join('; ')}`);
  return v;
}

function taints(v: unknown, field: string): Taint[] {
  return arr(v, field).map((t, i) => {
    const f = `${field}[${i}]`;
    const o = obj(t, f);
    const out: Taint = { key: str(o.key, `${f}.key`), effect: oneOf(o.effect, `${f}.effect`, TAINT_EFFECTS) };
    if (o.value !== undefined && o.value !== '') out.value = str(o.value, `${f}.value`);
    checked(out.key, f, taintErrors(out.key, out.value, out.effect));
    return out;
  });
}

function labels(v: unknown, field: string): Record<string, string> {
  const m = strMap(v, field);
  for (const [k, x] of Object.entries(m)) checked(k, `${field}.${k}`, labelErrors(k, x));
  return m;
}

function edgeState(o: Record<string, unknown>): EdgeState {
  const edge = obj(o.edge, 'edge');
  const node = obj(o.node, 'node');
  const wg = obj(o.wireguard, 'wireguard');
  const k0s = obj(o.k0s, 'k0s');
  const joinToken = str(k0s.joinToken, 'k0s.joinToken');
  registerSecret(joinToken);
  const artifacts = obj(k0s.artifacts, 'k0s.artifacts');
  const arts: Partial<Record<Arch, Artifact>> = {};
  for (const [arch, a] of Object.entries(artifacts)) {
    const f = `k0s.artifacts.${arch}`;
    oneOf(arch, `k0s.artifacts (key ${arch})`, ['amd64', 'arm64'] as const);
    const ao = obj(a, f);
    arts[arch as Arch] = { url: httpsUrl(ao.url, `${f}.url`), sha256: str(ao.sha256, `${f}.sha256`, SHA256, '64 lower-case hex characters') };
  }
  if (Object.keys(arts).length === 0) throw new ResponseShapeError('k0s.artifacts', 'must name at least one architecture');
  return {
    edge: {
      id: str(edge.id, 'edge.id', ID_RE, "an ID (letters, digits, '.', '_', '-')"),
      name: str(edge.name, 'edge.name'),
      phase: oneOf(edge.phase, 'edge.phase', EDGE_PHASES),
    },
    node: {
      name: checked(str(node.name, 'node.name'), 'node.name', nodeNameErrors(String(node.name))),
      providerID: checked(str(node.providerID, 'node.providerID'), 'node.providerID', providerIdErrors(String(node.providerID))),
      labels: labels(node.labels ?? {}, 'node.labels'),
      taints: taints(node.taints ?? [], 'node.taints'),
    },
    wireguard: {
      address: cidr(wg.address, 'wireguard.address'),
      listenPort: int(wg.listenPort, 'wireguard.listenPort', 1, 65535),
      mtu: int(wg.mtu, 'wireguard.mtu', 576, 9000),
      peers: arr(wg.peers, 'wireguard.peers', 1).map((p, i) => {
        const f = `wireguard.peers[${i}]`;
        const po = obj(p, f);
        const peer: WireguardPeer = {
          publicKey: str(po.publicKey, `${f}.publicKey`, WG_KEY, 'a base64 WireGuard public key (44 characters)'),
          endpoint: str(po.endpoint, `${f}.endpoint`, HOST_PORT, 'host:port'),
          allowedIPs: arr(po.allowedIPs, `${f}.allowedIPs`, 1).map((c, j) => cidr(c, `${f}.allowedIPs[${j}]`)),
        };
        if (po.persistentKeepalive !== undefined) peer.persistentKeepalive = int(po.persistentKeepalive, `${f}.persistentKeepalive`, 0, 65535);
        return peer;
      }),
    },
    k0s: {
      version: str(k0s.version, 'k0s.version', /^v\d+\.\d+\.\d+[0-9A-Za-z.+-]{0,64}$/, 'a k0s version like v1.33.1+k0s.0'),
      artifacts: arts,
      joinToken,
      apiEndpoint: httpsUrl(k0s.apiEndpoint, 'k0s.apiEndpoint'),
      konnectivityEndpoint: str(k0s.konnectivityEndpoint, 'k0s.konnectivityEndpoint', HOST_PORT, 'host:port'),
    },
  };
}

/** Validate a register response. Secrets are registered before anything can throw. */
export function parseRegisterResponse(v: unknown): RegisterResponse {
  const o = obj(v, '(body)');
  if (typeof o.edgeToken === 'string') registerSecret(o.edgeToken);
  const logsRaw = o.logs && typeof o.logs === 'object' ? (o.logs as Record<string, unknown>) : undefined;
  if (typeof logsRaw?.apiKey === 'string') registerSecret(logsRaw.apiKey);
  const k0sRaw = o.k0s && typeof o.k0s === 'object' ? (o.k0s as Record<string, unknown>) : undefined;
  if (typeof k0sRaw?.joinToken === 'string') registerSecret(k0sRaw.joinToken);

  const state = edgeState(o);
  const logs = obj(o.logs, 'logs');
  const expiresAt = str(logs.expiresAt, 'logs.expiresAt');
  if (Number.isNaN(Date.parse(expiresAt))) throw new ResponseShapeError('logs.expiresAt', `must be an RFC 3339 time, got ${show('logs.expiresAt', expiresAt)}`);
  return {
    ...state,
    edgeToken: str(o.edgeToken, 'edgeToken'),
    logs: { url: httpsUrl(logs.url, 'logs.url'), apiKey: str(logs.apiKey, 'logs.apiKey'), expiresAt },
  };
}

/** Validate a GET edge response. */
export function parseEdgeState(v: unknown): EdgeState {
  const o = obj(v, '(body)');
  const k0sRaw = o.k0s && typeof o.k0s === 'object' ? (o.k0s as Record<string, unknown>) : undefined;
  if (typeof k0sRaw?.joinToken === 'string') registerSecret(k0sRaw.joinToken);
  return edgeState(o);
}
