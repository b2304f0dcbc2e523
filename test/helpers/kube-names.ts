/**
 * The Kubernetes label rules as the config tests check accepted values against them, written apart from
 * the agent's validators (agent/config/validate.ts) so each checks the other: a qualified name (label or
 * taint key: an optional DNS-subdomain prefix and `/`, then a name) and a label value
 * (k8s.io/apimachinery pkg/util/validation IsQualifiedName, IsValidLabelValue). Lengths are checked apart.
 */
export const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
