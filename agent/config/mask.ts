/**
 * Masking of secrets for display (`config` output). A secret is shown as
 * `****` plus its last 4 characters only when it is at least 16 characters
 * long (so at least 12 stay hidden and two tokens can still be told apart);
 * shorter secrets are shown as `****` alone. See docs/decisions/0011-secret-masking.md.
 */
import { maskUrlPassword } from './validate.ts';
import type { AgentConfig } from './types.ts';

export const MASK = '****';

export function maskSecret(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return value;
  return value.length >= 16 ? `${MASK}${value.slice(-4)}` : MASK;
}

/** A copy of the config safe to print: the token masked, proxy passwords masked. */
export function maskedConfig(cfg: AgentConfig): AgentConfig {
  const proxy = { ...cfg.proxy };
  if (proxy.httpProxy) proxy.httpProxy = maskUrlPassword(proxy.httpProxy);
  if (proxy.httpsProxy) proxy.httpsProxy = maskUrlPassword(proxy.httpsProxy);
  return {
    ...cfg,
    ...(cfg.bootstrapToken !== undefined ? { bootstrapToken: maskSecret(cfg.bootstrapToken)! } : {}),
    proxy,
  };
}
