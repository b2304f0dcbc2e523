/**
 * loadConfig: the one place the agent's configuration is read and validated.
 *
 * Order (docs/decisions/0010-config-precedence.md):
 *   1. the process environment (what systemd's EnvironmentFile= gives);
 *   2. the extra env file: `opts.envFile` (--env-file) if given, else
 *      INITD_EXTRA_ENV_FILE from the environment. Dotenv format, read through
 *      the Host port. For every variable it sets, THE FILE WINS (an empty value
 *      in the file unsets the variable).
 * Values are trimmed; an empty value means unset. All problems are collected
 * and thrown together as one ConfigError; nothing on the host is changed
 * (only reads: the env file, the CA file, the env file's mode).
 *
 * Run as root, every file and directory the agent trusts (the env file, INITD_CA_FILE,
 * INITD_STATE_DIR and what is in it, /etc/castai-edge-initd) must be root's alone, with every
 * directory above it (agent/config/trust.ts); otherwise a ConfigError names the path and the fix.
 */
import path from 'node:path';
import { loadRegistries, type Registries } from '../k0s/registries.ts';
import { parseLogFormat } from '../log/journal.ts';
import type { ConfigProblem } from '../errors.ts';
import { ConfigError } from '../errors.ts';
import type { Host } from '../host/host.ts';
import { registerSecret } from '../log/secrets.ts';
import { ENV_FILE_VARIABLE, readEnvFile } from './envfile.ts';
import { acceptedNames, KNOWN_NAMES, SECRET_VARIABLES } from './known.ts';
import { trustFindings, trustFindingsTree, trustMessage } from './trust.ts';
import { didYouMean, editDistance } from './suggest.ts';
import type { AgentConfig, ConfigSource, GpuConfig, ProxyConfig, Taint } from './types.ts';
import {
  parseAbsolutePath,
  parseApiUrl,
  parseGpuConfig,
  parseId,
  parseInterfaceName,
  parseLabels,
  parseLogLevel,
  parseNvmeDevices,
  parseProxy,
  parseStateDir,
  parseTaints,
  parseToken,
  PROXY_VARIABLES,
  type Parsed,
} from './validate.ts';

/** A ConfigError that also carries the warnings found on the way (e.g. a "did you mean" that explains an error). */
export class ConfigLoadError extends ConfigError {
  readonly warnings: string[];
  constructor(problems: ConfigProblem[], warnings: string[]) {
    super(problems);
    this.warnings = warnings;
  }
}

export interface LoadOptions {
  env: NodeJS.ProcessEnv;
  /** --env-file: wins over INITD_EXTRA_ENV_FILE. */
  envFile?: string;
}

/** The installer's directory: the unit's env file and the root-owned copy of the extra env file. */
export const CONFIG_DIR = '/etc/castai-edge-initd';

/** Non-INITD names whose near-misses we warn about when found in the environment. */
const NEAR_MISS_TARGETS = ['API_URL', 'ORG_ID', 'CLUSTER_ID', 'EDGE_LOCATION_ID', 'NVME_DEVICES'];

function unknownVariableWarnings(
  env: Record<string, string>,
  file: Record<string, string>,
  fileLines: Record<string, number>,
  envFile: string | undefined,
): string[] {
  const accepted = acceptedNames();
  const candidates = [...KNOWN_NAMES];
  const out: string[] = [];
  const mean = (name: string) => {
    const s = didYouMean(name, candidates);
    return s && s !== name ? `; did you mean ${s}?` : '';
  };
  for (const name of Object.keys(env).sort()) {
    if (accepted.has(name) || name in file) continue;
    if (name.startsWith('INITD_') || name.startsWith('initd_')) {
      out.push(`unknown variable ${name} in the environment is ignored${mean(name)}`);
    } else if (name.length >= 6) {
      // Only a close typo (edit distance <= 2) of a variable that is not set itself.
      const near = NEAR_MISS_TARGETS.find((t) => t !== name && !(env[t] ?? file[t]) && editDistance(name.toUpperCase(), t) <= 2);
      if (near) out.push(`variable ${name} in the environment is not used by the agent; did you mean ${near}?`);
    }
    if (name === 'ALL_PROXY' || name === 'all_proxy') out.push(`${name} is not used by the agent; set HTTPS_PROXY (and HTTP_PROXY) instead`);
  }
  for (const name of Object.keys(file).sort()) {
    if (accepted.has(name)) continue;
    out.push(`unknown variable ${name} in env file ${envFile} (line ${fileLines[name] ?? '?'}) is ignored${mean(name)}`);
  }
  return out;
}

/**
 * Loads and validates the configuration. Throws ConfigError with ALL
 * problems found (a missing env file stops early: nothing else can be judged).
 */
export async function loadConfig(host: Host, opts: LoadOptions): Promise<AgentConfig> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (typeof v === 'string') env[k] = v;

  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];

  // Trust checks apply to root (a user's own command may read that user's files).
  const uid = (await host.system()).uid;
  const untrusted = async (variable: string, what: string, target: string, tree = false): Promise<ConfigProblem | undefined> => {
    if (uid !== 0) return undefined;
    const findings = tree ? await trustFindingsTree(host, target, { uid }) : await trustFindings(host, target, { uid });
    if (!findings.length) return undefined;
    return { variable, item: target, message: trustMessage(what, target, findings, tree ? undefined : CONFIG_DIR) };
  };

  // 1. The extra env file.
  const envFile = opts.envFile ?? (env[ENV_FILE_VARIABLE]?.trim() || undefined);
  let file: Record<string, string> = {};
  let fileLines: Record<string, number> = {};
  if (envFile !== undefined) {
    const variable = opts.envFile !== undefined ? '--env-file' : ENV_FILE_VARIABLE;
    const distrust = await untrusted(variable, 'env file', path.resolve(envFile));
    if (distrust) throw new ConfigError([distrust]);
    const content = await readEnvFile(host, envFile, variable);
    if (content.problems.length) throw new ConfigError(content.problems);
    file = content.vars;
    fileLines = content.lines;
    warnings.push(...content.warnings);
    if (file[ENV_FILE_VARIABLE] !== undefined && file[ENV_FILE_VARIABLE] !== envFile) {
      warnings.push(`${ENV_FILE_VARIABLE} set inside env file ${envFile} is ignored (env files are not chained)`);
    }
    // Secrets in a world-readable file.
    const secretsInFile = Object.keys(file).filter((k) => SECRET_VARIABLES.has(k) && file[k]!.trim() !== '');
    const proxyCreds = PROXY_VARIABLES.flatMap((n) => [n, n.toLowerCase()]).filter((k) => /:\/\/[^/@]*:[^/@]*@/.test(file[k] ?? ''));
    if (secretsInFile.length || proxyCreds.length) {
      const st = await host.stat(envFile).catch(() => undefined);
      if (st && (st.mode & 0o077) !== 0) {
        warnings.push(
          `env file ${envFile} holds secrets (${[...secretsInFile, ...proxyCreds].join(', ')}) but is readable by other users (mode ${st.mode.toString(8).padStart(4, '0')}); run: chmod 600 ${envFile}`,
        );
      }
    }
  }

  // 2. Merge: environment, then the file wins.
  const merged: Record<string, string> = { ...env, ...file };
  const sources: Record<string, ConfigSource> = {};
  const sourceOf = (name: string): ConfigSource | undefined => (name in file ? 'env-file' : name in env ? 'environment' : undefined);
  const get = (name: string): string => merged[name] ?? '';
  const where = (name: string) => (sourceOf(name) === 'env-file' ? ` (in ${envFile})` : '');

  const take = <T>(names: string | readonly string[], r: Parsed<T>, fallback: T): T => {
    if (r.ok) return r.value;
    for (const p of r.problems) {
      const n = (typeof names === 'string' ? [names] : names).find((x) => p.variable.toUpperCase().startsWith(x)) ?? p.variable;
      problems.push({ ...p, message: `${p.message}${where(n)}` });
    }
    return fallback;
  };
  /** Record the source of a variable that is set (non-empty), or 'default' when it has one. */
  const note = (name: string, hasDefault: boolean, ...spellings: string[]) => {
    for (const s of [name, ...spellings]) {
      const src = sourceOf(s);
      if (src && merged[s]!.trim() !== '') {
        sources[name] = src;
        return;
      }
    }
    if (hasDefault) sources[name] = 'default';
  };

  // Secrets first, so that any later message or log line is scrubbed.
  const rawToken = get('INITD_BOOTSTRAP_TOKEN').trim();
  registerSecret(rawToken);
  for (const n of PROXY_VARIABLES.slice(0, 2).flatMap((x) => [x, x.toLowerCase()])) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/@:]*:([^/@]+)@/i.exec(get(n).trim());
    if (m) {
      registerSecret(m[1]);
      try {
        registerSecret(decodeURIComponent(m[1]!));
      } catch {
        /* not percent-encoded */
      }
    }
  }

  const apiUrl = take('API_URL', parseApiUrl(get('API_URL')), '');
  note('API_URL', true);
  const orgId = take('ORG_ID', parseId(get('ORG_ID'), 'ORG_ID'), undefined);
  note('ORG_ID', false);
  const clusterId = take('CLUSTER_ID', parseId(get('CLUSTER_ID'), 'CLUSTER_ID'), undefined);
  note('CLUSTER_ID', false);
  const edgeLocationId = take('EDGE_LOCATION_ID', parseId(get('EDGE_LOCATION_ID'), 'EDGE_LOCATION_ID'), undefined);
  note('EDGE_LOCATION_ID', false);
  const bootstrapToken = take('INITD_BOOTSTRAP_TOKEN', parseToken(rawToken), undefined);
  note('INITD_BOOTSTRAP_TOKEN', false);

  const caFile = take('INITD_CA_FILE', parseAbsolutePath(get('INITD_CA_FILE'), 'INITD_CA_FILE', 'the CA bundle'), undefined);
  note('INITD_CA_FILE', false);
  if (caFile !== undefined) {
    let pem: string | undefined;
    let err: string | undefined;
    try {
      pem = await host.readFile(caFile);
    } catch (e) {
      err = (e as NodeJS.ErrnoException).code ?? String(e);
    }
    const fail = (message: string) => problems.push({ variable: 'INITD_CA_FILE', item: caFile, message: `${message}${where('INITD_CA_FILE')}` });
    if (err) {
      fail(`${JSON.stringify(caFile)} cannot be read (${err}); give a readable PEM file with the CA certificate(s)`);
    } else if (pem === undefined) {
      fail(`${JSON.stringify(caFile)} does not exist; give the path of a PEM file with the CA certificate(s) that signed the API's TLS certificate`);
    } else if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      fail(
        `${JSON.stringify(caFile)} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give a PEM bundle (convert DER with: openssl x509 -inform der -in ca.der -out ca.pem)`,
      );
    } else {
      const distrust = await untrusted('INITD_CA_FILE', 'CA bundle', caFile);
      if (distrust) problems.push({ ...distrust, message: `${distrust.message}${where('INITD_CA_FILE')}` });
    }
  }

  const stateDir = take('INITD_STATE_DIR', parseStateDir(get('INITD_STATE_DIR')), '');
  note('INITD_STATE_DIR', true);
  if (stateDir) {
    const distrust = await untrusted('INITD_STATE_DIR', 'state directory (or a file in it)', stateDir, true);
    if (distrust) problems.push({ ...distrust, message: `${distrust.message}${where('INITD_STATE_DIR')}` });
  }
  // The installer's directory (the unit's EnvironmentFile and the extra env copy), when there is one.
  if ((await host.stat(CONFIG_DIR)) !== undefined) {
    const distrust = await untrusted(CONFIG_DIR, 'configuration directory (or a file in it)', CONFIG_DIR, true);
    if (distrust) problems.push(distrust);
  }
  const labels = take<Record<string, string>>('INITD_KUBERNETES_LABELS', parseLabels(get('INITD_KUBERNETES_LABELS')), {});
  note('INITD_KUBERNETES_LABELS', false);
  const taints = take<Taint[]>('INITD_KUBERNETES_TAINTS', parseTaints(get('INITD_KUBERNETES_TAINTS')), []);
  note('INITD_KUBERNETES_TAINTS', false);
  const gpu = take<GpuConfig | undefined>('INITD_GPU_CONFIG', parseGpuConfig(get('INITD_GPU_CONFIG')), undefined);
  note('INITD_GPU_CONFIG', false);
  const proxy = take<ProxyConfig>(PROXY_VARIABLES, parseProxy(merged), {});
  for (const n of PROXY_VARIABLES) note(n, false, n.toLowerCase());
  const nvmeDevices = take<string[] | undefined>('NVME_DEVICES', parseNvmeDevices(get('NVME_DEVICES')), undefined);
  note('NVME_DEVICES', false);
  const wireguardInterface = take('INITD_WIREGUARD_INTERFACE', parseInterfaceName(get('INITD_WIREGUARD_INTERFACE')), '');
  note('INITD_WIREGUARD_INTERFACE', true);
  const logLevel = take('INITD_LOG_LEVEL', parseLogLevel(get('INITD_LOG_LEVEL')), 'info');
  note('INITD_LOG_LEVEL', true);
  const registriesFile = take(
    'INITD_REGISTRIES_FILE',
    parseAbsolutePath(get('INITD_REGISTRIES_FILE'), 'INITD_REGISTRIES_FILE', 'the registries file'),
    undefined,
  );
  note('INITD_REGISTRIES_FILE', false);
  let registries: Registries | undefined;
  if (registriesFile !== undefined) {
    try {
      registries = await loadRegistries(host, registriesFile);
    } catch (e) {
      const err = e as { message: string; remediation?: string };
      problems.push({ variable: 'INITD_REGISTRIES_FILE', item: registriesFile, message: `${err.message.replace(/^INITD_REGISTRIES_FILE(=\S+)?:? ?/, '')}${err.remediation ? `; fix: ${err.remediation}` : ''}${where('INITD_REGISTRIES_FILE')}` });
    }
  }
  const logFormat = take('INITD_LOG_FORMAT', parseLogFormat(get('INITD_LOG_FORMAT')), 'auto');
  note('INITD_LOG_FORMAT', false);
  // From --env-file the path has no variable source (config.envFile shows it).
  if (envFile !== undefined && opts.envFile === undefined) sources[ENV_FILE_VARIABLE] = 'environment';

  warnings.push(...unknownVariableWarnings(env, file, fileLines, envFile));
  // No warning for a proxy without NO_PROXY: the k0s step adds the pod/service
  // CIDRs, the WireGuard subnet, .svc, .cluster.local and localhost itself.

  if (problems.length) throw new ConfigLoadError(problems, warnings);

  return {
    apiUrl,
    ...(orgId !== undefined ? { orgId } : {}),
    ...(clusterId !== undefined ? { clusterId } : {}),
    ...(edgeLocationId !== undefined ? { edgeLocationId } : {}),
    ...(bootstrapToken !== undefined ? { bootstrapToken } : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    stateDir,
    labels,
    taints,
    ...(gpu !== undefined ? { gpu } : {}),
    proxy,
    ...(nvmeDevices !== undefined ? { nvmeDevices } : {}),
    wireguardInterface,
    logLevel,
    ...(logFormat !== 'auto' ? { logFormat } : {}),
    ...(registriesFile !== undefined ? { registriesFile } : {}),
    ...(registries !== undefined ? { registries } : {}),
    ...(envFile !== undefined ? { envFile } : {}),
    sources,
    warnings,
  };
}

/** The AgentConfig fields the registration/run path needs, with their variables. */
const REQUIRED_FOR_REGISTRATION = [
  ['orgId', 'ORG_ID'],
  ['clusterId', 'CLUSTER_ID'],
  ['edgeLocationId', 'EDGE_LOCATION_ID'],
  ['bootstrapToken', 'INITD_BOOTSTRAP_TOKEN'],
] as const;

/**
 * Throws ConfigError listing every variable `run` needs to register that is
 * unset. `config`, `doctor` and `plan` work without them.
 */
export function requireForRegistration(
  cfg: AgentConfig,
  needed: ReadonlyArray<(typeof REQUIRED_FOR_REGISTRATION)[number][0]> = REQUIRED_FOR_REGISTRATION.map((x) => x[0]),
): void {
  const missing = REQUIRED_FOR_REGISTRATION.filter(([f]) => needed.includes(f) && !cfg[f]);
  if (missing.length) {
    throw new ConfigError(
      missing.map(([, v]) => ({
        variable: v,
        item: '',
        message: `is not set; the install script sets it in /etc/castai-edge-initd/castai-edge-initd.env (re-run the install one-liner from the console, or set ${v} in INITD_EXTRA_ENV_FILE)`,
      })),
    );
  }
}
