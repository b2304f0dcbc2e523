/**
 * register.json is bound to the control plane it was made for: API URL, organization, cluster and
 * edge location (docs/decisions/0131). The edge token in it is only ever sent to that API URL,
 * and only that control plane is ever asked about that edge.
 */
import type { AgentConfig } from '../../config/types.ts';

export interface RegistrationBinding {
  apiUrl: string;
  orgId: string;
  clusterId: string;
  edgeLocationId: string;
}

/** The API URL as compared: scheme, lower-case host, explicit port only when not 443, path without a trailing slash. */
export function normalizeApiUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url.replace(/\/+$/, '');
  }
}

export function bindingOf(cfg: Pick<AgentConfig, 'apiUrl' | 'orgId' | 'clusterId' | 'edgeLocationId'>): RegistrationBinding {
  return { apiUrl: normalizeApiUrl(cfg.apiUrl), orgId: cfg.orgId ?? '', clusterId: cfg.clusterId ?? '', edgeLocationId: cfg.edgeLocationId ?? '' };
}

/** The fields that differ (empty: the same control plane). */
export function bindingDiff(saved: RegistrationBinding, now: RegistrationBinding): string[] {
  const names: Record<keyof RegistrationBinding, string> = { apiUrl: 'API_URL', orgId: 'ORG_ID', clusterId: 'CLUSTER_ID', edgeLocationId: 'EDGE_LOCATION_ID' };
  return (Object.keys(names) as Array<keyof RegistrationBinding>)
    .filter((k) => (k === 'apiUrl' ? normalizeApiUrl(saved.apiUrl) !== normalizeApiUrl(now.apiUrl) : saved[k] !== now[k]))
    .map((k) => `${names[k]} ${saved[k] || '(unset)'} → ${now[k] || '(unset)'}`);
}

export function describeBinding(b: RegistrationBinding): string {
  return `${b.apiUrl} (org ${b.orgId}, cluster ${b.clusterId}, edge location ${b.edgeLocationId})`;
}
