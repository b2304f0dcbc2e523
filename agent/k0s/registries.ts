/**
 * Private registries and mirrors for k0s's containerd, from a file in k3s's registries.yaml format
 * named by INITD_REGISTRIES_FILE (docs/decisions/0184-registries.md). k3s documents the format
 * (docs.k3s.io/installation/private-registry): `mirrors.<registry>.endpoint[]`, and
 * `configs.<host>.auth` (username/password, auth, identitytoken) and `.tls` (ca_file, cert_file,
 * key_file, insecure_skip_verify); `"*"` is the default for every registry.
 *
 * Translated into what k0s's containerd (1.7 in k0s ≤ 1.35) reads:
 *  - containerd's hosts directory (docs/hosts.md): `<dir>/<registry>/hosts.toml`, one
 *    `[host."<endpoint>"]` per mirror (capabilities pull + resolve), the TLS settings of each host
 *    (`ca`, `client`, `skip_verify`), `_default` for `"*"`. INITD_CA_FILE is added to every `ca`
 *    list and to `_default`, so pulls work behind the same TLS-inspecting proxy as the agent; the
 *    system CA store is containerd's base pool anyway (Go's SystemCertPool, to which `ca` adds).
 *  - a k0s drop-in, /etc/k0s/containerd.d/castai-edge-initd-registries.toml (0600): the CRI
 *    plugin's `registry.config_path` pointing at that directory, and the credentials in
 *    `registry.configs."<host>".auth`, the only place containerd 1.7's CRI plugin reads registry
 *    credentials from when config_path is set (hosts.toml has no auth; `configs.tls` is refused
 *    with config_path, so TLS lives in hosts.toml). k0s ≥ 1.27.1 merges a drop-in that has a CRI
 *    section into its own CRI config (docs/runtime.md, "k0s managed dynamic runtime configuration").
 */
import path from 'node:path';
import { AgentError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { registerSecret } from '../log/secrets.ts';
import type { DesiredFile } from './owned-files.ts';
import { parseYamlSubset, type YamlValue } from './yaml-subset.ts';

export const REGISTRIES_VARIABLE = 'INITD_REGISTRIES_FILE';
export const CONTAINERD_DROPIN_DIR = '/etc/k0s/containerd.d';
export const REGISTRIES_DROPIN = `${CONTAINERD_DROPIN_DIR}/castai-edge-initd-registries.toml`;
export const HOSTS_DIR = `${CONTAINERD_DROPIN_DIR}/castai-edge-initd-certs.d`;

export interface RegistryAuth {
  username?: string;
  password?: string;
  auth?: string;
  identitytoken?: string;
}
export interface RegistryTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  insecureSkipVerify?: boolean;
}
export interface Registries {
  /** registry (host[:port], or "*") → endpoint URLs. */
  mirrors: Record<string, string[]>;
  /** host[:port] (or "*") → auth and TLS. */
  configs: Record<string, { auth?: RegistryAuth; tls?: RegistryTls }>;
}

const HOST_RE = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:]+\])(?::\d{1,5})?$/i;

function bad(field: string, message: string, fix: string): AgentError {
  return new AgentError(`${REGISTRIES_VARIABLE}: ${field}: ${message}`, fix);
}

const isMap = (v: YamlValue | undefined): v is { [k: string]: YamlValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Pure: the YAML text → Registries, or an AgentError naming the variable, the field and the fix. */
export function parseRegistries(text: string, file = REGISTRIES_VARIABLE): Registries {
  let doc: YamlValue;
  try {
    doc = parseYamlSubset(text);
  } catch (e) {
    throw new AgentError(
      `${REGISTRIES_VARIABLE} (${file}) is not valid YAML: ${(e as Error).message}`,
      'fix the file; it uses the format of k3s’s /etc/rancher/k3s/registries.yaml',
    );
  }
  if (doc === null || doc === '') doc = {};
  if (!isMap(doc)) throw bad('(top level)', 'expected a mapping with `mirrors` and/or `configs`', 'see the README, "Private registries and mirrors"');
  for (const k of Object.keys(doc)) {
    if (k !== 'mirrors' && k !== 'configs') throw bad(k, 'unknown key (valid: mirrors, configs)', 'remove it, or check its indentation');
  }
  const out: Registries = { mirrors: {}, configs: {} };
  const mirrors = doc.mirrors ?? {};
  if (!isMap(mirrors)) throw bad('mirrors', 'expected a mapping of registry → { endpoint: [...] }', 'e.g. mirrors: { docker.io: { endpoint: ["https://mirror.example.com:5000"] } }');
  for (const [reg, m] of Object.entries(mirrors)) {
    const f = `mirrors."${reg}"`;
    if (reg !== '*' && !HOST_RE.test(reg)) {
      throw bad(f, `"${reg}" is not a registry host[:port]`, 'use a host name or IP with an optional port, or "*" for every registry');
    }
    if (!isMap(m)) throw bad(f, 'expected a mapping with `endpoint`', 'e.g. endpoint: ["https://mirror.example.com:5000"]');
    for (const k of Object.keys(m)) {
      if (k === 'rewrite') {
        throw bad(
          `${f}.rewrite`,
          'rewrites are a k3s patch of containerd; the containerd in k0s has no such setting',
          'mirror the images under the same repository names, or remove `rewrite`',
        );
      }
      if (k !== 'endpoint') throw bad(`${f}.${k}`, 'unknown key (valid: endpoint)', 'remove it');
    }
    const eps = m.endpoint ?? [];
    if (!Array.isArray(eps) || eps.length === 0) throw bad(`${f}.endpoint`, 'expected a non-empty list of URLs', 'e.g. endpoint: ["https://mirror.example.com:5000"]');
    out.mirrors[reg] = eps.map((e, i) => {
      const ef = `${f}.endpoint[${i}]`;
      if (typeof e !== 'string') throw bad(ef, 'expected a URL', 'e.g. "https://mirror.example.com:5000"');
      let u: URL;
      try {
        u = new URL(e.includes('://') ? e : `https://${e}`);
      } catch {
        throw bad(ef, `"${e}" is not a URL`, 'e.g. "https://mirror.example.com:5000"');
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(ef, `"${e}": only http and https endpoints exist`, 'use https://… (or http://… for a registry without TLS)');
      if (u.username || u.password || u.search || u.hash) throw bad(ef, `"${e.replace(/\/\/[^@/]*@/, '//****@')}" carries credentials, a query or a fragment`, 'put credentials under configs."<host>".auth');
      return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '')}`;
    });
  }
  const configs = doc.configs ?? {};
  if (!isMap(configs)) {
    throw bad('configs', 'expected a mapping of host → { auth, tls }', 'e.g. configs: { "mirror.example.com:5000": { auth: { username: u, password: p } } }');
  }
  for (const [host, c] of Object.entries(configs)) {
    const f = `configs."${host}"`;
    if (host !== '*' && !HOST_RE.test(host)) {
      throw bad(f, `"${host}" is not a host[:port]`, 'use the host (and port) of the registry or mirror endpoint, or "*"');
    }
    if (c === null) {
      out.configs[host] = {};
      continue;
    }
    if (!isMap(c)) throw bad(f, 'expected a mapping with `auth` and/or `tls`', 'see the README');
    const entry: { auth?: RegistryAuth; tls?: RegistryTls } = {};
    for (const k of Object.keys(c)) if (k !== 'auth' && k !== 'tls') throw bad(`${f}.${k}`, 'unknown key (valid: auth, tls)', 'remove it');
    if (c.auth !== undefined && c.auth !== null) {
      if (!isMap(c.auth)) throw bad(`${f}.auth`, 'expected a mapping', 'username/password, auth, or identitytoken');
      const a: RegistryAuth = {};
      for (const [k, v] of Object.entries(c.auth)) {
        if (k === 'token') {
          throw bad(
            `${f}.auth.token`,
            'containerd’s CRI registry configuration has no bearer-token field',
            'use username/password, `auth` (base64 of user:password) or `identitytoken` (an OAuth2 refresh token)',
          );
        }
        if (!['username', 'password', 'auth', 'identitytoken'].includes(k)) {
          throw bad(`${f}.auth.${k}`, 'unknown key (valid: username, password, auth, identitytoken)', 'remove it');
        }
        if (typeof v !== 'string' || v === '') throw bad(`${f}.auth.${k}`, 'expected a non-empty string', 'quote the value');
        (a as Record<string, string>)[k] = v;
        if (k !== 'username') registerSecret(v);
      }
      if (a.password !== undefined && a.username === undefined) throw bad(`${f}.auth`, 'a password without a username', 'add username');
      if (!a.password && !a.auth && !a.identitytoken) throw bad(`${f}.auth`, 'no credential (password, auth or identitytoken)', 'add one, or remove `auth`');
      entry.auth = a;
    }
    if (c.tls !== undefined && c.tls !== null) {
      if (!isMap(c.tls)) throw bad(`${f}.tls`, 'expected a mapping', 'ca_file, cert_file, key_file, insecure_skip_verify');
      const t: RegistryTls = {};
      for (const [k, v] of Object.entries(c.tls)) {
        if (k === 'insecure_skip_verify') {
          if (typeof v !== 'boolean') throw bad(`${f}.tls.${k}`, `expected true or false, got ${JSON.stringify(v)}`, 'write true or false without quotes');
          t.insecureSkipVerify = v;
          continue;
        }
        const key = ({ ca_file: 'caFile', cert_file: 'certFile', key_file: 'keyFile' } as Record<string, 'caFile' | 'certFile' | 'keyFile'>)[k];
        if (!key) throw bad(`${f}.tls.${k}`, 'unknown key (valid: ca_file, cert_file, key_file, insecure_skip_verify)', 'remove it');
        if (v === null || v === '') continue;
        if (typeof v !== 'string' || !path.isAbsolute(v)) {
          throw bad(`${f}.tls.${k}`, `${JSON.stringify(v)} is not an absolute path`, 'give the absolute path of the PEM file');
        }
        t[key] = path.normalize(v);
      }
      if (Boolean(t.certFile) !== Boolean(t.keyFile)) {
        throw bad(`${f}.tls`, 'cert_file and key_file go together', 'give both (a client certificate and its key), or neither');
      }
      entry.tls = t;
    }
    out.configs[host] = entry;
  }
  return out;
}

/** TOML basic string (toml.io v1.0: escape backslash, quote and control characters). */
export function tomlString(s: string): string {
  // eslint-disable-next-line no-control-regex -- escaping control characters is the point
  return `"${s.replace(/[\\"\u0000-\u001f\u007f]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`))}"`;
}

const tomlList = (xs: readonly string[]) => `[${xs.map(tomlString).join(', ')}]`;

/** The hosts-directory name of a registry namespace ("*" is containerd's `_default`). */
export const namespaceDir = (reg: string) => (reg === '*' ? '_default' : reg);

function tlsLines(t: RegistryTls | undefined, caFile: string | undefined, indent: string): string[] {
  const ca = [...(t?.caFile ? [t.caFile] : []), ...(caFile ? [caFile] : [])];
  return [
    ...(ca.length ? [`${indent}ca = ${tomlList([...new Set(ca)])}`] : []),
    ...(t?.certFile && t.keyFile ? [`${indent}client = [${tomlList([t.certFile, t.keyFile])}]`] : []),
    ...(t?.insecureSkipVerify ? [`${indent}skip_verify = true`] : []),
  ];
}

const HEADER = (source: string) => `# Written by castai-edge-initd from ${source}; removed by \`castai-edge-initd reset\`. Do not edit.\n`;

/**
 * Pure: the files for k0s's containerd. `caFile` is INITD_CA_FILE. Nothing when neither is set.
 */
export function registryFiles(r: Registries | undefined, caFile: string | undefined, sourceFile = REGISTRIES_VARIABLE): DesiredFile[] {
  if (!r && !caFile) return [];
  const reg: Registries = r ?? { mirrors: {}, configs: {} };
  const source = r ? `${REGISTRIES_VARIABLE}=${sourceFile}${caFile ? ' and INITD_CA_FILE' : ''}` : 'INITD_CA_FILE';
  const cfg = (host: string) => reg.configs[host] ?? reg.configs['*'];
  const hostOf = (url: string) => new URL(url).host;
  const namespaces = new Set<string>([...Object.keys(reg.mirrors), ...Object.keys(reg.configs), '*']);
  const files: DesiredFile[] = [];
  for (const ns of [...namespaces].sort()) {
    const lines: string[] = [HEADER(source).trimEnd()];
    if (ns !== '*' && reg.mirrors[ns] === undefined && !reg.configs[ns]?.tls && !caFile) continue; // auth only: no hosts.toml needed
    if (ns !== '*') {
      // The registry itself, last (k3s: "the default endpoint is always tried as a last resort").
      lines.push(`server = ${tomlString(ns === 'docker.io' ? 'https://registry-1.docker.io' : `https://${ns}`)}`);
      lines.push(...tlsLines(cfg(ns)?.tls, caFile, ''));
    } else {
      lines.push(...tlsLines(reg.configs['*']?.tls, caFile, ''));
    }
    if (ns !== '*' && !reg.mirrors[ns]?.length) {
      // No mirror: the registry itself as the one host. containerd 1.6 refuses a hosts.toml without
      // a [host] table ("invalid `host` tree", seen with Debian's 1.6.20 in the VM lab), so the
      // settings are given to an explicit host entry as well as to `server`.
      lines.push('', `[host.${tomlString(`https://${ns}`)}]`, '  capabilities = ["pull", "resolve", "push"]', ...tlsLines(cfg(ns)?.tls, caFile, '  '));
    }
    for (const ep of reg.mirrors[ns] ?? []) {
      const u = new URL(ep);
      lines.push('', `[host.${tomlString(ep)}]`, '  capabilities = ["pull", "resolve"]');
      if (u.pathname && u.pathname !== '/' && !/\/v2$/.test(u.pathname)) lines.push('  override_path = true');
      lines.push(...tlsLines(cfg(hostOf(ep))?.tls, caFile, '  '));
    }
    if (lines.length === 1) continue;
    files.push({
      path: `${HOSTS_DIR}/${namespaceDir(ns)}/hosts.toml`,
      mode: 0o644,
      why: `containerd hosts for ${ns === '*' ? 'every other registry (_default)' : ns}`,
      content: `${lines.join('\n')}\n`,
    });
  }
  const drop: string[] = [
    HEADER(source).trimEnd(),
    'version = 2',
    '',
    '[plugins."io.containerd.grpc.v1.cri".registry]',
    `  config_path = ${tomlString(HOSTS_DIR)}`,
  ];
  // Credentials per host that is contacted: every mirror endpoint's host and every registry.
  const hosts = new Set<string>([...Object.values(reg.mirrors).flat().map(hostOf), ...Object.keys(reg.mirrors), ...Object.keys(reg.configs)]);
  hosts.delete('*');
  let secret = false;
  for (const h of [...hosts].sort()) {
    const a = cfg(h)?.auth;
    if (!a) continue;
    secret = true;
    drop.push('', `[plugins."io.containerd.grpc.v1.cri".registry.configs.${tomlString(h)}.auth]`);
    for (const k of ['username', 'password', 'auth', 'identitytoken'] as const) if (a[k] !== undefined) drop.push(`  ${k} = ${tomlString(a[k])}`);
  }
  files.push({
    path: REGISTRIES_DROPIN,
    mode: 0o600,
    why: 'k0s containerd drop-in: the hosts directory and registry credentials',
    content: `${drop.join('\n')}\n`,
    ...(secret ? { secret } : {}),
  });
  return files;
}

/**
 * Reads and checks INITD_REGISTRIES_FILE: root's file, not writable by others; every TLS file it
 * names exists and is root's; a client key is not readable by others.
 */
export async function loadRegistries(host: Host, file: string): Promise<Registries> {
  const fix = `chown root:root ${file} && chmod 600 ${file}`;
  const st = await host.stat(file);
  if (!st?.isFile) {
    throw new AgentError(
      `${REGISTRIES_VARIABLE}=${file} does not exist or is not a file`,
      'give the path of a registries.yaml (k3s format), or unset the variable',
    );
  }
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new AgentError(
      `${REGISTRIES_VARIABLE}=${file} is ${st.uid !== 0 ? `owned by uid ${st.uid}` : `writable by group or others (mode ${st.mode.toString(8).padStart(4, '0')})`}: the agent trusts only root's files for registry configuration`,
      fix,
    );
  }
  const r = parseRegistries((await host.readFile(file)) ?? '', file);
  const hasCreds = Object.values(r.configs).some((c) => c.auth);
  if (hasCreds && (st.mode & 0o044) !== 0) {
    throw new AgentError(
      `${REGISTRIES_VARIABLE}=${file} holds registry credentials but is readable by other users (mode ${st.mode.toString(8).padStart(4, '0')})`,
      fix,
    );
  }
  for (const [h, c] of Object.entries(r.configs)) {
    for (const [k, p] of [['ca_file', c.tls?.caFile], ['cert_file', c.tls?.certFile], ['key_file', c.tls?.keyFile]] as const) {
      if (!p) continue;
      const s = await host.stat(p);
      const field = `configs."${h}".tls.${k}`;
      if (!s?.isFile) throw bad(field, `${p} does not exist`, 'give the absolute path of an existing PEM file');
      if (s.uid !== 0 || (s.mode & 0o022) !== 0) throw bad(field, `${p} is not root's or is writable by others`, `chown root:root ${p} && chmod go-w ${p}`);
      if (k === 'key_file' && (s.mode & 0o077) !== 0) {
        throw bad(field, `${p} is a private key readable by others (mode ${s.mode.toString(8).padStart(4, '0')})`, `chmod 600 ${p}`);
      }
    }
  }
  return r;
}

/**
 * Other drop-ins in /etc/k0s/containerd.d that set the CRI registry (a config_path of their own):
 * k0s merges every CRI drop-in, so two would silently override each other. Refused.
 */
export async function conflictingDropIns(host: Host): Promise<string[]> {
  const names = await host.readdir(CONTAINERD_DROPIN_DIR).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.filter((x) => x.endsWith('.toml'))) {
    const p = `${CONTAINERD_DROPIN_DIR}/${n}`;
    if (p === REGISTRIES_DROPIN) continue;
    const text = (await host.readFile(p).catch(() => undefined)) ?? '';
    if (/\bconfig_path\s*=/.test(text) || /grpc\.v1\.cri"?\.registry/.test(text)) out.push(p);
  }
  return out;
}
