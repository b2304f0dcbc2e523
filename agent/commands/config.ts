/**
 * `castai-edge-initd config [--env-file F] [--json]`: validates the
 * configuration and prints the effective value and source of every variable,
 * secrets masked. Exit 0 when valid, 2 (via reportFatal) on a ConfigError.
 * Reads only; never changes the host.
 */
import { ConfigError, EXIT } from '../errors.ts';
import { loadConfig, requireForRegistration } from '../config/load.ts';
import { KNOWN_VARIABLES } from '../config/known.ts';
import { maskedConfig } from '../config/mask.ts';
import type { AgentConfig, ConfigSource } from '../config/types.ts';
import { formatLabels, formatTaints } from '../config/validate.ts';
import { scrub } from '../log/secrets.ts';
import type { CommandContext } from './context.ts';
import { reportFatal } from './fatal.ts';

export interface ConfigOptions {
  json?: boolean;
  envFile?: string;
}

export interface VariableRow {
  name: string;
  /** Where the value came from; null when unset without a default. */
  source: ConfigSource | '--env-file' | null;
  /** The effective (normalized, masked) value; null when unset. */
  value: string | null;
  /** What an unset variable means, e.g. "auto-discover all non-root NVMe disks". */
  note?: string;
  secret?: boolean;
}

const UNSET_NOTES: Record<string, string> = {
  ORG_ID: 'needed by `run` to register',
  CLUSTER_ID: 'needed by `run` to register',
  EDGE_LOCATION_ID: 'needed by `run` to register',
  INITD_BOOTSTRAP_TOKEN: 'needed by `run` to register',
  INITD_CA_FILE: 'system CAs only',
  INITD_KUBERNETES_LABELS: 'no extra labels',
  INITD_KUBERNETES_TAINTS: 'no taints',
  INITD_GPU_CONFIG: 'MIG left as it is',
  HTTP_PROXY: 'no proxy',
  HTTPS_PROXY: 'no proxy',
  NO_PROXY: 'nothing excluded',
  NVME_DEVICES: 'auto-discover all non-root NVMe disks',
  INITD_EXTRA_ENV_FILE: 'no extra env file',
};

/** One row per known variable, from a masked config. */
export function variableRows(cfg: AgentConfig, fromFlag: boolean): VariableRow[] {
  const m = maskedConfig(cfg);
  const value: Record<string, string | undefined> = {
    API_URL: m.apiUrl,
    ORG_ID: m.orgId,
    CLUSTER_ID: m.clusterId,
    EDGE_LOCATION_ID: m.edgeLocationId,
    INITD_BOOTSTRAP_TOKEN: m.bootstrapToken,
    INITD_CA_FILE: m.caFile,
    INITD_STATE_DIR: m.stateDir,
    INITD_KUBERNETES_LABELS: Object.keys(m.labels).length ? formatLabels(m.labels) : undefined,
    INITD_KUBERNETES_TAINTS: m.taints.length ? formatTaints(m.taints) : undefined,
    INITD_GPU_CONFIG: m.gpu ? JSON.stringify(m.gpu) : undefined,
    HTTP_PROXY: m.proxy.httpProxy,
    HTTPS_PROXY: m.proxy.httpsProxy,
    NO_PROXY: m.proxy.noProxy,
    NVME_DEVICES: m.nvmeDevices?.join(' '),
    INITD_WIREGUARD_INTERFACE: m.wireguardInterface,
    INITD_LOG_LEVEL: m.logLevel,
    INITD_LOG_FORMAT: cfg.logFormat ?? 'auto',
    INITD_REGISTRIES_FILE: cfg.registriesFile,
    INITD_EXTRA_ENV_FILE: m.envFile,
  };
  return KNOWN_VARIABLES.map((v) => {
    const val = value[v.name];
    const source = v.name === 'INITD_EXTRA_ENV_FILE' && fromFlag && val !== undefined ? '--env-file' : (cfg.sources[v.name] ?? null);
    return {
      name: v.name,
      source: val === undefined ? null : source,
      value: val ?? null,
      ...(val === undefined && UNSET_NOTES[v.name] ? { note: UNSET_NOTES[v.name] } : {}),
      ...(v.secret ? { secret: true } : {}),
    };
  });
}

function missingForRegistration(cfg: AgentConfig): string[] {
  try {
    requireForRegistration(cfg);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => p.variable);
    throw e;
  }
}

export function renderText(cfg: AgentConfig, rows: VariableRow[]): string {
  const w1 = Math.max(...rows.map((r) => r.name.length), 'VARIABLE'.length);
  const w2 = Math.max(...rows.map((r) => (r.source ?? '-').length), 'SOURCE'.length);
  const lines: string[] = [];
  lines.push(
    cfg.envFile
      ? `Effective configuration: the environment, then env file ${cfg.envFile} (the file wins).`
      : 'Effective configuration: the environment (no extra env file).',
  );
  lines.push('');
  lines.push(`${'VARIABLE'.padEnd(w1)}  ${'SOURCE'.padEnd(w2)}  VALUE`);
  for (const r of rows) {
    const shown = r.value ?? `(unset${r.note ? `: ${r.note}` : ''})`;
    lines.push(`${r.name.padEnd(w1)}  ${(r.source ?? '-').padEnd(w2)}  ${shown}`);
  }
  if (cfg.warnings.length) {
    lines.push('', `warnings (${cfg.warnings.length}):`);
    for (const w of cfg.warnings) lines.push(`  - ${w}`);
  }
  const missing = missingForRegistration(cfg);
  lines.push('');
  lines.push(
    missing.length
      ? `OK: the configuration is valid. Not set yet (needed by \`run\` to register): ${missing.join(', ')}.`
      : 'OK: the configuration is valid.',
  );
  return lines.join('\n');
}

export default async function config(ctx: CommandContext, opts: ConfigOptions = {}): Promise<number> {
  const json = Boolean(opts.json ?? ctx.json);
  const envFile = opts.envFile ?? ctx.envFile;
  let cfg: AgentConfig;
  try {
    cfg = await loadConfig(ctx.host, { env: ctx.env, ...(envFile !== undefined ? { envFile } : {}) });
  } catch (e) {
    if (e instanceof ConfigError) return reportFatal({ ...ctx, json }, e);
    throw e;
  }
  const rows = variableRows(cfg, envFile !== undefined);
  if (json) {
    const { sources: _s, warnings, ...rest } = maskedConfig(cfg);
    ctx.out(
      scrub(
        JSON.stringify(
          { ok: true, envFile: cfg.envFile ?? null, variables: rows, config: rest, warnings, missingForRegistration: missingForRegistration(cfg) },
          null,
          2,
        ),
      ),
    );
  } else {
    ctx.out(scrub(renderText(cfg, rows)));
  }
  return EXIT.OK;
}
