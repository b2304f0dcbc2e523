/**
 * Control-plane EMULATOR (test code). A local stand-in for Cast AI's edge API,
 * implementing docs/control-plane-api.md, plus:
 *   - a "kube API" TLS listener (cluster CA) that the k0s TEST DOUBLE joins;
 *   - a TCP listener standing in for konnectivity (8132);
 *   - runtime fault injection (faults.ts) and an inspectable request record.
 *
 * It is not a Kubernetes API server and never runs k0s: "joined" means the k0s
 * test double (test/doubles/k0s-test-double.sh) posted its node to us; the kube
 * listener then serves that Node (GET /api/v1/nodes/<name>, kube-node.ts) to the
 * node's own client certificate, with a Ready condition kept from its heartbeats.
 * See test/control-plane/README.md.
 */
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { DEFAULT_GARBAGE, type Endpoint, type FaultRule, type FaultSpec, NGINX_404_HTML, validateFault } from './faults.ts';
import { encodeJoinToken, newBootstrapToken } from './k0s-token.ts';
import { k8sStatus, nodeNameOfSubject, nodeObject, type ConditionStatus, type ReadyOverride } from './kube-node.ts';
import { generatePki, signKubeletCsr, type EmulatorPki } from './pki.ts';

const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

export interface EmulatorOptions {
  /** Certificates, state file, requests.jsonl live here (created 0700). */
  stateDir: string;
  /** Address to bind every listener to (default 127.0.0.1). Never 0.0.0.0 in tests. */
  listen?: string;
  /** Host name/address put into URLs and certificates (default: `listen`). */
  advertise?: string;
  /** Extra subjectAltNames for the server certificates. */
  sans?: string[];
  /** API port (default 0 = ephemeral). */
  port?: number;
  /** Kube-API (join) port, 8443 in production (default 0 = ephemeral). */
  kubePort?: number;
  /** Konnectivity port, 8132 in production (default 0 = ephemeral). */
  konnectivityPort?: number;
  orgId?: string;
  clusterId?: string;
  locationId?: string;
  locationName?: string;
  region?: string;
  /** The org API key (default random). */
  apiKey?: string;
  /** Where `make build` put the agent (default <repo>/dist). */
  distDir?: string;
  /** Installer template dir holding install.sh (default <repo>/installer). */
  installerDir?: string;
  /** The k0s test double served as the k0s artifact. */
  k0sDouble?: string;
  k0sVersion?: string;
  agentVersion?: string;
  /** Bootstrap token lifetime (default 3600 s). */
  bootstrapTtlSec?: number;
  /** Scoped log key lifetime (default 3600 s). */
  logKeyTtlSec?: number;
  /** WireGuard gateway the edges peer with. */
  wgEndpoint?: string;
  wgPublicKey?: string;
  /** Edge WireGuard addresses are allocated from 100.96.0.<n>/32, n from 2. */
  /** Write a line per request to stderr. */
  verbose?: boolean;
}

export type CredentialType = 'api-key' | 'bootstrap-token' | 'edge-token' | 'log-key' | 'node-certificate' | 'k8s-bootstrap-token' | 'admin' | 'none';

export interface RequestRecord {
  seq: number;
  time: string;
  method: string;
  path: string;
  endpoint: Endpoint | 'admin' | 'unknown';
  status: number; // 0 = connection dropped
  /** Which credential header was used; never its value. */
  credential: CredentialType;
  /** Whether the credential matched a known, unexpired one (undefined when none was sent). */
  credentialValid?: boolean;
  /** First 8 hex of sha256(credential): lets a test tell two tokens apart without storing them. */
  credentialFingerprint?: string;
  fault?: string;
  durationMs: number;
  remote: string;
}

export interface EdgeRecord {
  id: string;
  name: string;
  machineId: string;
  phase: 'CREATING' | 'READY' | 'DELETING' | 'DELETED';
  address: string;
  createdAt: string;
  registrations: number;
  /** The latest register request body (no secrets in it by contract). */
  request: Record<string, unknown>;
  statusReports: Array<{ time: string; body: Record<string, unknown> }>;
  logEvents: Array<Record<string, unknown>>;
  deletedAt?: string;
  /** Registrations refused with 409 MACHINE_ID_CONFLICT (same machine-id, another key, edge alive). */
  conflicts?: Array<{ time: string; wireguardPublicKey: string; hostname: string }>;
}

export interface JoinedNode {
  nodeName: string;
  hostname: string;
  nodeIP?: string;
  providerID?: string;
  edgeId?: string;
  labels: Record<string, string>;
  taints: Array<{ key: string; value?: string; effect: string }>;
  k0sVersion?: string;
  tokenId: string;
  joinedAt: string;
  joins: number;
  lastHeartbeat?: string;
  heartbeats: number;
  /** Admin override of the Ready condition (`node-ready`); see kube-node.ts. */
  readyOverride?: ReadyOverride;
  /** The Ready status last served and since when (the Node's lastTransitionTime). */
  readyTransition?: { status: ConditionStatus; at: string };
  /** When the control plane last patched labels/taints after a re-registration (docs/control-plane-api.md §3). */
  patchedAt?: string;
}

interface EdgeSecrets {
  edgeToken: string;
  joinToken: { token: string; expired: boolean };
  logKeys: Array<{ key: string; expiresAt: number; revoked: boolean }>;
}

export interface EmulatorInfo {
  pid: number;
  apiUrl: string;
  /** API_URL + /omni-provisioner */
  baseUrl: string;
  scriptUrl: string;
  caFile: string;
  clusterCaFile: string;
  apiKey: string;
  adminKey: string;
  orgId: string;
  clusterId: string;
  locationId: string;
  kubeApi: string;
  konnectivity: string;
  k0sVersion: string;
  agentVersion: string;
  wgPublicKey: string;
  stateDir: string;
  requestsFile: string;
}

class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** google.rpc.Status details (e.g. EDGE_NOT_FOUND, MACHINE_ID_CONFLICT). */
  readonly details: Array<Record<string, unknown>>;
  constructor(status: number, message: string, headers: Record<string, string> = {}, details: Array<Record<string, unknown>> = []) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.details = details;
  }
}

/** The API's own "this edge does not exist" (docs/control-plane-api.md §4): code 5 with an EDGE_NOT_FOUND detail naming the edge. */
export function edgeNotFound(edgeId: string): HttpError {
  return new HttpError(404, `edge ${edgeId} not found`, {}, [{ reason: 'EDGE_NOT_FOUND', edgeId }]);
}

/** docs/control-plane-api.md §3: a machine-id whose edge reported within this window keeps its WireGuard key (409 for another). */
export const MACHINE_ID_LIVE_MS = 10 * 60_000;

const GRPC_CODE: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4 };

function fingerprint(v: string): string {
  return createHash('sha256').update(v).digest('hex').slice(0, 8);
}

function secret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * The version the served agent reports: asked from the built binary when there is one for this
 * machine (so AGENT_VERSION in the script matches `castai-edge-initd version` on the node), else
 * what scripts/build.ts would stamp now (package.json version + -g<short sha>).
 */
function defaultAgentVersion(distDir: string): string {
  const bin = path.join(distDir, `castai-edge-initd-linux-${process.arch === 'arm64' ? 'arm64' : 'amd64'}`);
  if (existsSync(bin)) {
    try {
      const out = execFileSync(bin, ['version', '--json'], { stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 }).toString();
      const v = (JSON.parse(out) as { version?: unknown }).version;
      if (typeof v === 'string' && v) return v;
    } catch {
      /* not runnable here: fall back */
    }
  }
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  try {
    const sha = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return `${pkg.version}-g${sha.slice(0, 7)}`;
  } catch {
    return pkg.version;
  }
}

function wgKeyPair(): { publicKey: string } {
  const { publicKey } = generateKeyPairSync('x25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKey: der.subarray(der.length - 32).toString('base64') };
}

const MACHINE_ID_RE = /^[0-9a-f]{32}$/;
const WG_KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Validate the register body like a strict server would; throws HttpError 400 naming the field. */
function checkRegisterBody(b: unknown): Record<string, unknown> {
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'request body must be a JSON object');
  const body = b as Record<string, unknown>;
  const str = (k: string) => {
    if (typeof body[k] !== 'string' || body[k] === '') throw new HttpError(400, `field ${k} is required and must be a non-empty string`);
    return body[k];
  };
  if (!MACHINE_ID_RE.test(str('machineId'))) throw new HttpError(400, 'field machineId must be 32 lower-case hex characters (/etc/machine-id)');
  str('hostname');
  if (!['amd64', 'arm64'].includes(str('arch'))) throw new HttpError(400, 'field arch must be amd64 or arm64');
  str('kernel');
  str('agentVersion');
  if (!WG_KEY_RE.test(str('wireguardPublicKey'))) throw new HttpError(400, 'field wireguardPublicKey must be a base64 x25519 public key (32 bytes)');
  const labels = body.kubernetesLabels ?? {};
  if (typeof labels !== 'object' || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
    throw new HttpError(400, 'field kubernetesLabels must be an object of strings');
  }
  const taints = body.kubernetesTaints ?? [];
  if (!Array.isArray(taints)) throw new HttpError(400, 'field kubernetesTaints must be an array');
  for (const [i, t] of taints.entries()) {
    const tt = t as Record<string, unknown>;
    if (!tt || typeof tt.key !== 'string' || !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(tt.effect as string)) {
      throw new HttpError(400, `field kubernetesTaints[${i}] must be {key, value?, effect: NoSchedule|PreferNoSchedule|NoExecute}`);
    }
  }
  if (!body.inventory || typeof body.inventory !== 'object') throw new HttpError(400, 'field inventory is required and must be an object');
  return body;
}

/** Validate a reportStatus body (docs/control-plane-api.md §5); throws HttpError 400 naming the field. */
function checkStatusReport(b: unknown): Record<string, unknown> {
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'request body must be a JSON object');
  const r = b as Record<string, unknown>;
  const phases = ['JOINING', 'READY', 'DEGRADED', 'TEARING_DOWN', 'DELETED'];
  if (!phases.includes(r.phase as string)) throw new HttpError(400, `field phase must be one of ${phases.join(', ')}`);
  if (typeof r.agentVersion !== 'string' || !r.agentVersion) throw new HttpError(400, 'field agentVersion must be a non-empty string');
  if (typeof r.bootId !== 'string' || !r.bootId) throw new HttpError(400, 'field bootId must be a non-empty string');
  if (!Array.isArray(r.steps)) throw new HttpError(400, 'field steps must be an array');
  for (const [i, st] of r.steps.entries()) {
    const s = st as Record<string, unknown>;
    if (!s || typeof s.name !== 'string' || !['done', 'running', 'failed', 'skipped'].includes(s.state as string)) {
      throw new HttpError(400, `field steps[${i}] must be {name, state: done|running|failed|skipped, message?, durationMs?}`);
    }
    if (s.message !== undefined && typeof s.message !== 'string') throw new HttpError(400, `field steps[${i}].message must be a string`);
    if (s.durationMs !== undefined && (typeof s.durationMs !== 'number' || s.durationMs < 0))
      throw new HttpError(400, `field steps[${i}].durationMs must be a non-negative number`);
  }
  if (r.wireguard !== undefined) {
    const w = r.wireguard as Record<string, unknown>;
    const okNum = (v: unknown) => typeof v === 'number' && v >= 0;
    if (!w || typeof w !== 'object' || !(w.latestHandshakeSeconds === null || okNum(w.latestHandshakeSeconds)) || !okNum(w.rxBytes) || !okNum(w.txBytes)) {
      throw new HttpError(400, 'field wireguard must be {latestHandshakeSeconds: number|null, rxBytes: number, txBytes: number}');
    }
  }
  if (r.k0s !== undefined) {
    const k = r.k0s as Record<string, unknown>;
    if (!k || typeof k !== 'object' || typeof k.unitActive !== 'boolean') throw new HttpError(400, 'field k0s.unitActive must be a boolean');
    // Our extension of the contract (docs/decisions/0141-node-ready.md): the Node's Ready condition.
    if (k.nodeReady !== undefined && !['True', 'False', 'Unknown', 'NotFound', 'Unread'].includes(k.nodeReady as string)) {
      throw new HttpError(400, 'field k0s.nodeReady must be one of True, False, Unknown, NotFound, Unread');
    }
    if (k.nodeReadyMessage !== undefined && (typeof k.nodeReadyMessage !== 'string' || k.nodeReadyMessage.length > 300))
      throw new HttpError(400, 'field k0s.nodeReadyMessage must be a string of at most 300 characters');
  }
  return r;
}

export class ControlPlaneEmulator {
  readonly opts: Required<Pick<EmulatorOptions, 'stateDir' | 'listen'>> & EmulatorOptions;
  readonly orgId: string;
  readonly clusterId: string;
  readonly locationId: string;
  readonly locationName: string;
  readonly region: string;
  readonly apiKey: string;
  readonly adminKey: string;
  readonly k0sVersion: string;
  readonly agentVersion: string;
  readonly wgPublicKey: string;

  readonly requests: RequestRecord[] = [];
  readonly edges = new Map<string, EdgeRecord>();
  readonly nodes = new Map<string, JoinedNode>();
  readonly konnectivityConnections: Array<{ time: string; remote: string }> = [];

  private faults: FaultRule[] = [];
  private nextFaultId = 1;
  private seq = 0;
  private nextAddress = 2;
  private readonly bootstrapTokens = new Map<string, { expiresAt: number; expired: boolean }>();
  private readonly secrets = new Map<string, EdgeSecrets>();
  private pki?: EmulatorPki;
  private api?: HttpsServer;
  private kube?: HttpsServer;
  private konn?: TcpServer;
  private readonly sockets = new Set<Socket>();
  private ports = { api: 0, kube: 0, konn: 0 };

  constructor(opts: EmulatorOptions) {
    this.opts = { listen: '127.0.0.1', ...opts };
    this.orgId = opts.orgId ?? randomUUID();
    this.clusterId = opts.clusterId ?? randomUUID();
    this.locationId = opts.locationId ?? randomUUID();
    this.locationName = opts.locationName ?? 'emulated-location';
    this.region = opts.region ?? 'emulated-region';
    this.apiKey = opts.apiKey ?? secret('emu_apikey');
    this.adminKey = secret('emu_admin');
    this.k0sVersion = opts.k0sVersion ?? 'v1.34.10+k0s.0';
    this.agentVersion = opts.agentVersion ?? defaultAgentVersion(opts.distDir ?? path.join(REPO_ROOT, 'dist'));
    this.wgPublicKey = opts.wgPublicKey ?? wgKeyPair().publicKey;
  }

  // ---------------------------------------------------------------- lifecycle

  get advertise(): string {
    return this.opts.advertise ?? this.opts.listen;
  }

  private hostForUrl(h: string): string {
    return h.includes(':') ? `[${h}]` : h;
  }

  get apiUrl(): string {
    return `https://${this.hostForUrl(this.advertise)}:${this.ports.api}`;
  }

  get baseUrl(): string {
    return `${this.apiUrl}/omni-provisioner`;
  }

  get kubeApi(): string {
    return `https://${this.hostForUrl(this.advertise)}:${this.ports.kube}`;
  }

  get scriptUrl(): string {
    return `${this.baseUrl}/v1beta/organizations/${this.orgId}/clusters/${this.clusterId}/edge-locations/${this.locationId}:edgeInitdScript`;
  }

  get stateFile(): string {
    return path.join(this.opts.stateDir, 'emulator.json');
  }

  get requestsFile(): string {
    return path.join(this.opts.stateDir, 'requests.jsonl');
  }

  info(): EmulatorInfo {
    if (!this.pki) throw new Error('emulator not started');
    return {
      pid: process.pid,
      apiUrl: this.apiUrl,
      baseUrl: this.baseUrl,
      scriptUrl: this.scriptUrl,
      caFile: this.pki.apiCa.certFile,
      clusterCaFile: this.pki.clusterCa.certFile,
      apiKey: this.apiKey,
      adminKey: this.adminKey,
      orgId: this.orgId,
      clusterId: this.clusterId,
      locationId: this.locationId,
      kubeApi: this.kubeApi,
      konnectivity: `${this.hostForUrl(this.advertise)}:${this.ports.konn}`,
      k0sVersion: this.k0sVersion,
      agentVersion: this.agentVersion,
      wgPublicKey: this.wgPublicKey,
      stateDir: this.opts.stateDir,
      requestsFile: this.requestsFile,
    };
  }

  get caPem(): string {
    if (!this.pki) throw new Error('emulator not started');
    return this.pki.apiCa.certPem;
  }

  get clusterCaPem(): string {
    if (!this.pki) throw new Error('emulator not started');
    return this.pki.clusterCa.certPem;
  }

  async start(): Promise<EmulatorInfo> {
    mkdirSync(this.opts.stateDir, { recursive: true, mode: 0o700 });
    const sans = [this.advertise, this.opts.listen, '127.0.0.1', 'localhost', ...(this.opts.sans ?? [])];
    this.pki = generatePki(this.opts.stateDir, sans);
    writeFileSync(this.requestsFile, '', { mode: 0o600 });

    this.api = createHttpsServer({ key: this.pki.apiServer.keyPem, cert: this.pki.apiServer.certPem }, (req, res) => {
      void this.handle('api', req, res);
    });
    // Like kube-apiserver's --client-ca-file: a client certificate is asked for and verified
    // against the cluster CA; a request without one may still carry a bearer token.
    this.kube = createHttpsServer(
      { key: this.pki.kubeServer.keyPem, cert: this.pki.kubeServer.certPem, ca: this.pki.clusterCa.certPem, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        void this.handle('kube', req, res);
      },
    );
    this.konn = createTcpServer((sock) => {
      this.konnectivityConnections.push({ time: new Date().toISOString(), remote: `${sock.remoteAddress}:${sock.remotePort}` });
      this.track(sock);
      sock.on('error', () => {});
      sock.on('data', () => {}); // hold the connection open like an agent-server would; the client closes it
    });
    for (const s of [this.api, this.kube]) s.on('connection', (sock: Socket) => this.track(sock));

    this.ports.api = await this.listenOn(this.api, this.opts.port ?? 0);
    this.ports.kube = await this.listenOn(this.kube, this.opts.kubePort ?? 0);
    this.ports.konn = await this.listenOn(this.konn, this.opts.konnectivityPort ?? 0);

    const info = this.info();
    writeFileSync(this.stateFile, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    return info;
  }

  private track(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
  }

  private listenOn(server: HttpsServer | TcpServer, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.listen, () => {
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([this.api, this.kube, this.konn].map((s) => new Promise<void>((resolve) => (s && s.listening ? s.close(() => resolve()) : resolve()))));
  }

  // ---------------------------------------------------------------- faults & expiry

  addFault(spec: FaultSpec): FaultRule {
    const rule: FaultRule = { ...validateFault(spec), id: this.nextFaultId++, fired: 0 };
    this.faults.push(rule);
    return rule;
  }

  listFaults(): FaultRule[] {
    return this.faults.map((f) => ({ ...f }));
  }

  clearFaults(id?: number): void {
    this.faults = id === undefined ? [] : this.faults.filter((f) => f.id !== id);
  }

  /** Expire credentials as if their time ran out: 'bootstrap-tokens' | 'log-keys' | 'join-tokens'. */
  expire(what: string): number {
    let n = 0;
    if (what === 'bootstrap-tokens') {
      for (const t of this.bootstrapTokens.values()) {
        t.expired = true;
        n++;
      }
    } else if (what === 'log-keys') {
      for (const s of this.secrets.values()) {
        for (const k of s.logKeys) {
          k.revoked = true;
          n++;
        }
      }
    } else if (what === 'join-tokens') {
      for (const s of this.secrets.values()) {
        s.joinToken.expired = true;
        n++;
      }
    } else {
      throw new HttpError(400, `expire: unknown credential kind "${what}" (bootstrap-tokens, log-keys, join-tokens)`);
    }
    return n;
  }

  /** Issue a bootstrap token without fetching the script (tests). */
  issueBootstrapToken(ttlSec = this.opts.bootstrapTtlSec ?? 3600): string {
    const t = secret('cebt');
    this.bootstrapTokens.set(t, { expiresAt: Date.now() + ttlSec * 1000, expired: false });
    return t;
  }

  /**
   * Override a joined node's Ready condition (admin `POST /_emulator/nodes/<name>/ready`), as a
   * kubelet reporting NotReady would; `undefined` clears it (DELETE): the heartbeats decide again.
   */
  setNodeReady(name: string, o: Partial<ReadyOverride> | undefined): { node: string; ready: ReadyOverride | null } {
    const node = this.nodes.get(name);
    if (!node) throw new HttpError(404, `node-ready: no joined node "${name}" (see GET /_emulator/nodes)`);
    if (!o) {
      delete node.readyOverride;
      return { node: name, ready: null };
    }
    if (!['True', 'False', 'Unknown'].includes(o.status as string)) throw new HttpError(400, 'node-ready: field status must be True, False or Unknown');
    const defaults: Record<ConditionStatus, [string, string]> = {
      True: ['KubeletReady', 'kubelet is posting ready status'],
      False: [
        'KubeletNotReady',
        'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
      ],
      Unknown: ['NodeStatusUnknown', 'Kubelet stopped posting node status.'],
    };
    const st = o.status as ConditionStatus;
    node.readyOverride = { status: st, reason: o.reason || defaults[st][0], message: o.message || defaults[st][1] };
    return { node: name, ready: node.readyOverride };
  }

  /** The node join credential used by tests that talk to the kube listener directly. */
  joinTokenFor(edgeId: string): string | undefined {
    const s = this.secrets.get(edgeId);
    return s ? this.makeJoinToken(s.joinToken.token) : undefined;
  }

  // ---------------------------------------------------------------- plumbing

  private matchingFaults(endpoint: Endpoint, method: string): { delay: number; rule?: FaultRule } {
    let delay = 0;
    let rule: FaultRule | undefined;
    for (const f of this.faults) {
      if (f.endpoint !== '*' && f.endpoint !== endpoint) continue;
      if (f.method && f.method !== method) continue;
      if (f.kind === 'latency') {
        delay += f.ms ?? 0;
        f.fired++;
      } else if (!rule) {
        rule = f;
        f.fired++;
      }
    }
    this.faults = this.faults.filter((f) => f.times === undefined || f.fired < f.times);
    return rule ? { delay, rule } : { delay };
  }

  private record(r: Omit<RequestRecord, 'seq'>): void {
    const rec: RequestRecord = { seq: ++this.seq, ...r };
    this.requests.push(rec);
    try {
      appendFileSync(this.requestsFile, `${JSON.stringify(rec)}\n`);
    } catch {
      /* state dir removed under us: keep serving */
    }
    if (this.opts.verbose)
      process.stderr.write(`${rec.time} ${rec.method} ${rec.path} -> ${rec.status} (${rec.credential}${rec.fault ? `, fault ${rec.fault}` : ''})\n`);
  }

  private credentialOf(req: IncomingMessage): { type: CredentialType; value?: string; node?: string } {
    const apiKey = req.headers['x-api-key'];
    const auth = req.headers.authorization;
    if (req.headers['x-emulator-admin']) return { type: 'admin', value: String(req.headers['x-emulator-admin']) };
    const sock = req.socket as TLSSocket;
    if (!auth && typeof sock.getPeerCertificate === 'function' && sock.authorized) {
      // A kubelet client certificate issued by the cluster CA (signKubeletCsr): system:node:<name>.
      const peer = sock.getPeerCertificate();
      const node = nodeNameOfSubject(peer?.subject);
      if (node) return { type: 'node-certificate', value: peer.fingerprint256.replace(/:/g, '').toLowerCase(), node };
    }
    if (typeof apiKey === 'string') {
      const isLogKey = [...this.secrets.values()].some((s) => s.logKeys.some((k) => k.key === apiKey));
      return { type: isLogKey ? 'log-key' : 'api-key', value: apiKey };
    }
    if (typeof auth === 'string') {
      const m = /^(Bearer|Token)\s+(.+)$/i.exec(auth);
      if (m) {
        const value = (m[2] as string).trim();
        if ((m[1] as string).toLowerCase() === 'token') return { type: 'edge-token', value };
        if (/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(value)) return { type: 'k8s-bootstrap-token', value };
        return { type: 'bootstrap-token', value };
      }
    }
    return { type: 'none' };
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > 4 * 1024 * 1024) throw new HttpError(413, 'request body larger than 4 MiB');
      chunks.push(c);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private parseJson(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'request body is not valid JSON');
    }
  }

  private route(listener: 'api' | 'kube', method: string, p: string): { endpoint: Endpoint | 'admin' | 'unknown'; m: RegExpExecArray | null } {
    const seg = '([^/:]+)';
    const table: Array<[Endpoint | 'admin', string, RegExp]> =
      listener === 'kube'
        ? [
            ['kube-join', 'POST', /^\/k0s-test-double\/v1\/join$/],
            ['kube-heartbeat', 'POST', /^\/k0s-test-double\/v1\/heartbeat$/],
            ['kube-version', 'GET', /^\/version$/],
            ['kube-node', 'GET', /^\/api\/v1\/nodes\/([^/]+)$/],
          ]
        : [
            ['install-script', 'GET', new RegExp(`^/omni-provisioner/v1beta/organizations/${seg}/clusters/${seg}/edge-locations/${seg}:edgeInitdScript$`)],
            [
              'artifact',
              'GET',
              new RegExp(
                `^/omni-provisioner/v1beta/organizations/${seg}/clusters/${seg}/edge-locations/${seg}/artifacts/castai-edge-initd/${seg}/linux-(amd64|arm64)\\.(xz|gz)$`,
              ),
            ],
            ['k0s-artifact', 'GET', /^\/downloads\/k0s\/([^/]+)\/k0s-([^/]+)-(amd64|arm64)$/],
            ['register', 'POST', new RegExp(`^/omni-provisioner/v2beta/organizations/${seg}/clusters/${seg}/edge-locations/${seg}/edges$`)],
            ['get-edge', 'GET', new RegExp(`^/omni-provisioner/v2beta/organizations/${seg}/clusters/${seg}/edges/${seg}$`)],
            ['report-status', 'POST', new RegExp(`^/omni-provisioner/v2beta/organizations/${seg}/clusters/${seg}/edges/${seg}:reportStatus$`)],
            ['delete-edge', 'DELETE', new RegExp(`^/omni-provisioner/v2beta/organizations/${seg}/clusters/${seg}/edge-locations/${seg}/edges/${seg}$`)],
            ['logs', 'POST', /^\/v1\/kubernetes\/external-clusters\/([^/]+)\/nodes\/([^/]+)\/logs$/],
            ['admin', '*', /^\/_emulator\/(.*)$/],
          ];
    for (const [endpoint, m, re] of table) {
      const match = re.exec(p);
      if (match && (m === '*' || m === method)) return { endpoint, m: match };
    }
    return { endpoint: 'unknown', m: null };
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...headers });
    res.end(text);
  }

  private sendError(
    res: ServerResponse,
    status: number,
    message: string,
    headers: Record<string, string> = {},
    details: Array<Record<string, unknown>> = [],
  ): void {
    this.send(res, status, { code: GRPC_CODE[status] ?? 2, message, details }, headers);
  }

  private async handle(listener: 'api' | 'kube', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    const { endpoint, m } = this.route(listener, method, url.pathname);
    const cred = this.credentialOf(req);
    const base = {
      time: new Date(started).toISOString(),
      method,
      path: url.pathname,
      endpoint,
      credential: cred.type,
      ...(cred.value && cred.type !== 'admin' ? { credentialFingerprint: fingerprint(cred.value) } : {}),
      remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
    };
    let credentialValid: boolean | undefined;
    const mark = (ok: boolean) => {
      credentialValid = ok;
    };
    const done = (status: number, fault?: string) => {
      if (endpoint === 'admin') return; // admin calls are not part of the record
      this.record({
        ...base,
        status,
        durationMs: Date.now() - started,
        ...(credentialValid !== undefined ? { credentialValid } : {}),
        ...(fault ? { fault } : {}),
      });
    };

    try {
      let body = '';
      if (method !== 'GET' && method !== 'HEAD') body = await this.readBody(req);

      if (endpoint === 'admin') {
        if (cred.type !== 'admin' || cred.value !== this.adminKey)
          throw new HttpError(401, 'admin endpoint: X-Emulator-Admin header missing or wrong (see emulator.json)');
        const out = this.admin(method, (m as RegExpExecArray)[1] as string, url, body);
        this.send(res, 200, out);
        return;
      }
      if (endpoint === 'unknown') throw new HttpError(404, `no such endpoint: ${method} ${url.pathname}`);

      const { delay, rule } = this.matchingFaults(endpoint, method);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (rule) {
        const label = `${rule.kind}${rule.status ? ` ${rule.status}` : ''}#${rule.id}`;
        if (rule.kind === 'drop') {
          req.socket.destroy();
          done(0, label);
          return;
        }
        if (rule.kind === 'truncate') {
          // Headers promise the full body; half of it arrives, then the connection dies.
          const full = rule.body ?? JSON.stringify({ edge: { id: 'truncated', name: 'truncated', phase: 'CREATING' }, padding: 'x'.repeat(512) });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(full)) });
          res.write(full.slice(0, Math.floor(full.length / 2)));
          setTimeout(() => req.socket.destroy(), 20);
          done(200, label);
          return;
        }
        if (rule.kind === 'html-404') {
          // What a front end (nginx, a load balancer, an ingress) answers for a path it has no backend for.
          res.writeHead(404, { 'content-type': 'text/html', server: 'nginx' });
          res.end(rule.body ?? NGINX_404_HTML);
          done(404, label);
          return;
        }
        if (rule.kind === 'edge-not-found') {
          // The API's own EDGE_NOT_FOUND: for `edgeId` when given (another edge), else for the edge in the path.
          const inPath = /\/edges\/([^/:]+)/.exec(url.pathname)?.[1] ?? 'unknown';
          const e = edgeNotFound(rule.edgeId ?? inPath);
          this.sendError(res, 404, e.message, {}, e.details);
          done(404, label);
          return;
        }
        if (rule.kind === 'garbage') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(rule.body ?? DEFAULT_GARBAGE);
          done(200, label);
          return;
        }
        const status = rule.status as number;
        const headers: Record<string, string> = rule.retryAfter ? { 'retry-after': rule.retryAfter } : {};
        this.sendError(res, status, rule.message ?? `fault injected by the control-plane emulator (HTTP ${status})`, headers);
        done(status, label);
        return;
      }

      const status = await this.dispatch(endpoint, m as RegExpExecArray, req, res, cred, body, mark);
      done(status);
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, `emulator bug: ${(e as Error).stack ?? String(e)}`);
      if (!res.headersSent) this.sendError(res, err.status, err.message, err.headers, err.details);
      else res.destroy();
      done(err.status);
    }
  }

  private checkLocation(org: string, cluster: string, loc?: string): void {
    if (org !== this.orgId) throw new HttpError(404, `organization ${org} not found`);
    if (cluster !== this.clusterId) throw new HttpError(404, `cluster ${cluster} not found in organization ${org}`);
    if (loc !== undefined && loc !== this.locationId) throw new HttpError(404, `edge location ${loc} not found in cluster ${cluster}`);
  }

  private requireApiKey(cred: { type: CredentialType; value?: string }, mark: (ok: boolean) => void): void {
    if (cred.type === 'none') throw new HttpError(401, 'missing X-API-Key header (the organization API key)');
    if (cred.type !== 'api-key' || cred.value !== this.apiKey) {
      mark(false);
      throw new HttpError(401, 'invalid API key');
    }
    mark(true);
  }

  private requireBootstrap(cred: { type: CredentialType; value?: string }, mark: (ok: boolean) => void): void {
    if (cred.type === 'none') throw new HttpError(401, 'missing "Authorization: Bearer <bootstrap token>" header');
    const t = cred.type === 'bootstrap-token' && cred.value ? this.bootstrapTokens.get(cred.value) : undefined;
    if (!t) {
      mark(false);
      throw new HttpError(401, 'bootstrap token not recognized (revoked or from another edge location)');
    }
    if (t.expired || Date.now() > t.expiresAt) {
      mark(false);
      throw new HttpError(401, 'bootstrap token expired');
    }
    mark(true);
  }

  private requireEdgeToken(cred: { type: CredentialType; value?: string }, edgeId: string, mark: (ok: boolean) => void): EdgeRecord | undefined {
    if (cred.type === 'none') throw new HttpError(401, 'missing "Authorization: Token <edge token>" header');
    const s = this.secrets.get(edgeId);
    if (!s) return undefined; // caller decides: 404
    if (cred.type !== 'edge-token' || cred.value !== s.edgeToken) {
      mark(false);
      throw new HttpError(401, 'edge token rejected');
    }
    mark(true);
    return this.edges.get(edgeId);
  }

  /**
   * docs/control-plane-api.md §3: the kubelet applies --node-labels and register-with-taints only when it creates its
   * Node (and NodeRestriction forbids it to change its own taints later), so label/taint changes on
   * a re-registration are applied to the existing Node by the control plane, which holds cluster
   * credentials: the previously registered user labels/taints are removed, the new ones set; the
   * control plane's own labels win on conflict. Sources: docs/decisions/0132, 0134.
   */
  private patchNodeOnReregister(edge: EdgeRecord, before: Record<string, unknown>, after: Record<string, unknown>): void {
    const node = [...this.nodes.values()].find((n) => n.edgeId === edge.id);
    if (!node) return; // not joined yet: the kubelet's first registration carries the labels
    const oldLabels = (before.kubernetesLabels ?? {}) as Record<string, string>;
    const newLabels = (after.kubernetesLabels ?? {}) as Record<string, string>;
    type T = JoinedNode['taints'][number];
    const oldTaints = (before.kubernetesTaints ?? []) as T[];
    const newTaints = (after.kubernetesTaints ?? []) as T[];
    if (JSON.stringify([oldLabels, oldTaints]) === JSON.stringify([newLabels, newTaints])) return;
    const cp = (this.edgeDocument(edge, this.secrets.get(edge.id) as EdgeSecrets).node as { labels: Record<string, string> }).labels;
    const labels = { ...node.labels };
    for (const [k, v] of Object.entries(oldLabels)) if (!(k in newLabels) && !(k in cp) && labels[k] === v) delete labels[k];
    Object.assign(labels, newLabels, cp);
    const tkey = (t: T) => `${t.key}:${t.effect}`;
    const drop = new Set(oldTaints.map(tkey));
    const taints = [...node.taints.filter((t) => !drop.has(tkey(t))), ...newTaints];
    const seen = new Set<string>();
    node.labels = labels;
    node.taints = taints.filter((t) => (seen.has(tkey(t)) ? false : (seen.add(tkey(t)), true)));
    node.patchedAt = new Date().toISOString();
  }

  private makeJoinToken(k8sToken: string): string {
    return encodeJoinToken({ server: this.kubeApi, caPem: this.clusterCaPem, token: k8sToken });
  }

  private artifactFile(arch: string, comp: string): string {
    return path.join(this.opts.distDir ?? path.join(REPO_ROOT, 'dist'), `castai-edge-initd-linux-${arch}.${comp}`);
  }

  private k0sDoubleFile(): string {
    return this.opts.k0sDouble ?? path.join(REPO_ROOT, 'test/doubles/k0s-test-double.sh');
  }

  private artifactUrl(arch: string, comp: string): string {
    return `${this.baseUrl}/v1beta/organizations/${this.orgId}/clusters/${this.clusterId}/edge-locations/${this.locationId}/artifacts/castai-edge-initd/${this.agentVersion}/linux-${arch}.${comp}`;
  }

  /** The desired-state document (register response minus edgeToken and logs). */
  private edgeDocument(edge: EdgeRecord, s: EdgeSecrets): Record<string, unknown> {
    const k0sSha = existsSync(this.k0sDoubleFile()) ? fileSha256(this.k0sDoubleFile()) : 'missing-k0s-test-double';
    const k0sArtifact = (arch: string) => ({ url: `${this.apiUrl}/downloads/k0s/${this.k0sVersion}/k0s-${this.k0sVersion}-${arch}`, sha256: k0sSha });
    return {
      edge: { id: edge.id, name: edge.name, phase: edge.phase },
      node: {
        name: edge.name,
        providerID: `castai-omni://${edge.id}`,
        labels: {
          'omni.cast.ai/edge-location-name': this.locationName,
          'omni.cast.ai/edge-id': edge.id,
          'omni.cast.ai/csp': 'custom',
          'topology.kubernetes.io/region': this.region,
        },
        taints: [],
      },
      wireguard: {
        address: edge.address,
        listenPort: 51840,
        mtu: 1380,
        peers: [
          {
            publicKey: this.wgPublicKey,
            endpoint: this.opts.wgEndpoint ?? `${this.hostForUrl(this.advertise)}:51840`,
            allowedIPs: ['100.96.0.1/32', '10.244.0.0/16'],
            persistentKeepalive: 25,
          },
        ],
      },
      k0s: {
        version: this.k0sVersion,
        artifacts: { amd64: k0sArtifact('amd64'), arm64: k0sArtifact('arm64') },
        joinToken: this.makeJoinToken(s.joinToken.token),
        apiEndpoint: this.kubeApi,
        konnectivityEndpoint: `${this.hostForUrl(this.advertise)}:${this.ports.konn}`,
      },
    };
  }

  private async dispatch(
    endpoint: Endpoint,
    m: RegExpExecArray,
    req: IncomingMessage,
    res: ServerResponse,
    cred: { type: CredentialType; value?: string; node?: string },
    body: string,
    mark: (ok: boolean) => void,
  ): Promise<number> {
    const g = (i: number) => m[i] as string;
    switch (endpoint) {
      case 'install-script': {
        this.checkLocation(g(1), g(2), g(3));
        this.requireApiKey(cred, mark);
        const script = await this.renderScript(this.issueBootstrapToken());
        res.writeHead(200, { 'content-type': 'text/x-shellscript; charset=utf-8' });
        res.end(script);
        return 200;
      }
      case 'artifact': {
        this.checkLocation(g(1), g(2), g(3));
        this.requireBootstrap(cred, mark);
        if (g(4) !== this.agentVersion) throw new HttpError(404, `agent version ${g(4)} is not available (this emulator serves ${this.agentVersion})`);
        const file = this.artifactFile(g(5), g(6));
        if (!existsSync(file)) throw new HttpError(404, `artifact ${path.basename(file)} not built: run "make build" (looked in ${path.dirname(file)})`);
        const data = readFileSync(file);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
        res.end(data);
        return 200;
      }
      case 'k0s-artifact': {
        if (g(1) !== this.k0sVersion || g(2) !== this.k0sVersion)
          throw new HttpError(404, `k0s ${g(1)} is not available (this emulator serves ${this.k0sVersion})`);
        const data = readFileSync(this.k0sDoubleFile());
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
        res.end(data);
        return 200;
      }
      case 'register': {
        this.checkLocation(g(1), g(2), g(3));
        this.requireBootstrap(cred, mark);
        const reg = checkRegisterBody(this.parseJson(body));
        const machineId = reg.machineId as string;
        let edge = [...this.edges.values()].find((e) => e.machineId === machineId && e.phase !== 'DELETED');
        let status = 200;
        if (edge && edge.request.wireguardPublicKey !== reg.wireguardPublicKey) {
          // docs/control-plane-api.md §3: identity is (machineId, wireguardPublicKey). Another key for a live machine-id
          // (a status report within 10 minutes; lastSeen = the last report) is a clone: 409, and the
          // edge is left untouched. A silent edge takes the new key (a re-installed host).
          const last = edge.statusReports.at(-1)?.time;
          if (last && Date.now() - Date.parse(last) < MACHINE_ID_LIVE_MS) {
            (edge.conflicts ??= []).push({
              time: new Date().toISOString(),
              wireguardPublicKey: reg.wireguardPublicKey as string,
              hostname: reg.hostname as string,
            });
            throw new HttpError(
              409,
              `machine-id ${machineId} is already registered as edge ${edge.id} with another WireGuard key, and that edge reported at ${last}`,
              {},
              [{ reason: 'MACHINE_ID_CONFLICT', edgeId: edge.id, lastSeen: last }],
            );
          }
        }
        if (!edge) {
          status = 201;
          const id = randomUUID();
          edge = {
            id,
            name: `cast-${randomUUID()}`,
            machineId,
            phase: 'CREATING',
            address: `100.96.${Math.floor(this.nextAddress / 256)}.${this.nextAddress % 256}/32`,
            createdAt: new Date().toISOString(),
            registrations: 0,
            request: reg,
            statusReports: [],
            logEvents: [],
          };
          this.nextAddress++;
          this.edges.set(id, edge);
          this.secrets.set(id, { edgeToken: secret('ceet'), joinToken: { token: newBootstrapToken(), expired: false }, logKeys: [] });
        }
        edge.registrations++;
        if (status === 200) this.patchNodeOnReregister(edge, edge.request, reg);
        edge.request = reg;
        const s = this.secrets.get(edge.id) as EdgeSecrets;
        if (s.joinToken.expired) s.joinToken = { token: newBootstrapToken(), expired: false };
        const logKey = { key: secret('celk'), expiresAt: Date.now() + (this.opts.logKeyTtlSec ?? 3600) * 1000, revoked: false };
        s.logKeys.push(logKey);
        this.send(res, status, {
          ...this.edgeDocument(edge, s),
          edgeToken: s.edgeToken,
          logs: {
            url: `${this.apiUrl}/v1/kubernetes/external-clusters/${this.clusterId}/nodes/${edge.name}/logs`,
            apiKey: logKey.key,
            expiresAt: new Date(logKey.expiresAt).toISOString(),
          },
        });
        return status;
      }
      case 'get-edge': {
        this.checkLocation(g(1), g(2));
        const edge = this.requireEdgeToken(cred, g(3), mark);
        if (!edge) throw edgeNotFound(g(3));
        this.send(res, 200, this.edgeDocument(edge, this.secrets.get(edge.id) as EdgeSecrets));
        return 200;
      }
      case 'report-status': {
        this.checkLocation(g(1), g(2));
        const edge = this.requireEdgeToken(cred, g(3), mark);
        if (!edge) throw edgeNotFound(g(3));
        const report = checkStatusReport(this.parseJson(body));
        edge.statusReports.push({ time: new Date().toISOString(), body: report });
        if (report.phase === 'READY' && edge.phase === 'CREATING') edge.phase = 'READY';
        if (report.phase === 'DELETED' && edge.phase === 'DELETING') {
          // The agent finished its teardown: drop the edge; later calls get 404.
          edge.phase = 'DELETED';
          edge.deletedAt = new Date().toISOString();
          this.secrets.delete(edge.id);
        }
        this.send(res, 200, { edge: { id: edge.id, name: edge.name, phase: edge.phase } });
        return 200;
      }
      case 'delete-edge': {
        this.checkLocation(g(1), g(2), g(3));
        this.requireApiKey(cred, mark);
        const edge = this.edges.get(g(4));
        if (!edge || edge.phase === 'DELETED') throw edgeNotFound(g(4));
        edge.phase = 'DELETING';
        this.send(res, 200, { edge: { id: edge.id, name: edge.name, phase: edge.phase } });
        return 200;
      }
      case 'logs': {
        if (g(1) !== this.clusterId) throw new HttpError(404, `cluster ${g(1)} not found`);
        if (cred.type === 'none') throw new HttpError(401, 'missing X-API-Key header (the scoped log key from the register response)');
        const entry = [...this.secrets.entries()].find(([, s]) => s.logKeys.some((k) => k.key === cred.value));
        const edge = entry ? this.edges.get(entry[0]) : undefined;
        const key = entry?.[1].logKeys.find((k) => k.key === cred.value);
        if (!edge || !key || cred.type !== 'log-key') {
          mark(false);
          throw new HttpError(401, 'log key not recognized: the log sink accepts only the scoped key from the register response');
        }
        if (edge.name !== g(2)) {
          mark(false);
          throw new HttpError(403, `log key is scoped to node ${edge.name}, not ${g(2)}`);
        }
        if (key.revoked || Date.now() > key.expiresAt) {
          mark(false);
          throw new HttpError(401, 'log key expired');
        }
        mark(true);
        const doc = this.parseJson(body) as { logEvents?: unknown };
        if (!doc || !Array.isArray(doc.logEvents)) throw new HttpError(400, 'field logEvents must be an array');
        for (const [i, ev] of doc.logEvents.entries()) {
          const e = ev as Record<string, unknown>;
          if (!e || typeof e.message !== 'string' || typeof e.level !== 'string' || typeof e.time !== 'string') {
            throw new HttpError(400, `field logEvents[${i}] must be {level, time, message} strings`);
          }
        }
        edge.logEvents.push(...(doc.logEvents as Array<Record<string, unknown>>));
        this.send(res, 200, { accepted: doc.logEvents.length });
        return 200;
      }
      case 'kube-version': {
        this.send(res, 200, { major: '1', minor: '34', gitVersion: this.k0sVersion.replace(/\+k0s.*$/, '+k0s'), platform: 'emulated' });
        return 200;
      }
      case 'kube-join': {
        if (cred.type !== 'k8s-bootstrap-token') throw new HttpError(401, 'missing or malformed bootstrap token (Authorization: Bearer <id>.<secret>)');
        const owner = [...this.secrets.entries()].find(([, s]) => s.joinToken.token === cred.value);
        if (!owner) {
          mark(false);
          throw new HttpError(401, 'bootstrap token not recognized');
        }
        if (owner[1].joinToken.expired) {
          mark(false);
          throw new HttpError(401, 'bootstrap token expired');
        }
        mark(true);
        const j = this.parseJson(body) as Record<string, unknown>;
        const nodeName = typeof j.nodeName === 'string' && j.nodeName ? j.nodeName : typeof j.hostname === 'string' ? j.hostname : '';
        if (!nodeName) throw new HttpError(400, 'field nodeName (or hostname) is required');
        // The kubelet's TLS bootstrap: its CSR is approved and signed into a client certificate.
        if (typeof j.csr !== 'string' || !j.csr.includes('CERTIFICATE REQUEST'))
          throw new HttpError(400, 'field csr must be a PEM certificate signing request');
        let certificate: string;
        try {
          certificate = signKubeletCsr(this.opts.stateDir, (this.pki as EmulatorPki).clusterCa, j.csr, nodeName);
        } catch (e) {
          throw new HttpError(400, `field csr: ${(e as Error).message}`);
        }
        const prev = this.nodes.get(nodeName);
        const node: JoinedNode = {
          nodeName,
          hostname: typeof j.hostname === 'string' ? j.hostname : '',
          ...(typeof j.nodeIP === 'string' && j.nodeIP ? { nodeIP: j.nodeIP } : {}),
          ...(typeof j.providerID === 'string' && j.providerID ? { providerID: j.providerID } : {}),
          edgeId: owner[0],
          labels: (j.labels && typeof j.labels === 'object' ? j.labels : {}) as Record<string, string>,
          taints: (Array.isArray(j.taints) ? j.taints : []) as JoinedNode['taints'],
          ...(typeof j.k0sVersion === 'string' ? { k0sVersion: j.k0sVersion } : {}),
          tokenId: (cred.value as string).slice(0, 6),
          joinedAt: new Date().toISOString(),
          joins: (prev?.joins ?? 0) + 1,
          heartbeats: prev?.heartbeats ?? 0,
        };
        this.nodes.set(nodeName, node);
        this.send(res, 201, { nodeName, certificate });
        return 201;
      }
      case 'kube-heartbeat': {
        const node = cred.type === 'node-certificate' && cred.node ? this.nodes.get(cred.node) : undefined;
        if (!node) {
          mark(false);
          throw new HttpError(401, 'no valid kubelet client certificate of a joined node (system:node:<name>, signed by the cluster CA)');
        }
        mark(true);
        node.heartbeats++;
        node.lastHeartbeat = new Date().toISOString();
        this.send(res, 200, { nodeName: node.nodeName });
        return 200;
      }
      case 'kube-node': {
        const name = decodeURIComponent(g(1));
        if (cred.type !== 'node-certificate' || !cred.node) {
          mark(false);
          this.send(res, 401, k8sStatus(401, 'Unauthorized', 'Unauthorized'));
          return 401;
        }
        mark(true);
        // The Node authorizer: a kubelet may read only its own Node object.
        if (cred.node !== name) {
          const msg = `nodes "${name}" is forbidden: User "system:node:${cred.node}" cannot get resource "nodes" in API group "" at the cluster scope: node '${cred.node}' cannot read '${name}', only its own Node object`;
          this.send(res, 403, k8sStatus(403, 'Forbidden', msg, { name, kind: 'nodes' }));
          return 403;
        }
        const node = this.nodes.get(name);
        if (!node) {
          this.send(res, 404, k8sStatus(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' }));
          return 404;
        }
        this.send(res, 200, nodeObject(node));
        return 200;
      }
    }
  }

  private async renderScript(bootstrapToken: string): Promise<string> {
    const values: Record<string, string> = {
      API_URL: this.apiUrl,
      ORG_ID: this.orgId,
      CLUSTER_ID: this.clusterId,
      EDGE_LOCATION_ID: this.locationId,
      BOOTSTRAP_TOKEN: bootstrapToken,
      AGENT_VERSION: this.agentVersion,
    };
    for (const arch of ['amd64', 'arm64']) {
      for (const comp of ['xz', 'gz']) {
        const file = this.artifactFile(arch, comp);
        const key = `${arch.toUpperCase()}_${comp.toUpperCase()}`;
        values[`URL_${key}`] = this.artifactUrl(arch, comp);
        // No artifact built: a well-formed sha256 that no download matches (installer/render.ts checks the form).
        values[`SHA256_${key}`] = existsSync(file) ? fileSha256(file) : '0'.repeat(64);
      }
    }
    const dir = this.opts.installerDir ?? path.join(REPO_ROOT, 'installer');
    const renderer = path.join(dir, 'render.ts');
    if (existsSync(renderer)) {
      // The installer owns its template rules (installer/render.ts): @@NAME@@ placeholders.
      const mod = (await import(renderer)) as { renderInstaller: (v: Record<string, string>, dir?: string) => string };
      try {
        return mod.renderInstaller(values, dir);
      } catch (e) {
        throw new HttpError(500, `installer template could not be rendered: ${(e as Error).message}`);
      }
    }
    const template = path.join(dir, 'install.sh');
    if (!existsSync(template)) throw new HttpError(503, `installer template ${template} does not exist yet`);
    let text = readFileSync(template, 'utf8');
    for (const [k, v] of Object.entries(values)) text = text.split(`@@${k}@@`).join(v);
    return text;
  }

  // ---------------------------------------------------------------- admin

  private admin(method: string, sub: string, url: URL, body: string): unknown {
    const since = Number(url.searchParams.get('since') ?? '0');
    const key = `${method} ${sub}`;
    switch (key) {
      case 'GET info':
        return this.info();
      case 'GET requests':
        return this.requests.filter((r) => r.seq > since);
      case 'DELETE requests':
        this.requests.length = 0;
        return { cleared: true };
      case 'GET faults':
        return this.listFaults();
      case 'POST faults': {
        try {
          return this.addFault(this.parseJson(body) as FaultSpec);
        } catch (e) {
          throw e instanceof HttpError ? e : new HttpError(400, (e as Error).message);
        }
      }
      case 'DELETE faults':
        this.clearFaults();
        return { cleared: true };
      case 'POST expire': {
        const what = (this.parseJson(body) as { what?: string }).what ?? '';
        return { expired: this.expire(what) };
      }
      case 'GET edges':
        return [...this.edges.values()];
      case 'GET nodes':
        return [...this.nodes.values()];
      case 'GET node-objects':
        return [...this.nodes.values()].map((n) => nodeObject(n));
      case 'GET konnectivity':
        return this.konnectivityConnections;
      case 'POST bootstrap-token':
        return { bootstrapToken: this.issueBootstrapToken() };
      default: {
        const fm = /^faults\/(\d+)$/.exec(sub);
        if (method === 'DELETE' && fm) {
          this.clearFaults(Number(fm[1]));
          return { cleared: Number(fm[1]) };
        }
        const nm = /^nodes\/([^/]+)\/ready$/.exec(sub);
        if (nm && (method === 'POST' || method === 'DELETE')) {
          return this.setNodeReady(decodeURIComponent(nm[1] as string), method === 'DELETE' ? undefined : (this.parseJson(body) as Partial<ReadyOverride>));
        }
        throw new HttpError(404, `admin: no such endpoint ${method} /_emulator/${sub}`);
      }
    }
  }
}
