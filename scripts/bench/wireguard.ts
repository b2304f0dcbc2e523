/**
 * `make bench` module: wg_tunnel_up_s — WireGuard apply start → first
 * handshake, measured with the agent's real module (RealHost, real ip/wg and
 * wireguard-go) in the two-namespace lab of test/integration/wireguard-lab.ts
 * (veth between two network namespaces; nothing leaves the machine).
 * Median of RUNS runs; each run deletes the agent interface so apply starts
 * from nothing (link create + key + peer + address + MTU + up + routes).
 *
 * Without root or the tools the key is left out (never guessed).
 */
import { labPrerequisites, WgLab } from '../../test/integration/wireguard-lab.ts';

const RUNS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export default async function wireguardBench(): Promise<Record<string, unknown>> {
  const missing = await labPrerequisites();
  if (missing.length) {
    process.stderr.write(`bench wireguard: skipped (${missing.join('; ')})\n`);
    return {};
  }
  const lab = new WgLab();
  try {
    await lab.setup();
    const k = await lab.driver('key');
    if (!k.result) throw new Error(`key: ${JSON.stringify(k.error)}`);
    await lab.startGateway((k.result as { publicKey: string }).publicKey);
    const times: number[] = [];
    let userspace = true;
    for (let i = 0; i < RUNS; i++) {
      const r = await lab.driver('reconcile', { spec: lab.spec(), waitHandshakeMs: 15_000 });
      const res = r.result as { handshakeMs: number | null; userspace: boolean; actions: unknown[] } | undefined;
      if (!res || res.handshakeMs === null) throw new Error(`run ${i}: no handshake (${JSON.stringify(r.error ?? r.lines.slice(-3))})`);
      times.push(res.handshakeMs / 1000);
      userspace = res.userspace;
      const down = await lab.driver('down');
      if ((down.result as { removed?: string[] } | undefined)?.removed?.length !== 1)
        throw new Error(`run ${i}: down failed: ${JSON.stringify(down.error ?? down.result)}`);
      await new Promise((r) => setTimeout(r, 200)); // let wireguard-go exit and free its socket
    }
    return {
      wg_tunnel_up_s: Number(median(times).toFixed(3)),
      wg_tunnel_up_runs_s: times.map((t) => Number(t.toFixed(3))),
      wg_impl: userspace ? 'wireguard-go' : 'kernel',
    };
  } finally {
    await lab.cleanup();
  }
}

// Allow `node scripts/bench/wireguard.ts` on its own.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await wireguardBench())}\n`);
}
