/**
 * Pure validators for every configuration variable. Each returns either the
 * parsed value or the list of problems; none touches the host, none throws.
 * They are exported one by one for the table-driven tests and the fuzzers.
 *
 * Every problem names the variable, the offending item (quoted) and what
 * would be valid. Secret values are never echoed.
 *
 * Kubernetes rules follow k8s.io/apimachinery/pkg/util/validation
 * (IsQualifiedName, IsValidLabelValue, IsDNS1123Subdomain) and the kubelet's
 * `--node-labels` restriction (k8s.io/kubelet well-known labels).
 */
import { isIP } from 'node:net';
import path from 'node:path';
import type { ConfigProblem } from '../errors.ts';
import { DEFAULT_STATE_DIR } from '../state/files.ts';
import { DEFAULT_API_URL, DEFAULT_LOG_LEVEL, DEFAULT_WIREGUARD_INTERFACE } from './known.ts';
import { didYouMean, hint } from './suggest.ts';
import { LOG_LEVELS, TAINT_EFFECTS, type GpuConfig, type ProxyConfig, type Taint, type TaintEffect } from './types.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(problems: ConfigProblem[]): Parsed<T> => ({ ok: false, problems });
const problem = (variable: string, item: string, message: string): ConfigProblem => ({ variable, item, message });

/** Quote an operator's value for a message, shortened and with control characters made visible. */
export function q(s: string, max = 80): string {
  const t = s.length > max ? `${s.slice(0, max - 1)}…` : s;
  return JSON.stringify(t);
}

/** The characters of `s` that are not matched by `allowed`, each once, for messages. */
function badChars(s: string, allowed: RegExp): string {
  const seen = new Set<string>();
  for (const ch of s) if (!allowed.test(ch)) seen.add(ch);
  return [...seen].map((c) => JSON.stringify(c)).join(', ');
}

// ---------------------------------------------------------------------------
// Kubernetes names (apimachinery validation)

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_RE = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`);
const QUALIFIED_NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const NAME_CHAR = /[-A-Za-z0-9_.]/;
const NAME_RULE = "1-63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
const VALUE_RULE = "empty, or at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
const PREFIX_RULE = "a lowercase DNS subdomain of at most 253 characters (letters a-z, digits, '-' and '.', each part starting and ending with a letter or digit), e.g. example.com";

/** Reasons a DNS-1123 subdomain is invalid (empty when valid). */
export function dns1123SubdomainErrors(s: string): string[] {
  const errs: string[] = [];
  if (s.length > 253) errs.push(`is ${s.length} characters long; at most 253 are allowed`);
  if (!DNS1123_SUBDOMAIN_RE.test(s)) {
    if (/[A-Z]/.test(s) && DNS1123_SUBDOMAIN_RE.test(s.toLowerCase())) errs.push(`must be lowercase (write ${q(s.toLowerCase())})`);
    else {
      const bad = badChars(s, /[-a-z0-9.]/);
      errs.push(`${bad ? `contains ${bad}; ` : ''}must be ${PREFIX_RULE}`);
    }
  }
  return errs;
}

/** Reasons a qualified name (label or taint key: `[prefix/]name`) is invalid (empty when valid). */
export function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) return [`has ${parts.length - 1} '/' characters; a key is [prefix/]name with at most one '/'`];
  let name = key;
  const errs: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix === '') errs.push("has an empty prefix before '/'; drop the '/' or write a prefix like example.com/");
    else for (const e of dns1123SubdomainErrors(prefix)) errs.push(`prefix ${q(prefix)} ${e}`);
  }
  if (name === '') errs.push(`has an empty name; the name is ${NAME_RULE}`);
  else {
    if (name.length > 63) errs.push(`name ${q(name)} is ${name.length} characters long; at most 63 are allowed`);
    if (!QUALIFIED_NAME_RE.test(name)) {
      const bad = badChars(name, NAME_CHAR);
      errs.push(`name ${q(name)} ${bad ? `contains ${bad}` : 'must start and end with a letter or digit'}; the name is ${NAME_RULE}`);
    }
  }
  return errs;
}

/** Reasons a label (or taint) value is invalid (empty when valid). */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(`value ${q(value)} is ${value.length} characters long; at most 63 are allowed`);
  if (!LABEL_VALUE_RE.test(value)) {
    const bad = badChars(value, NAME_CHAR);
    errs.push(`value ${q(value)} ${bad ? `contains ${bad}` : 'must start and end with a letter or digit'}; a value is ${VALUE_RULE}`);
  }
  return errs;
}

/** Labels a kubelet may set on its own Node (k8s.io/kubelet: kubeletLabels). */
export const KUBELET_ALLOWED_LABELS: ReadonlySet<string> = new Set([
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/instance-type',
  'beta.kubernetes.io/os',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'kubernetes.io/arch',
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'node.kubernetes.io/instance-type',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);
/** Label namespaces (and their subdomains) a kubelet may set (kubeletLabelNamespaces). */
export const KUBELET_ALLOWED_NAMESPACES: readonly string[] = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

function labelNamespace(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? '' : key.slice(0, i);
}
const inDomain = (ns: string, domain: string) => ns === domain || ns.endsWith(`.${domain}`);

/** True when the key is in the reserved kubernetes.io / k8s.io namespaces (or a subdomain of them). */
export function isReservedLabelKey(key: string): boolean {
  const ns = labelNamespace(key);
  return inDomain(ns, 'kubernetes.io') || inDomain(ns, 'k8s.io');
}

/** True when a kubelet may set this label on its own Node (the kubelet's `--node-labels` rule). */
export function isKubeletAllowedLabel(key: string): boolean {
  if (KUBELET_ALLOWED_LABELS.has(key)) return true;
  const ns = labelNamespace(key);
  return KUBELET_ALLOWED_NAMESPACES.some((d) => inDomain(ns, d));
}

/** Why a reserved key may not be set from the node, with the fix; undefined when allowed. */
export function reservedLabelError(key: string): string | undefined {
  if (!isReservedLabelKey(key) || isKubeletAllowedLabel(key)) return undefined;
  const ns = labelNamespace(key);
  if (ns === 'node-role.kubernetes.io') {
    return (
      `key ${q(key)} cannot be set from the node: the kubelet refuses node-role.kubernetes.io/ labels ` +
      `(and the NodeRestriction admission plugin forbids them). Label the node from the control plane instead ` +
      `(kubectl label node <name> ${key}=), or use an allowed key such as node.kubernetes.io/role=${key.slice(ns.length + 1) || 'worker'}`
    );
  }
  if (inDomain(ns, 'node-restriction.kubernetes.io')) {
    return `key ${q(key)} is reserved for labels only the control plane may set (node-restriction.kubernetes.io/); set it with kubectl from the control plane`;
  }
  return (
    `key ${q(key)} uses the reserved ${inDomain(ns, 'k8s.io') ? 'k8s.io' : 'kubernetes.io'} prefix, which a kubelet may not set: ` +
    `allowed are keys under kubelet.kubernetes.io/ or node.kubernetes.io/ (and their subdomains), or exactly one of ` +
    `${[...KUBELET_ALLOWED_LABELS].join(', ')}; use your own prefix instead, e.g. example.com/${key.slice(ns.length + 1)}`
  );
}

/**
 * Reasons one node label is invalid (empty when valid): the key as a qualified name, the kubelet's
 * reserved-prefix rule, the value. The one home of the label rules: INITD_KUBERNETES_LABELS and
 * the labels the control plane sends (agent/api/types.ts) both use it.
 */
export function labelErrors(key: string, value: string): string[] {
  const errs = qualifiedNameErrors(key).map((e) => `key ${q(key)} ${e}`);
  if (errs.length === 0) {
    const r = reservedLabelError(key);
    if (r) errs.push(r);
  }
  return [...errs, ...labelValueErrors(value)];
}

/** Reasons one taint is invalid (empty when valid): key and value by the label rules, the effect (case-sensitive). */
export function taintErrors(key: string, value: string | undefined, effect: string): string[] {
  const errs = qualifiedNameErrors(key).map((e) => `key ${q(key)} ${e}`);
  if (value !== undefined) errs.push(...labelValueErrors(value));
  if (!(TAINT_EFFECTS as readonly string[]).includes(effect)) errs.push(`effect ${q(effect)} is not one of ${TAINT_EFFECTS.join(', ')}`);
  return errs;
}

/** Reasons a Node name is invalid (empty when valid): a DNS-1123 subdomain (apimachinery ValidateNodeName). */
export function nodeNameErrors(name: string): string[] {
  return dns1123SubdomainErrors(name);
}

/**
 * A node's provider ID (the kubelet's --provider-id, `<scheme>://<id>` as cloud providers write it:
 * `aws:///us-east-1a/i-0abc`, `gce://p/z/n`, `castai-omni://<edge id>`): a scheme, then URI
 * characters only — no whitespace, quotes or shell characters (it travels inside the
 * space-separated --kubelet-extra-args). At most 512 characters.
 */
export const PROVIDER_ID_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[A-Za-z0-9._~:/@%+=,-]*$/;
export function providerIdErrors(id: string): string[] {
  if (id.length > 512) return [`is ${id.length} characters long; at most 512 are allowed`];
  if (!PROVIDER_ID_RE.test(id)) return [`${q(id)} is not <scheme>://<id> of letters, digits and ._~:/@%+=,- (e.g. castai-omni://<edge id>)`];
  return [];
}

/** Split a comma list into trimmed, non-empty items (empty items such as a trailing comma are ignored, as the kubelet does). */
function commaItems(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * INITD_KUBERNETES_LABELS: `key=value,key2=value2`. Whitespace around items,
 * keys and values is ignored; empty items are skipped; every item needs '='
 * (write `key=` for an empty value); a key may appear once.
 */
export function parseLabels(raw: string, variable = 'INITD_KUBERNETES_LABELS'): Parsed<Record<string, string>> {
  const labels: Record<string, string> = {};
  const seen = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  for (const item of commaItems(raw)) {
    const eq = item.indexOf('=');
    if (eq < 0) {
      const colon = item.indexOf(':');
      problems.push(
        problem(
          variable,
          item,
          colon >= 0
            ? `${q(item)} uses ':'; labels are key=value, write ${q(`${item.slice(0, colon).trim()}=${item.slice(colon + 1).trim()}`)}`
            : `${q(item)} has no '='; labels are key=value (an empty value is written ${q(`${item}=`)})`,
        ),
      );
      continue;
    }
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    const errs: string[] = [];
    if (key === '') errs.push(`has an empty key; write key=value, e.g. env=${value || 'prod'}`, ...labelValueErrors(value));
    else errs.push(...labelErrors(key, value));
    if (key !== '' && seen.has(key)) errs.push(`key ${q(key)} is given twice (${q(seen.get(key)!)} and ${q(item)}); give each key once`);
    if (errs.length) {
      for (const e of errs) problems.push(problem(variable, item, `${q(item)}: ${e}`));
      continue;
    }
    seen.set(key, item);
    labels[key] = value;
  }
  return problems.length ? fail(problems) : ok(labels);
}

/** `k=v,k2=v2` for `k0s install worker --labels=` (inverse of parseLabels). */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Suggest the right effect for a wrong one (case or typo). */
function effectHint(effect: string): string {
  const exact = TAINT_EFFECTS.find((e) => e.toLowerCase() === effect.toLowerCase());
  if (exact) return `effects are case-sensitive: write ${q(exact)}`;
  const guess = didYouMean(effect, TAINT_EFFECTS);
  return `${guess ? `did you mean ${q(guess)}? ` : ''}the effect is one of ${TAINT_EFFECTS.join(', ')}`;
}

/**
 * INITD_KUBERNETES_TAINTS: `key=value:Effect` or `key:Effect`, comma-separated.
 * Key and value follow the label rules; Effect is case-sensitive; a
 * (key, effect) pair may appear once (the API server's rule).
 */
export function parseTaints(raw: string, variable = 'INITD_KUBERNETES_TAINTS'): Parsed<Taint[]> {
  const taints: Taint[] = [];
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, string>();
  for (const item of commaItems(raw)) {
    const colon = item.lastIndexOf(':');
    if (colon < 0) {
      problems.push(problem(variable, item, `${q(item)} has no effect; write ${q(`${item}:NoSchedule`)} (the effect is one of ${TAINT_EFFECTS.join(', ')})`));
      continue;
    }
    const left = item.slice(0, colon).trim();
    const effect = item.slice(colon + 1).trim();
    const eq = left.indexOf('=');
    const key = (eq < 0 ? left : left.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : left.slice(eq + 1).trim();
    const errs: string[] = [];
    if (effect === '') errs.push(`has an empty effect after ':'; the effect is one of ${TAINT_EFFECTS.join(', ')}`);
    else if (!(TAINT_EFFECTS as readonly string[]).includes(effect)) errs.push(`effect ${q(effect)} is not valid; ${effectHint(effect)}`);
    if (key === '') errs.push("has an empty key; a taint is key=value:Effect or key:Effect, e.g. dedicated=gpu:NoSchedule");
    else errs.push(...qualifiedNameErrors(key).map((e) => `key ${q(key)} ${e}`));
    if (value !== undefined) errs.push(...labelValueErrors(value));
    const id = `${key}:${effect}`;
    if (errs.length === 0 && seen.has(id)) {
      errs.push(`repeats key ${q(key)} with effect ${effect} (already in ${q(seen.get(id)!)}); each key+effect pair may appear once`);
    }
    if (errs.length) {
      for (const e of errs) problems.push(problem(variable, item, `${q(item)}: ${e}`));
      continue;
    }
    seen.set(id, item);
    taints.push({ key, ...(value ? { value } : {}), effect: effect as TaintEffect });
  }
  return problems.length ? fail(problems) : ok(taints);
}

/** `k=v:Effect,k2:Effect` for `k0s install worker --taints=` (inverse of parseTaints). */
export function formatTaints(taints: readonly Taint[]): string {
  return taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(',');
}

// ---------------------------------------------------------------------------
// GPU

export const MIG_SIZE_RE = /^\d+g\.\d+gb(\+me)?$/;
const MIG_EXAMPLE = '{"mig":{"partitionSizes":["1g.5gb"]}}';

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * Where JSON.parse fails, for V8 messages that carry no position
 * ("Unexpected token ']', ..."): the first prefix that fails for a reason
 * other than ending too early. Short inputs only (config values).
 */
function errorPosition(raw: string): number | undefined {
  if (raw.length > 4096) return undefined;
  for (let i = 1; i <= raw.length; i++) {
    try {
      JSON.parse(raw.slice(0, i));
    } catch (e) {
      const msg = e instanceof Error ? e.message : '';
      const at = /position (\d+)/.exec(msg);
      const endsEarly = /end of JSON input/i.test(msg) || (at !== null && Number(at[1]) >= i);
      if (!endsEarly) return at ? Number(at[1]) : i - 1;
    }
  }
  return undefined;
}

/** Position info for a JSON.parse error: ` at line L column C: …near…` */
function jsonErrorDetail(raw: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /position (\d+)/.exec(msg);
  const base = msg.replace(/^JSON\.parse: /, '');
  const pos = m ? Number(m[1]) : errorPosition(raw);
  if (pos === undefined) return base;
  const start = Math.max(0, pos - 20);
  const before = `${start > 0 ? '…' : ''}${raw.slice(start, pos)}`;
  if (pos >= raw.length) return `${base}; the input ends too early: ${before}⟨here⟩`;
  const after = `${raw.slice(pos, pos + 20)}${pos + 20 < raw.length ? '…' : ''}`;
  return `${base}${m ? '' : ` (position ${pos})`}; at ${before}⟨here⟩${after}`;
}

function migSizeError(s: string): string {
  if (MIG_SIZE_RE.test(s.toLowerCase())) return `${q(s)} must be lowercase: write ${q(s.toLowerCase())}`;
  const t = s.replace(/\s+/g, '');
  if (t !== s && MIG_SIZE_RE.test(t)) return `${q(s)} contains spaces: write ${q(t)}`;
  if (/^\d+g\.\d+gb\+/.test(s)) return `${q(s)} has an unsupported suffix; only "+me" (media extensions) is accepted, e.g. "1g.10gb+me"`;
  if (/^\d+g\.\d+(g|gib)?$/i.test(s)) return `${q(s)} must end in "gb", e.g. ${q(`${s.replace(/(g|gib)?$/i, '')}gb`)}`;
  if (/^\d+g\d+gb$/i.test(s)) return `${q(s)} lacks the '.' between slices and memory, e.g. ${q(s.replace(/^(\d+g)(\d+gb)$/i, '$1.$2').toLowerCase())}`;
  return `${q(s)} is not a MIG profile size; write <n>g.<m>gb with an optional +me, e.g. "1g.5gb", "3g.40gb", "1g.10gb+me"`;
}

/**
 * INITD_GPU_CONFIG: JSON `{"mig":{"partitionSizes":["1g.5gb", ...]}}`.
 * Empty or blank means "not configured" (undefined). Unknown keys are errors
 * naming their JSON path; the problem's `variable` is that path
 * (e.g. `INITD_GPU_CONFIG.mig.partitionSize`).
 */
export function parseGpuConfig(raw: string, variable = 'INITD_GPU_CONFIG'): Parsed<GpuConfig | undefined> {
  const text = raw.trim();
  if (text === '') return ok(undefined);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const hintQuote = /^\{\s*'|^\{\s*[A-Za-z_]/.test(text) ? ' (JSON needs double quotes around keys and strings)' : '';
    return fail([problem(variable, text, `invalid JSON: ${jsonErrorDetail(text, e)}${hintQuote}; expected e.g. ${MIG_EXAMPLE}`)]);
  }
  if (!isPlainObject(doc)) return fail([problem(variable, text, `must be a JSON object, got ${jsonType(doc)}; e.g. ${MIG_EXAMPLE}`)]);
  const problems: ConfigProblem[] = [];
  const out: GpuConfig = {};
  for (const k of Object.keys(doc)) {
    if (k !== 'mig') problems.push(problem(`${variable}.${k}`, k, `unknown key${hint(k, ['mig']) || '; the only key is "mig"'}`));
  }
  if ('mig' in doc) {
    const mig = doc.mig;
    const mpath = `${variable}.mig`;
    if (!isPlainObject(mig)) {
      problems.push(problem(mpath, JSON.stringify(mig) ?? '', `must be an object like {"partitionSizes":["1g.5gb"]}, got ${jsonType(mig)}`));
    } else {
      for (const k of Object.keys(mig)) {
        if (k !== 'partitionSizes') {
          problems.push(problem(`${mpath}.${k}`, k, `unknown key${hint(k, ['partitionSizes']) || '; the only key is "partitionSizes"'}`));
        }
      }
      const spath = `${mpath}.partitionSizes`;
      const sizes = mig.partitionSizes;
      const typo = Object.keys(mig).some((k) => k !== 'partitionSizes' && didYouMean(k, ['partitionSizes']) === 'partitionSizes');
      if (!('partitionSizes' in mig)) {
        if (!typo) problems.push(problem(spath, '', 'is missing; list the MIG profile sizes, e.g. {"mig":{"partitionSizes":["1g.5gb","3g.20gb"]}}'));
      } else if (!Array.isArray(sizes)) {
        problems.push(problem(spath, JSON.stringify(sizes) ?? '', `must be an array of size strings like ["1g.5gb"], got ${jsonType(sizes)}`));
      } else if (sizes.length === 0) {
        problems.push(problem(spath, '[]', 'is empty; list at least one size like ["1g.5gb"], or unset INITD_GPU_CONFIG to leave MIG alone'));
      } else {
        const good: string[] = [];
        sizes.forEach((s: unknown, i: number) => {
          if (typeof s !== 'string') {
            problems.push(problem(`${spath}[${i}]`, JSON.stringify(s) ?? '', `${JSON.stringify(s)} is ${jsonType(s)}, not a size string like "1g.5gb"`));
          } else if (!MIG_SIZE_RE.test(s)) problems.push(problem(`${spath}[${i}]`, s, migSizeError(s)));
          else good.push(s);
        });
        out.mig = { partitionSizes: good };
      }
    }
  }
  return problems.length ? fail(problems) : ok(out);
}

// ---------------------------------------------------------------------------
// Proxies

export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'] as const;

/** A URL with its password replaced by `****` (for messages and `config` output). */
export function maskUrlPassword(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)([^/@]*)@/i, '$1****@');
}

/** Reasons a proxy URL is invalid (empty when valid). */
export function proxyUrlErrors(value: string): string[] {
  const shown = q(maskUrlPassword(value));
  if (/\s/.test(value)) return [`${shown} contains whitespace; a proxy is one URL like http://proxy.example.com:3128`];
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return [`${shown} has no scheme; write ${q(`http://${maskUrlPassword(value)}`)}`];
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return [`${shown} is not a valid URL; write http://host:port, e.g. http://proxy.example.com:3128`];
  }
  const errs: string[] = [];
  if (u.protocol !== 'http:' && u.protocol !== 'https:') errs.push(`${shown} uses scheme "${u.protocol.slice(0, -1)}"; only http:// and https:// proxies are supported`);
  if (!u.hostname) errs.push(`${shown} has no host; write http://host:port`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) errs.push(`${shown} has a path, query or fragment; a proxy URL is just scheme://[user:password@]host[:port]`);
  return errs;
}

const HOSTNAME_RE = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** Reasons a NO_PROXY item is invalid (empty when valid). */
export function noProxyItemErrors(item: string): string[] {
  const valid = 'items are "*", a host ("localhost"), a domain suffix (".example.com" or "*.example.com"), an IP, a CIDR ("10.0.0.0/8") or host:port';
  if (item === '*') return [];
  if (/\s/.test(item)) return [`item ${q(item)} contains whitespace; separate items with commas; ${valid}`];
  if (/^[a-z]+:\/\//i.test(item)) return [`item ${q(item)} is a URL; give the host only (${q(item.replace(/^[a-z]+:\/\//i, '').replace(/[/?#].*$/, ''))}); ${valid}`];
  if (item.includes('/')) {
    const [ip, bits, ...rest] = item.split('/');
    const fam = isIP(ip ?? '');
    const n = Number(bits);
    if (rest.length || !fam || !/^\d+$/.test(bits ?? '') || n > (fam === 4 ? 32 : 128)) return [`item ${q(item)} is not a valid CIDR like 10.0.0.0/8 or fd00::/8; ${valid}`];
    return [];
  }
  if (isIP(item)) return [];
  let host = item;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(item);
  if (v6) {
    if (!isIP(v6[1]!)) return [`item ${q(item)} is not a valid bracketed IPv6 address; ${valid}`];
    port = v6[2];
    host = '';
  } else {
    const c = item.lastIndexOf(':');
    if (c >= 0) {
      port = item.slice(c + 1);
      host = item.slice(0, c);
    }
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) return [`item ${q(item)} has an invalid port ${q(port)} (1-65535); ${valid}`];
  if (host !== '') {
    const h = host.replace(/^\*?\./, '');
    if (!(isIP(h) || HOSTNAME_RE.test(h))) return [`item ${q(item)} is not a valid host or domain; ${valid}`];
  }
  return [];
}

/**
 * HTTP_PROXY / HTTPS_PROXY / NO_PROXY in upper or lower case. When both
 * spellings are set (non-empty) and differ, that is an error naming both.
 * `vars` holds the merged environment; empty values count as unset.
 */
export function parseProxy(vars: Readonly<Record<string, string | undefined>>): Parsed<ProxyConfig> {
  const problems: ConfigProblem[] = [];
  const out: ProxyConfig = {};
  const field = { HTTP_PROXY: 'httpProxy', HTTPS_PROXY: 'httpsProxy', NO_PROXY: 'noProxy' } as const;
  for (const name of PROXY_VARIABLES) {
    const lower = name.toLowerCase();
    const up = vars[name]?.trim() || undefined;
    const lo = vars[lower]?.trim() || undefined;
    if (up !== undefined && lo !== undefined && up !== lo) {
      const show = (v: string) => q(name === 'NO_PROXY' ? v : maskUrlPassword(v));
      problems.push(
        problem(
          name,
          `${name} / ${lower}`,
          `${name}=${show(up)} and ${lower}=${show(lo)} are both set and differ; tools disagree on which one wins, so set only one of them (or give both the same value)`,
        ),
      );
      continue;
    }
    const v = up ?? lo;
    if (v === undefined) continue;
    const used = up !== undefined ? name : lower;
    if (name === 'NO_PROXY') {
      const items = commaItems(v);
      const errs = items.flatMap(noProxyItemErrors);
      for (const e of errs) problems.push(problem(used, v, e));
      if (!errs.length && items.length) out.noProxy = items.join(',');
    } else {
      const errs = proxyUrlErrors(v);
      for (const e of errs) problems.push(problem(used, maskUrlPassword(v), e));
      if (!errs.length) out[field[name]] = v;
    }
  }
  return problems.length ? fail(problems) : ok(out);
}

// ---------------------------------------------------------------------------
// NVMe devices

const PARTITION_RES: ReadonlyArray<[RegExp, (m: RegExpExecArray) => string]> = [
  [/^\/dev\/(nvme\d+n\d+)p\d+$/, (m) => `/dev/${m[1]}`],
  [/^\/dev\/((?:sd|vd|xvd|hd)[a-z]+)\d+$/, (m) => `/dev/${m[1]}`],
  [/^(\/dev\/disk\/by-[a-z]+\/.+)-part\d+$/, (m) => m[1]!],
];

/**
 * NVME_DEVICES: whitespace-separated absolute paths under /dev/ of whole
 * disks (e.g. /dev/nvme0n1 or /dev/disk/by-id/nvme-…), no duplicates. Empty
 * means "auto-discover" (undefined). Whether each disk exists and is safe to
 * use is decided later by the storage step, never here.
 */
export function parseNvmeDevices(raw: string, variable = 'NVME_DEVICES'): Parsed<string[] | undefined> {
  const text = raw.trim();
  if (text === '') return ok(undefined);
  const problems: ConfigProblem[] = [];
  const out: string[] = [];
  if (text.includes(',') && !text.includes(' ')) {
    const fixed = text.split(',').map((s) => s.trim()).filter(Boolean).join(' ');
    return fail([problem(variable, text, `${q(text)} is comma-separated; NVME_DEVICES is space-separated, write ${q(fixed)}`)]);
  }
  for (const dev of text.split(/\s+/)) {
    const d = dev.replace(/,$/, '');
    if (d !== dev) {
      problems.push(problem(variable, dev, `${q(dev)} ends with ','; separate devices with spaces only`));
      continue;
    }
    if (!d.startsWith('/dev/')) {
      const fix = d.startsWith('/') ? '' : `; write ${q(`/dev/${d.replace(/^dev\//, '')}`)}`;
      problems.push(problem(variable, d, `${q(d)} is not an absolute path under /dev/${fix}; give whole disks like /dev/nvme0n1`));
      continue;
    }
    if (!/^\/dev\/[A-Za-z0-9._:+@=\-/]+$/.test(d)) {
      problems.push(problem(variable, d, `${q(d)} contains ${badChars(d, /[A-Za-z0-9._:+@=\-/]/)}; give device paths like /dev/nvme0n1`));
      continue;
    }
    if (path.posix.normalize(d) !== d || d.endsWith('/')) {
      problems.push(problem(variable, d, `${q(d)} is not a normalized path (no '//', '.', '..' or trailing '/'); give device paths like /dev/nvme0n1`));
      continue;
    }
    const part = PARTITION_RES.map(([re, fix]) => {
      const m = re.exec(d);
      return m ? fix(m) : undefined;
    }).find(Boolean);
    if (part) {
      problems.push(
        problem(variable, d, `${q(d)} is a partition; give whole disks only, e.g. ${q(part)} (the agent builds its own LVM stripe and never uses partitions)`),
      );
      continue;
    }
    if (/^\/dev\/nvme\d+$/.test(d)) {
      problems.push(problem(variable, d, `${q(d)} is an NVMe controller, not a disk; give its namespace, e.g. ${q(`${d}n1`)}`));
      continue;
    }
    if (/^\/dev\/(mapper\/|dm-\d|md\d|md\/)/.test(d)) {
      problems.push(problem(variable, d, `${q(d)} is a device-mapper or RAID volume, not a disk; give the physical NVMe disks like /dev/nvme0n1`));
      continue;
    }
    if (out.includes(d)) {
      problems.push(problem(variable, d, `${q(d)} is listed twice; list each disk once`));
      continue;
    }
    out.push(d);
  }
  return problems.length ? fail(problems) : ok(out);
}

// ---------------------------------------------------------------------------
// Scalars

/**
 * API_URL: https only (TLS is always verified; a private CA goes in
 * INITD_CA_FILE), no credentials, query or fragment. Returned without a
 * trailing slash. Empty means the default.
 */
export function parseApiUrl(raw: string, variable = 'API_URL'): Parsed<string> {
  const text = raw.trim();
  if (text === '') return ok(DEFAULT_API_URL);
  const shown = q(maskUrlPassword(text));
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return fail([problem(variable, text, `${shown} has no scheme; write ${q(`https://${text}`)}`)]);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return fail([problem(variable, text, `${shown} is not a valid URL; write e.g. ${DEFAULT_API_URL}`)]);
  }
  const errs: string[] = [];
  if (u.protocol === 'http:') errs.push(`${shown} uses http; the API is reached over https only (TLS is always verified); write ${q(text.replace(/^http:/i, 'https:'))} and, for a private CA, set INITD_CA_FILE`);
  else if (u.protocol !== 'https:') errs.push(`${shown} uses scheme "${u.protocol.slice(0, -1)}"; write an https:// URL, e.g. ${DEFAULT_API_URL}`);
  if (u.username || u.password) errs.push(`${shown} contains credentials; never put secrets in URLs (the agent authenticates with INITD_BOOTSTRAP_TOKEN)`);
  if (u.search || u.hash) errs.push(`${shown} has a query or fragment; give the base URL only, e.g. ${DEFAULT_API_URL}`);
  if (errs.length) return fail(errs.map((e) => problem(variable, maskUrlPassword(text), e)));
  return ok(`${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`);
}

export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** ORG_ID, CLUSTER_ID, EDGE_LOCATION_ID: empty means unset; else letters, digits, '.', '_', '-', ≤128 chars. */
export function parseId(raw: string, variable: string): Parsed<string | undefined> {
  const text = raw.trim();
  if (text === '') return ok(undefined);
  if (ID_RE.test(text)) return ok(text);
  const why = text.length > 128 ? `is ${text.length} characters long (at most 128)` : (() => {
    const bad = badChars(text, /[A-Za-z0-9._-]/);
    return bad ? `contains ${bad}` : 'must start with a letter or digit';
  })();
  return fail([
    problem(variable, text, `${q(text)} ${why}; an ID is letters, digits, '.', '_' and '-' (usually a UUID like 3f1c2b9e-6a41-4d2f-9a51-0c7d5e8f1a22)`),
  ]);
}

/**
 * INITD_BOOTSTRAP_TOKEN: an opaque token sent in an HTTP header, so visible
 * ASCII only. The value is never echoed in a problem.
 */
export function parseToken(raw: string, variable = 'INITD_BOOTSTRAP_TOKEN'): Parsed<string | undefined> {
  const text = raw.trim();
  if (text === '') return ok(undefined);
  if (/^["']|["']$/.test(text)) return fail([problem(variable, '(hidden)', 'the token starts or ends with a quote character; remove the quotes (dotenv files need none)')]);
  const i = [...text].findIndex((c) => c < '!' || c > '~');
  if (i >= 0) {
    return fail([
      problem(
        variable,
        '(hidden)',
        `the token contains whitespace, a control or a non-ASCII character at position ${i + 1}; copy it again from the install script, on one line`,
      ),
    ]);
  }
  return ok(text);
}

/** An absolute, normalized path (trailing '/' removed); `what` names it in messages. */
export function parseAbsolutePath(raw: string, variable: string, what: string): Parsed<string | undefined> {
  const text = raw.trim();
  if (text === '') return ok(undefined);
  if (!text.startsWith('/')) {
    return fail([problem(variable, text, `${q(text)} is not an absolute path; give ${what} as an absolute path, e.g. ${q(path.posix.join('/', text))}`)]);
  }
  if (text.includes('\0')) return fail([problem(variable, text, `${q(text)} contains a NUL character; give ${what} as a plain absolute path`)]);
  const norm = path.posix.normalize(text).replace(/(.)\/+$/, '$1');
  return ok(norm);
}

/** INITD_STATE_DIR: absolute, not "/"; default /var/lib/castai-edge-initd. */
export function parseStateDir(raw: string, variable = 'INITD_STATE_DIR'): Parsed<string> {
  const r = parseAbsolutePath(raw, variable, 'the state directory');
  if (!r.ok) return r;
  if (r.value === undefined) return ok(DEFAULT_STATE_DIR);
  if (r.value === '/') {
    return fail([problem(variable, raw.trim(), `"/" cannot be the state directory; use a dedicated directory such as ${DEFAULT_STATE_DIR}`)]);
  }
  return ok(r.value);
}

/** INITD_LOG_LEVEL: trace, debug, info, warn or error (any case); default info. */
export function parseLogLevel(raw: string, variable = 'INITD_LOG_LEVEL'): Parsed<string> {
  const text = raw.trim().toLowerCase();
  if (text === '') return ok(DEFAULT_LOG_LEVEL);
  if ((LOG_LEVELS as readonly string[]).includes(text)) return ok(text);
  const alias: Record<string, string> = { warning: 'warn', err: 'error', fatal: 'error', verbose: 'debug', information: 'info' };
  const guess = alias[text] ?? didYouMean(text, LOG_LEVELS);
  return fail([
    problem(variable, raw.trim(), `${q(raw.trim())} is not a log level${guess ? `; did you mean ${q(guess)}?` : ''} (one of ${LOG_LEVELS.join(', ')})`),
  ]);
}

/**
 * Why `name` cannot be the agent's WireGuard interface (empty when it can). First the kernel's own
 * rule (net/core/dev.c dev_valid_name(): 1..IFNAMSIZ-1 = 15 bytes, not "." or "..", no '/', ':' or
 * whitespace), then ours: '%' makes the kernel pick the name itself (dev_alloc_name "wg%d"), and
 * the name also lands in argv (`wireguard-go <name>` reads a leading '-' as a flag) and in a
 * systemd unit name (castai-edge-initd-wireguard-go-<name>.service), so only A-Z a-z 0-9 _ . -,
 * not starting with '-'. docs/decisions/0150-wireguard-interface-ownership.md.
 */
export function interfaceNameErrors(name: string): string[] {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) return ['it is empty'];
  const errs: string[] = [];
  if (bytes > 15) errs.push(`it is ${bytes} bytes long; Linux allows at most 15`);
  if (name === '.' || name === '..') errs.push('"." and ".." are not interface names');
  for (const ch of ['/', ':', '%']) if (name.includes(ch)) errs.push(`it contains "${ch}"`);
  if (/\s/.test(name)) errs.push('it contains whitespace');
  if (name.startsWith('-')) errs.push('it must not start with "-"');
  const bad = badChars(name, /[A-Za-z0-9_.\-/:%\s]/);
  if (bad) errs.push(`it contains ${bad}`);
  return errs;
}

/** The problem with `name` as INITD_WIREGUARD_INTERFACE (exactly as given), or undefined when it is usable. */
export function interfaceNameProblem(name: string, variable = 'INITD_WIREGUARD_INTERFACE'): ConfigProblem | undefined {
  const errs = interfaceNameErrors(name);
  if (!errs.length) return undefined;
  return problem(
    variable,
    name,
    `${q(name)} is not a usable interface name: ${errs.join('; ')} (use 1-15 characters from A-Z a-z 0-9 _ . -, not starting with "-"; default ${DEFAULT_WIREGUARD_INTERFACE})`,
  );
}

/** INITD_WIREGUARD_INTERFACE: the interface the agent creates and owns; empty means the default (castai-wg). */
export function parseInterfaceName(raw: string, variable = 'INITD_WIREGUARD_INTERFACE'): Parsed<string> {
  const text = raw.trim();
  if (text === '') return ok(DEFAULT_WIREGUARD_INTERFACE);
  const p = interfaceNameProblem(text, variable);
  return p ? fail([p]) : ok(text);
}
