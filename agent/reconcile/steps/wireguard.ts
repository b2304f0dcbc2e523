import { AgentError } from '../../errors.ts';
import { DEFAULT_IFACE, normalizeSpec, reconcileWireguard, reresolveEndpoints, statusFromDump, wireguardStatus } from '../../wireguard/index.ts';
import type { Step, StepContext, StepResult } from '../step.ts';
import { WG_STATUS_FILE } from '../../state/files.ts';

function needRegistration(ctx: StepContext) {
  const reg = ctx.shared.registration;
  if (!reg) throw new AgentError('not registered yet, so the tunnel settings are unknown', 'the register step must succeed first (see the step above)');
  return reg;
}

/**
 * Step 5: the WireGuard tunnel to the cluster gateway (UDP 51840) on the agent's own interface
 * (INITD_WIREGUARD_INTERFACE; `override` for tests). Touches nothing when it already matches, and
 * nothing at all of an interface it did not create (docs/decisions/0150).
 */
export function wireguardStep(override?: string): Step {
  const ifaceOf = (ctx: StepContext) => override ?? ctx.cfg.wireguardInterface ?? DEFAULT_IFACE;
  return {
    name: 'wireguard',
    async plan(ctx) {
      const iface = ifaceOf(ctx);
      if (!ctx.shared.registration) return { step: 'wireguard', summary: 'waiting for registration (the tunnel address and gateway come from it)', actions: [] };
      const r = await reconcileWireguard(ctx.host, ctx.shared.registration.wireguard, { stateDir: ctx.cfg.stateDir, iface, logger: ctx.log, dryRun: true });
      return { step: 'wireguard', summary: r.actions.length ? `${r.actions.length} change(s) to ${iface}` : `${iface} up to date`, actions: r.actions };
    },
    async run(ctx): Promise<StepResult> {
      const iface = ifaceOf(ctx);
      const reg = needRegistration(ctx);
      const r = await reconcileWireguard(ctx.host, reg.wireguard, { stateDir: ctx.cfg.stateDir, iface, logger: ctx.log });
      // Nothing changed: the dump inspect just read is current (no second `wg show`).
      let st = !r.actions.length && r.before.device ? statusFromDump(r.before.device, Date.now() / 1000) : await wireguardStatus(ctx.host, iface);
      if (r.actions.length) {
        // First bring-up: the handshake is the real UDP 51840 test; wait a moment for it.
        const until = Date.now() + 5000;
        while ((st?.latestHandshakeSeconds ?? null) === null && Date.now() < until && !ctx.signal.aborted) {
          await new Promise((res) => setTimeout(res, 100));
          st = await wireguardStatus(ctx.host, iface);
        }
      } else {
        // Health: a stale handshake with a hostname endpoint re-resolves it (logged by reresolveEndpoints).
        await reresolveEndpoints(ctx.host, iface, normalizeSpec(reg.wireguard), Date.now() / 1000, ctx.log, r.before.device);
      }
      if (st) {
        ctx.shared.wireguard = st;
        await ctx.store.write(WG_STATUS_FILE, st);
      }
      const hs = st?.latestHandshakeSeconds;
      const handshake = hs === null || hs === undefined ? 'no handshake yet (check egress UDP 51840)' : `handshake ${hs}s ago`;
      return { state: 'done', summary: `${iface} ${r.actions.length ? `up (${r.actions.length} change(s))` : 'up'}, ${handshake}`, changed: r.actions.length > 0 };
    },
  };
}
