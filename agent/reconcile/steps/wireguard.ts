import { refusal, skip } from '../../contract.ts';
import { EXIT } from '../../errors.ts';
import {
  applyWireguard,
  DEFAULT_IFACE,
  ensureKeyPair,
  inspectWireguard,
  keyForPlan,
  normalizeSpec,
  planTunnel,
  reresolveEndpoints,
  statusFromDump,
  wireguardDesired,
  wireguardStatus,
  type NormalizedSpec,
  type WgAction,
  type WireguardActual,
  type WireguardDesired,
} from '../../wireguard/index.ts';
import { stepOf } from '../contract.ts';
import type { Step, StepContext } from '../step.ts';
import { WG_STATUS_FILE } from '../../state/files.ts';

interface Tunnel {
  iface: string;
  spec: NormalizedSpec;
  desired: WireguardDesired;
}

/**
 * Step 5: the WireGuard tunnel to the cluster gateway (UDP 51840) on the agent's own interface
 * (INITD_WIREGUARD_INTERFACE; `override` for tests). Touches nothing when it already matches, and
 * nothing at all of an interface it did not create (docs/decisions/0150): that is a typed refusal.
 * `plan` reads the node key and never writes it; `run` makes it when missing.
 */
export function wireguardStep(override?: string): Step {
  const ifaceOf = (ctx: StepContext) => override ?? ctx.cfg.wireguardInterface ?? DEFAULT_IFACE;
  return stepOf<Tunnel, WireguardActual, { actions: WgAction[] }>({
    name: 'wireguard',
    async desired(ctx, purpose) {
      const reg = ctx.shared.registration;
      if (!reg) {
        return purpose === 'plan'
          ? skip('waiting for registration (the tunnel address and gateway come from it)')
          : refusal('not registered yet, so the tunnel settings are unknown', 'the register step must succeed first (see the step above)', EXIT.RUNTIME);
      }
      const iface = ifaceOf(ctx);
      const spec = normalizeSpec(reg.wireguard);
      const key = purpose === 'run' ? await ensureKeyPair(ctx.host, ctx.cfg.stateDir) : await keyForPlan(ctx.host, ctx.cfg.stateDir);
      return { iface, spec, desired: await wireguardDesired(ctx.host, spec, key, { stateDir: ctx.cfg.stateDir, iface, logger: ctx.log }) };
    },
    inspect: (ctx, t) => inspectWireguard(ctx.host, t.iface, { stateDir: ctx.cfg.stateDir }),
    plan: (t, actual) => planTunnel(t.desired, actual),
    show: (p, t) => ({ summary: p.actions.length ? `${p.actions.length} change(s) to ${t.iface}` : `${t.iface} up to date` }),
    async apply(ctx, p, t, before) {
      const { iface } = t;
      if (p.actions.length === 0) ctx.log.debug({ step: 'wireguard', iface }, 'WireGuard already as desired; nothing touched');
      await applyWireguard(ctx.host, p.actions, ctx.log);
      // Nothing changed: the dump inspect just read is current (no second `wg show`).
      let st = !p.actions.length && before.device ? statusFromDump(before.device, Date.now() / 1000) : await wireguardStatus(ctx.host, iface);
      if (p.actions.length) {
        // First bring-up: the handshake is the real UDP 51840 test; wait a moment for it.
        const until = Date.now() + 5000;
        while ((st?.latestHandshakeSeconds ?? null) === null && Date.now() < until && !ctx.signal.aborted) {
          await new Promise((res) => setTimeout(res, 100));
          st = await wireguardStatus(ctx.host, iface);
        }
      } else {
        // Health: a stale handshake with a hostname endpoint re-resolves it (logged by reresolveEndpoints).
        await reresolveEndpoints(ctx.host, iface, t.spec, Date.now() / 1000, ctx.log, before.device);
      }
      if (st) {
        ctx.shared.wireguard = st;
        await ctx.store.write(WG_STATUS_FILE, st);
      }
      const hs = st?.latestHandshakeSeconds;
      const handshake = hs === null || hs === undefined ? 'no handshake yet (check egress UDP 51840)' : `handshake ${hs}s ago`;
      return { summary: `${iface} ${p.actions.length ? `up (${p.actions.length} change(s))` : 'up'}, ${handshake}`, changed: p.actions.length > 0 };
    },
  });
}
