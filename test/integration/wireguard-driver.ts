/**
 * Test driver: runs the agent's REAL WireGuard code path (RealHost, the real
 * `ip`/`wg`/`wireguard-go`) inside a network namespace:
 *
 *   ip netns exec <ns> node test/integration/wireguard-driver.ts <mode> <args.json>
 *
 * modes:
 *   key        ensureKeyPair → prints the public key (what register would send)
 *   reconcile  normalise spec → key → resolve → inspect → plan → apply; prints actions and ifindex before/after
 *              with "waitHandshakeMs" it then polls `wg show dump` until the first handshake and reports
 *              the time from apply start (the bench's wg_tunnel_up_s)
 *   status     wireguardStatus()
 *   reresolve  reresolveEndpoints()
 *   down       wireguardDown()
 *
 * Log lines (pino JSON) go to stdout; the last line is `RESULT <json>`.
 * Used by test/integration/wireguard-netns.test.ts and scripts/bench/wireguard.ts.
 */
import { readFileSync } from 'node:fs';
import { RealHost } from '../../agent/host/real.ts';
import { createLogger } from '../../agent/log/logger.ts';
import { ensureKeyPair } from '../../agent/wireguard/keys.ts';
import { inspectWireguard, normalizeSpec, reconcileWireguard, reresolveEndpoints, wireguardDown, wireguardStatus } from '../../agent/wireguard/index.ts';

interface Args {
  stateDir: string;
  iface: string;
  spec?: unknown;
  waitHandshakeMs?: number;
  nowSec?: number;
}

async function main(): Promise<void> {
  const [mode, argsFile] = process.argv.slice(2);
  const args = JSON.parse(readFileSync(argsFile!, 'utf8')) as Args;
  const host = new RealHost();
  const logger = createLogger({ pretty: false, level: 'debug', write: (l) => void process.stdout.write(l) });
  let result: unknown;
  switch (mode) {
    case 'key':
      result = await ensureKeyPair(host, args.stateDir);
      break;
    case 'reconcile': {
      const t0 = performance.now();
      const r = await reconcileWireguard(host, args.spec, { stateDir: args.stateDir, iface: args.iface, logger });
      const applyMs = performance.now() - t0;
      let handshakeMs: number | undefined;
      if (args.waitHandshakeMs) {
        const deadline = t0 + args.waitHandshakeMs;
        while (performance.now() < deadline) {
          const s = await wireguardStatus(host, args.iface);
          if (s && s.latestHandshakeSeconds !== null) {
            handshakeMs = performance.now() - t0;
            break;
          }
          await new Promise((res) => setTimeout(res, 10));
        }
      }
      const after = await inspectWireguard(host, args.iface);
      result = {
        actions: r.actions.map((a) => ({ kind: a.kind, data: a.data, description: a.description })),
        beforeIfindex: r.before.ifindex ?? null,
        afterIfindex: after.ifindex ?? null,
        userspace: after.userspace,
        applyMs,
        handshakeMs: handshakeMs ?? null,
      };
      break;
    }
    case 'status':
      result = await wireguardStatus(host, args.iface);
      break;
    case 'reresolve':
      result = await reresolveEndpoints(host, args.iface, normalizeSpec(args.spec), args.nowSec, logger);
      break;
    case 'down':
      result = await wireguardDown(host, { iface: args.iface, stateDir: args.stateDir }, logger);
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  const err = e as Error & { remediation?: string };
  process.stdout.write(`ERROR ${JSON.stringify({ name: err.name, message: err.message, remediation: err.remediation })}\n`);
  process.exitCode = 1;
});
