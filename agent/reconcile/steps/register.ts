import { createHash } from 'node:crypto';
import { parseRegisterResponse, ResponseShapeError, type RegisterRequest, type RegisterResponse } from '../../api/types.ts';
import type { StateStore } from '../../state/store.ts';
import { AgentError, EXIT } from '../../errors.ts';
import { collectInventory } from '../../inventory/inventory.ts';
import { registerSecret } from '../../log/logger.ts';
import { ARCHES } from '../../preflight/checks.ts';
import { VERSION } from '../../version.ts';
import { generatePrivateKey, keyPaths, loadKeyPair, publicKeyFromPrivate } from '../../wireguard/keys.ts';
import type { Step, StepContext, StepResult } from '../step.ts';
import { apiClient } from './api.ts';

export const REGISTER_FILE = 'register.json';
export const REGISTER_META_FILE = 'register-meta.json';

interface RegisterMeta {
  requestDigest: string;
  registeredAt: string;
  edgeId: string;
}

/** The node's labels as sent to the control plane: the operator's, plus nodeID = machine-id unless given. */
export function userLabels(labels: Record<string, string>, machineId: string): Record<string, string> {
  return labels.nodeID ? { ...labels } : { ...labels, nodeID: machineId };
}

async function identity(ctx: StepContext) {
  const machineId = (await ctx.host.readFile('/etc/machine-id'))?.trim();
  if (!machineId) throw new AgentError('/etc/machine-id is missing or empty', 'run `systemd-machine-id-setup`: the machine-id identifies this node to the control plane');
  const sys = await ctx.host.system();
  const arch = ARCHES[sys.machine];
  if (arch !== 'amd64' && arch !== 'arm64') throw new AgentError(`unsupported architecture ${sys.machine}`, 'edge-initd supports x86_64 and aarch64');
  return { machineId, hostname: sys.hostname, arch: arch as 'amd64' | 'arm64', kernel: sys.kernelRelease };
}

/** What identifies a registration; a change (labels, taints, GPU config, key, hostname) re-registers. */
export function requestDigest(r: Omit<RegisterRequest, 'inventory' | 'agentVersion' | 'kernel'>): string {
  return createHash('sha256').update(JSON.stringify([r.machineId, r.hostname, r.arch, r.wireguardPublicKey, r.kubernetesLabels, r.kubernetesTaints, r.gpuConfig ?? null])).digest('hex');
}

/**
 * The saved register response, validated like a fresh one (parseRegisterResponse):
 * a hand-edited or damaged register.json is an AgentError naming the field,
 * never a TypeError in a later step.
 */
export async function readSavedRegistration(store: StateStore): Promise<RegisterResponse | undefined> {
  const saved = await store.read<unknown>(REGISTER_FILE);
  if (saved === undefined) return undefined;
  try {
    return parseRegisterResponse(saved);
  } catch (e) {
    if (!(e instanceof ResponseShapeError)) throw e;
    throw new AgentError(`state file ${store.path(REGISTER_FILE)} is damaged: ${e.message}`, `move it aside (mv ${store.path(REGISTER_FILE)} ${store.path(REGISTER_FILE)}.bad) and re-run: the agent registers again (same edge, by machine-id)`);
  }
}

function describe(reg: RegisterResponse): string {
  return `edge ${reg.edge.name} (${reg.edge.id}, ${reg.edge.phase})`;
}

/**
 * Step 2: register with the control plane (idempotent per machine-id), then
 * on every pass refresh the desired state with the edge token. A 404 or a
 * DELETING/DELETED phase marks the edge as removed: the daemon tears down.
 */
export function registerStep(): Step {
  return {
    name: 'register',
    async plan(ctx) {
      const id = await identity(ctx);
      const saved = await readSavedRegistration(ctx.store);
      const meta = await ctx.store.read<RegisterMeta>(REGISTER_META_FILE);
      const keyFile = keyPaths(ctx.cfg.stateDir).file;
      const publicKey = (await loadKeyPair(ctx.host, ctx.cfg.stateDir))?.publicKey;
      const digest = publicKey
        ? requestDigest({ ...id, wireguardPublicKey: publicKey, kubernetesLabels: userLabels(ctx.cfg.labels, id.machineId), kubernetesTaints: ctx.cfg.taints, ...(ctx.cfg.gpu ? { gpuConfig: ctx.cfg.gpu } : {}) })
        : undefined;
      const actions = [];
      if (!publicKey) actions.push({ kind: 'wireguard.keygen', description: `generate the node WireGuard key (${keyFile}, 0600)`, reason: 'no key yet' });
      if (!saved) actions.push({ kind: 'register', description: `register machine ${id.machineId} with ${ctx.cfg.apiUrl}`, reason: 'not registered yet' });
      else if (!meta || meta.requestDigest !== digest) actions.push({ kind: 'register', description: `re-register machine ${id.machineId} (same edge)`, reason: 'labels, taints, GPU config, hostname or key changed' });
      return { step: 'register', summary: saved ? `registered: ${describe(saved)}${actions.length ? '; will re-register' : ''}` : 'not registered yet', actions };
    },
    async run(ctx): Promise<StepResult> {
      const id = await identity(ctx);
      // A new key is only kept once the control plane accepted it, so a rejected
      // registration (expired bootstrap token, 401) leaves the host unchanged.
      const keyFile = keyPaths(ctx.cfg.stateDir).file;
      const existing = await loadKeyPair(ctx.host, ctx.cfg.stateDir);
      const pendingKey = existing ? undefined : generatePrivateKey();
      if (pendingKey) registerSecret(pendingKey);
      const publicKey = existing?.publicKey ?? publicKeyFromPrivate(pendingKey!);
      const labels = userLabels(ctx.cfg.labels, id.machineId);
      const base = { ...id, wireguardPublicKey: publicKey, kubernetesLabels: labels, kubernetesTaints: ctx.cfg.taints, ...(ctx.cfg.gpu ? { gpuConfig: ctx.cfg.gpu } : {}) };
      const digest = requestDigest(base);
      const saved = await readSavedRegistration(ctx.store);
      const meta = await ctx.store.read<RegisterMeta>(REGISTER_META_FILE);
      const client = await apiClient(ctx);

      const registerNow = async (bootstrapToken: string): Promise<StepResult> => {
        const inventory = await collectInventory(ctx.host);
        const req: RegisterRequest = { ...base, agentVersion: VERSION, inventory };
        const { created, response } = await client.register(bootstrapToken, req, { signal: ctx.signal });
        if (pendingKey) {
          await ctx.host.writeFileAtomic(keyFile, `${pendingKey}\n`, { mode: 0o600, dirMode: 0o700 });
          await loadKeyPair(ctx.host, ctx.cfg.stateDir); // re-reads and validates file, mode and directory
          ctx.log.info({ publicKey }, 'generated the node WireGuard key pair (private key 0600, never leaves this node)');
        }
        registerSecret(response.edgeToken);
        registerSecret(response.k0s.joinToken);
        registerSecret(response.logs.apiKey);
        await ctx.store.write(REGISTER_FILE, response);
        await ctx.store.write(REGISTER_META_FILE, { requestDigest: digest, registeredAt: new Date().toISOString(), edgeId: response.edge.id } satisfies RegisterMeta);
        ctx.shared.registration = response;
        const verb = saved ? 're-registered' : created ? 'registered' : 'registered again (same edge)';
        return { state: 'done', summary: `${verb}: ${describe(response)}`, changed: true };
      };

      /** Steady state: refresh the desired state with the edge token; notice a removal. */
      const poll = async (reg: RegisterResponse, note = ''): Promise<StepResult> => {
        registerSecret(reg.edgeToken);
        registerSecret(reg.k0s.joinToken);
        ctx.shared.registration = reg;
        // A short poll: during an API outage the node keeps its last known desired state.
        const r = await client.getEdge(reg.edgeToken, reg.edge.id, { signal: ctx.signal, maxAttempts: 2 }).catch((e: unknown) => {
          if (e instanceof AgentError && (e as { kind?: string }).kind === 'auth') throw e;
          ctx.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'control plane unreachable; keeping the last known desired state');
          return undefined;
        });
        if (r?.gone || r?.state.edge.phase === 'DELETING' || r?.state.edge.phase === 'DELETED') {
          ctx.shared.edgeRemoved = r.gone ? 'the control plane no longer knows this edge (404)' : `the edge is ${r.state.edge.phase}`;
          return { state: 'done', summary: `edge removed: ${ctx.shared.edgeRemoved}`, changed: false };
        }
        if (r && JSON.stringify({ ...reg, ...r.state }) !== JSON.stringify(reg)) {
          const next = { ...reg, ...r.state };
          registerSecret(next.k0s.joinToken);
          await ctx.store.write(REGISTER_FILE, next);
          ctx.shared.registration = next;
          // Only node, WireGuard or k0s settings drive the host; the edge's phase (CREATING → READY) is bookkeeping.
          const desired = (x: RegisterResponse) => JSON.stringify([x.node, x.wireguard, x.k0s]);
          if (desired(next) !== desired(reg)) return { state: 'done', summary: `registered, desired state updated: ${describe(next)}${note}`, changed: true };
          return { state: 'done', summary: `registered: ${describe(next)}${note}`, changed: false };
        }
        return { state: 'done', summary: `registered: ${describe(reg)}${note}`, changed: false };
      };

      if (saved && meta?.requestDigest === digest) return poll(saved);
      if (saved) {
        // Labels, taints, GPU config, hostname or key changed: re-register (same edge). When the
        // bootstrap token is gone or expired by now, keep running on the saved registration: k0s
        // still gets the new labels locally; a fresh init script updates the control plane's record.
        if (!ctx.cfg.bootstrapToken) return poll(saved, ' (re-registration pending: no INITD_BOOTSTRAP_TOKEN)');
        try {
          return await registerNow(ctx.cfg.bootstrapToken);
        } catch (e) {
          if (!(e instanceof AgentError && (e as { kind?: string }).kind === 'auth')) throw e;
          ctx.log.warn({ remediation: e.remediation }, `re-registration refused (${e.message}); keeping the saved registration`);
          return poll(saved, ' (re-registration pending: bootstrap token rejected)');
        }
      }
      if (!ctx.cfg.bootstrapToken) {
        throw new AgentError('INITD_BOOTSTRAP_TOKEN is not set, so this node cannot register', 'fetch a fresh init script from the control plane and run it (it carries a bootstrap token)', EXIT.CONFIG);
      }
      return registerNow(ctx.cfg.bootstrapToken);
    },
  };
}
