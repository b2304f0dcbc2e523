import { createHash } from 'node:crypto';
import { ApiError } from '../../api/client.ts';
import { parseRegisterResponse, ResponseShapeError, type RegisterRequest, type RegisterResponse } from '../../api/types.ts';
import type { Taint } from '../../config/types.ts';
import type { AgentConfig } from '../../config/types.ts';
import type { StateStore } from '../../state/store.ts';
import { AgentError, EXIT } from '../../errors.ts';
import { KUBELET_CONF } from '../../k0s/paths.ts';
import { collectInventory } from '../../inventory/inventory.ts';
import { registerSecret } from '../../log/logger.ts';
import { ARCHES } from '../../preflight/checks.ts';
import { VERSION } from '../../version.ts';
import { generatePrivateKey, keyPaths, loadKeyPair, publicKeyFromPrivate } from '../../wireguard/keys.ts';
import { execute, refusal, type Action, type Executors, type Refusal } from '../../contract.ts';
import { stepOf, type Applied } from '../contract.ts';
import type { Step, StepContext } from '../step.ts';
import { apiClient } from './api.ts';
import { bindingDiff, bindingOf, describeBinding, type RegistrationBinding } from './binding.ts';
import { forgetLiveness, observePoll, type PollOutcome } from './liveness.ts';

import { REGISTER_FILE, REGISTER_META_FILE } from '../../state/files.ts';
import { type RegisterMeta, userLabels } from './register-state.ts';
import { readMachineId } from '../../host/machine-id.ts';

export { userLabels };

/**
 * The saved registration, only when it was made for this configuration's control plane (or
 * predates the binding): the one the other steps and the status reports may use. A registration
 * for another API URL / org / cluster / location is never loaded, so its edge token is never sent
 * to the new URL (the register step then registers afresh or refuses; see 0131).
 */
export async function readBoundRegistration(
  store: StateStore,
  cfg: Pick<AgentConfig, 'apiUrl' | 'orgId' | 'clusterId' | 'edgeLocationId'>,
): Promise<RegisterResponse | undefined> {
  const reg = await readSavedRegistration(store);
  if (!reg) return undefined;
  const meta = await store.read<RegisterMeta>(REGISTER_META_FILE);
  return meta?.binding && bindingDiff(meta.binding, bindingOf(cfg)).length ? undefined : reg;
}

/** The refusal when register.json belongs to another control plane and this node is joined to its cluster. */
function bindingRefusal(saved: RegistrationBinding, now: RegistrationBinding, diff: string[]): Refusal {
  return refusal(
    `this node is joined to the cluster of ${describeBinding(saved)}, but the configuration now names ${describeBinding(now)} (${diff.join(', ')}); nothing was changed and neither control plane was contacted`,
    'to move the node: delete its edge on the old control plane (it tears the node down), or run `castai-edge-initd reset --yes-really-reset`, then run the new init script. If the change was a mistake, restore API_URL, ORG_ID, CLUSTER_ID and EDGE_LOCATION_ID in /etc/castai-edge-initd/castai-edge-initd.env',
    EXIT.CONFIG,
    'refused: joined to another control plane',
  );
}

/** Forget a registration (register.json, its meta, the poll bookkeeping): the old edge token is deleted. */
async function forgetRegistration(ctx: StepContext): Promise<void> {
  for (const f of [REGISTER_FILE, REGISTER_META_FILE]) await ctx.store.remove(f);
  await forgetLiveness(ctx.store, ctx.shared);
  delete ctx.shared.registration;
}

const labelsText = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') || 'none';
const taintsText = (t: Taint[]) => t.map((x) => `${x.key}${x.value ? `=${x.value}` : ''}:${x.effect}`).join(',') || 'none';
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

async function identity(ctx: StepContext) {
  const machineId = await readMachineId(ctx.host);
  const sys = await ctx.host.system();
  const arch = ARCHES[sys.machine];
  if (arch !== 'amd64' && arch !== 'arm64') throw new AgentError(`unsupported architecture ${sys.machine}`, 'edge-initd supports x86_64 and aarch64');
  return { machineId, hostname: sys.hostname, arch, kernel: sys.kernelRelease };
}

/** What identifies a registration; a change (labels, taints, GPU config, key, hostname) re-registers. */
export function requestDigest(r: Omit<RegisterRequest, 'inventory' | 'agentVersion' | 'kernel'>): string {
  return createHash('sha256')
    .update(JSON.stringify([r.machineId, r.hostname, r.arch, r.wireguardPublicKey, r.kubernetesLabels, r.kubernetesTaints, r.gpuConfig ?? null]))
    .digest('hex');
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
    throw new AgentError(
      `state file ${store.path(REGISTER_FILE)} is damaged: ${e.message}`,
      `move it aside (mv ${store.path(REGISTER_FILE)} ${store.path(REGISTER_FILE)}.bad) and re-run: the agent registers again (same edge, by machine-id)`,
    );
  }
}

function describe(reg: RegisterResponse): string {
  return `edge ${reg.edge.name} (${reg.edge.id}, ${reg.edge.phase})`;
}

/** What the register step wants: this machine's identity and what it asks the control plane for. */
interface RegisterWant {
  id: Awaited<ReturnType<typeof identity>>;
  binding: RegistrationBinding;
  labels: Record<string, string>;
  taints: Taint[];
  gpuConfig?: NonNullable<AgentConfig['gpu']>;
  bootstrapToken?: string;
  apiUrl: string;
  keyFile: string;
}

/** The request without inventory and version (what requestDigest covers). */
const requestOf = (w: RegisterWant, publicKey: string) => ({
  ...w.id,
  wireguardPublicKey: publicKey,
  kubernetesLabels: w.labels,
  kubernetesTaints: w.taints,
  ...(w.gpuConfig ? { gpuConfig: w.gpuConfig } : {}),
});

/** What it finds: the saved registration, its bookkeeping, the node key, and whether k0s joined with it. */
interface RegisterSeen {
  saved?: RegisterResponse;
  meta?: RegisterMeta;
  publicKey?: string;
  kubeletJoined: boolean;
}

type RegisterAction = Action &
  (
    | { kind: 'register.forget'; was: RegistrationBinding }
    | { kind: 'register.bind' }
    | { kind: 'wireguard.keygen' }
    | { kind: 'register'; again: boolean }
    | { kind: 'register.pending'; why: string; note: string }
  );

interface RegisterPlan {
  actions: RegisterAction[];
  /** The registration the pass goes on with (none after register.forget). */
  saved?: RegisterResponse;
}

/** What the executors share during one run; `result` is set by a registration that went through. */
interface RegisterApply {
  ctx: StepContext;
  want: RegisterWant;
  saved?: RegisterResponse;
  meta?: RegisterMeta;
  pendingKey?: string;
  publicKey?: string;
  result?: Applied;
  /** Appended to the summary of the steady-state refresh (a pending re-registration and why). */
  note: string;
}

/** The text a pending labels/taints change carries: what the Node keeps meanwhile. */
const pendingText = (meta: RegisterMeta | undefined) =>
  `labels/taints change pending: the Node keeps ${meta?.accepted ? `labels ${labelsText(meta.accepted.labels)}, taints ${taintsText(meta.accepted.taints)}` : 'what the control plane last accepted'}`;

/** Record (once per change) what the control plane has not accepted, for `status`. */
async function markPending(c: RegisterApply, reason: string): Promise<void> {
  const { ctx, want } = c;
  const meta = c.meta;
  if (!meta?.accepted || (sameJson(meta.accepted.labels, want.labels) && sameJson(meta.accepted.taints, ctx.cfg.taints))) return;
  const p = { labels: want.labels, taints: ctx.cfg.taints, reason };
  if (meta.pending && sameJson({ labels: meta.pending.labels, taints: meta.pending.taints, reason: meta.pending.reason }, p)) return;
  c.meta = { ...meta, pending: { ...p, since: new Date().toISOString() } };
  await ctx.store.write(REGISTER_META_FILE, c.meta);
}

/** POST register with the bootstrap token; the key (if new) is kept only once the control plane accepted it. */
async function registerNow(c: RegisterApply, bootstrapToken: string): Promise<Applied> {
  const { ctx, want } = c;
  const { saved, meta } = c;
  const publicKey = c.publicKey!;
  const keyFile = keyPaths(ctx.cfg.stateDir).file;
  const base = requestOf(want, publicKey);
  const digest = requestDigest(base);
  const client = await apiClient(ctx);
  const inventory = await collectInventory(ctx.host);
  const req: RegisterRequest = { ...base, agentVersion: VERSION, inventory };
  const { created, response } = await client.register(bootstrapToken, req, { signal: ctx.signal }).catch((e: unknown) => {
    if (e instanceof ApiError && e.kind === 'conflict') {
      const cf = e.conflict;
      if (saved && cf?.edgeId === saved.edge.id) {
        // Our own edge, but our key changed (private.key lost or replaced): stop reporting as
        // that edge, so that it falls silent and the control plane gives it the new key after 10 min.
        delete ctx.shared.registration;
        throw new AgentError(
          `this node's WireGuard key changed while its edge ${saved.edge.id} is alive (last status report ${cf.lastSeen ?? 'unknown'}): the control plane refused the new key (409 MACHINE_ID_CONFLICT)`,
          'the agent stops reporting as that edge and asks again every pass; the control plane hands the edge the new key once it has been silent for 10 minutes. If another host with this machine-id keeps it alive (a clone), give this one its own: rm /etc/machine-id && systemd-machine-id-setup, then re-run the init script',
          EXIT.CONFIG,
        );
      }
      throw new AgentError(
        `machine-id ${want.id.machineId} belongs to edge ${cf?.edgeId ?? 'unknown'}, which another host with a different WireGuard key keeps alive (last status report ${cf?.lastSeen ?? 'unknown'}); the control plane refused this host (409 MACHINE_ID_CONFLICT) and nothing on it was changed`,
        'a cloned VM or disk image shares its source machine-id: give this host its own with `rm /etc/machine-id && systemd-machine-id-setup`, then re-run the init script. If this host IS that edge re-installed (its key was lost), it gets the edge back once the edge has been silent for 10 minutes; the agent asks again every pass (about a minute)',
        EXIT.CONFIG,
      );
    }
    throw e;
  });
  if (c.pendingKey) {
    await ctx.host.writeFileAtomic(keyFile, `${c.pendingKey}\n`, { mode: 0o600, dirMode: 0o700 });
    await loadKeyPair(ctx.host, ctx.cfg.stateDir); // re-reads and validates file, mode and directory
    ctx.log.info({ publicKey }, 'generated the node WireGuard key pair (private key 0600, never leaves this node)');
  }
  registerSecret(response.edgeToken);
  registerSecret(response.k0s.joinToken);
  registerSecret(response.logs.apiKey);
  if (saved && saved.edge.id !== response.edge.id) await forgetLiveness(ctx.store, ctx.shared);
  await ctx.store.write(REGISTER_FILE, response);
  const at = new Date().toISOString();
  const labelsChanged = Boolean(meta?.accepted) && !(sameJson(meta?.accepted?.labels, want.labels) && sameJson(meta?.accepted?.taints, ctx.cfg.taints));
  await ctx.store.write(REGISTER_META_FILE, {
    requestDigest: digest,
    registeredAt: at,
    edgeId: response.edge.id,
    binding: want.binding,
    accepted: { labels: want.labels, taints: ctx.cfg.taints, at },
  } satisfies RegisterMeta);
  ctx.shared.registration = response;
  const verb = saved ? 're-registered' : created ? 'registered' : 'registered again (same edge)';
  const accepted = labelsChanged
    ? `; the control plane accepted labels ${labelsText(want.labels)} and taints ${taintsText(ctx.cfg.taints)} and applies them to the Node`
    : '';
  if (labelsChanged)
    ctx.log.info(
      { labels: want.labels, taints: ctx.cfg.taints },
      `labels/taints changed: the control plane accepted them and applies them to the existing Node (k0sworker is not restarted: the kubelet applies --node-labels/--register-with-taints only when it creates its Node)`,
    );
  return { summary: `${verb}: ${describe(response)}${accepted}`, changed: true };
}

/** One executor per register action kind; the compiler checks the table is complete. */
const registerExecutors: Executors<RegisterAction, RegisterApply> = {
  'register.forget': async (a, c) => {
    c.ctx.log.warn(
      { was: a.was, now: c.want.binding, oldEdgeId: c.saved?.edge.id },
      `register.json was made for ${describeBinding(a.was)} (${bindingDiff(a.was, c.want.binding).join(', ')}); this node never joined it, so it registers afresh with ${describeBinding(c.want.binding)}. The old edge ${c.saved?.edge.id} stays on the old control plane: delete it there`,
    );
    await forgetRegistration(c.ctx);
    delete c.saved;
    delete c.meta;
  },
  'register.bind': async (_a, c) => {
    // Written before registrations were bound (0131): it can only have been made with this configuration's values.
    c.meta = { ...c.meta!, binding: c.want.binding };
    await c.ctx.store.write(REGISTER_META_FILE, c.meta);
  },
  'wireguard.keygen': async (_a, c) => {
    // Generated now, written by the register executor only once the control plane accepted it, so a rejected
    // registration (expired bootstrap token, 401, 409) leaves the host unchanged.
    c.pendingKey = generatePrivateKey();
    registerSecret(c.pendingKey);
    c.publicKey = publicKeyFromPrivate(c.pendingKey);
  },
  register: async (a, c) => {
    const token = c.want.bootstrapToken!; // planned only with a token
    if (!a.again) {
      c.result = await registerNow(c, token);
      return;
    }
    try {
      c.result = await registerNow(c, token);
    } catch (e) {
      if (!(e instanceof AgentError && (e as { kind?: string }).kind === 'auth')) throw e;
      const pending = pendingText(c.meta);
      c.ctx.log.warn({ remediation: e.remediation }, `re-registration refused (${e.message}); keeping the saved registration; ${pending}`);
      await markPending(c, 'the bootstrap token was rejected (expired or revoked)');
      c.note = ` (re-registration pending: bootstrap token rejected: run a fresh init script, then restart the agent; ${pending})`;
    }
  },
  'register.pending': async (a, c) => {
    await markPending(c, a.why);
    c.note = a.note;
  },
};

/** Steady state: refresh the desired state with the edge token; removal only on the control plane's own evidence. */
async function poll(ctx: StepContext, reg: RegisterResponse, note = ''): Promise<Applied> {
  const client = await apiClient(ctx);
  registerSecret(reg.edgeToken);
  registerSecret(reg.k0s.joinToken);
  ctx.shared.registration = reg;
  // A short poll (≤ 2 attempts): during an API outage the node keeps its last known desired state.
  let r: Awaited<ReturnType<typeof client.getEdge>> | undefined;
  let outcome: PollOutcome;
  try {
    r = await client.getEdge(reg.edgeToken, reg.edge.id, { signal: ctx.signal, maxAttempts: 2, quietRetries: true });
    outcome = r.gone ? { kind: 'edge-not-found' } : { kind: 'state', phase: r.state.edge.phase };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.kind === 'auth') throw e;
    if (e.kind === 'aborted') return { summary: `registered: ${describe(reg)} (poll interrupted: stopping)${note}`, changed: false };
    const reason = e.message.replace(/^get edge: /, '');
    // One warning per kind of outage: the same answer again (other byte counts, attempts) is no change.
    outcome = { kind: 'outage', reason, key: `${e.kind}:${e.status ?? ''}:${reason.replace(/"[^"]*"/g, '').replace(/\d+/g, '#')}` };
  }
  const seen = await observePoll(ctx, reg.edge.id, outcome);
  if (seen.removed) {
    ctx.shared.edgeRemoved = seen.removed;
    return { summary: `edge removed: ${seen.removed}`, changed: false };
  }
  if (outcome.kind === 'outage') {
    return {
      summary: `registered: ${describe(reg)}; control plane outage since ${seen.health.since} (${outcome.reason}): running on the last known desired state${note}`,
      changed: false,
    };
  }
  if (!r || r.gone) return { summary: `registered: ${describe(reg)}; ${seen.note ?? 'EDGE_NOT_FOUND'}${note}`, changed: false };
  if (JSON.stringify({ ...reg, ...r.state }) !== JSON.stringify(reg)) {
    const next = { ...reg, ...r.state };
    registerSecret(next.k0s.joinToken);
    await ctx.store.write(REGISTER_FILE, next);
    ctx.shared.registration = next;
    // Only node, WireGuard or k0s settings drive the host; the edge's phase (CREATING → READY) is bookkeeping.
    const desired = (x: RegisterResponse) => JSON.stringify([x.node, x.wireguard, x.k0s]);
    if (desired(next) !== desired(reg)) return { summary: `registered, desired state updated: ${describe(next)}${note}`, changed: true };
    return { summary: `registered: ${describe(next)}${note}`, changed: false };
  }
  return { summary: `registered: ${describe(reg)}${note}`, changed: false };
}

/**
 * Step 2: register with the control plane (identity: machine-id + WireGuard key), then on every
 * pass refresh the desired state with the edge token. Removal needs the control plane's own
 * evidence (liveness.ts): a DELETING/DELETED phase, or EDGE_NOT_FOUND for this edge on two polls
 * ≥ 60 s apart; any other answer is an outage and the node keeps running. register.json is bound
 * to its control plane (binding.ts): joined to another one is a typed refusal, before any request or
 * change. A 409 MACHINE_ID_CONFLICT stops here, before any host change.
 *
 * The plan's actions are what `run` does to the host and its state (forget, bind, key, register, or
 * record a pending change); after them `run` refreshes the registration with the edge token (a read of
 * the control plane that `plan` never makes).
 */
export function registerStep(): Step {
  return stepOf<RegisterWant, RegisterSeen, RegisterPlan>({
    name: 'register',
    async desired(ctx) {
      const id = await identity(ctx);
      return {
        id,
        binding: bindingOf(ctx.cfg),
        labels: userLabels(ctx.cfg.labels, id.machineId),
        taints: ctx.cfg.taints,
        ...(ctx.cfg.gpu ? { gpuConfig: ctx.cfg.gpu } : {}),
        ...(ctx.cfg.bootstrapToken ? { bootstrapToken: ctx.cfg.bootstrapToken } : {}),
        apiUrl: ctx.cfg.apiUrl,
        keyFile: keyPaths(ctx.cfg.stateDir).file,
      };
    },
    async inspect(ctx, want, purpose) {
      const saved = await readSavedRegistration(ctx.store);
      const meta = await ctx.store.read<RegisterMeta>(REGISTER_META_FILE);
      // Never report to, or ask, the new control plane with the old edge's token.
      if (purpose === 'run' && saved && meta?.binding && bindingDiff(meta.binding, want.binding).length) delete ctx.shared.registration;
      const publicKey = (await loadKeyPair(ctx.host, ctx.cfg.stateDir))?.publicKey;
      const kubeletJoined = Boolean((await ctx.host.stat(KUBELET_CONF))?.isFile);
      return { ...(saved ? { saved } : {}), ...(meta ? { meta } : {}), ...(publicKey ? { publicKey } : {}), kubeletJoined };
    },
    plan(want, seen) {
      const actions: RegisterAction[] = [];
      let { saved, meta } = seen;
      const diff = saved && meta?.binding ? bindingDiff(meta.binding, want.binding) : [];
      if (diff.length && meta?.binding) {
        if (seen.kubeletJoined) {
          return bindingRefusal(meta.binding, want.binding, diff);
        }
        actions.push({
          kind: 'register.forget',
          was: meta.binding,
          description: `forget the registration for ${describeBinding(meta.binding)} (${diff.join(', ')}); its edge token is deleted, never sent elsewhere`,
          reason: 'the configuration names another control plane',
        });
        saved = undefined;
        meta = undefined;
      } else if (saved && meta && !meta.binding) {
        const description = `record that register.json belongs to ${describeBinding(want.binding)}`;
        actions.push({ kind: 'register.bind', description, reason: 'written before registrations were bound (0131)' });
      }
      if (!saved && !want.bootstrapToken) {
        return refusal(
          'INITD_BOOTSTRAP_TOKEN is not set, so this node cannot register',
          'fetch a fresh init script from the control plane and run it (it carries a bootstrap token)',
          EXIT.CONFIG,
        );
      }
      // What identifies the registration; with no key yet, a new one is made (so the request changes).
      const digest = seen.publicKey ? requestDigest(requestOf(want, seen.publicKey)) : undefined;
      if (!seen.publicKey) {
        actions.push({ kind: 'wireguard.keygen', description: `generate the node WireGuard key (${want.keyFile}, 0600)`, reason: 'no key yet' });
      }
      if (!saved) {
        actions.push({
          kind: 'register',
          again: false,
          description: `register machine ${want.id.machineId} with ${want.apiUrl}`,
          reason: diff.length ? 'registering afresh with the configured control plane' : 'not registered yet',
        });
      } else if (!meta || meta.requestDigest !== digest) {
        // Labels, taints, GPU config, hostname or key changed: re-register (same edge); the control
        // plane applies label/taint changes to the Node. Without a bootstrap token the change stays
        // pending (status says so; the Node keeps what the control plane last accepted) and the node
        // keeps running on its saved registration; a fresh init script carries a new token.
        if (want.bootstrapToken) {
          actions.push({
            kind: 'register',
            again: true,
            description: `re-register machine ${want.id.machineId} (same edge); the control plane applies changed labels/taints to the Node`,
            reason: 'labels, taints, GPU config, hostname or key changed',
          });
        } else {
          actions.push({
            kind: 'register.pending',
            why: 'no INITD_BOOTSTRAP_TOKEN',
            note: ` (re-registration pending: no INITD_BOOTSTRAP_TOKEN; ${pendingText(meta)})`,
            description: 'record the labels/taints change as pending: without INITD_BOOTSTRAP_TOKEN it cannot be sent',
            reason: 'labels, taints, GPU config, hostname or key changed',
          });
        }
      }
      return { actions, ...(saved ? { saved } : {}) };
    },
    show: (p) => ({
      summary: p.saved ? `registered: ${describe(p.saved)}${p.actions.some((a) => a.kind === 'register') ? '; will re-register' : ''}` : 'not registered yet',
    }),
    async apply(ctx, p, want, seen) {
      const c: RegisterApply = {
        ctx,
        want,
        ...(seen.saved ? { saved: seen.saved } : {}),
        ...(seen.meta ? { meta: seen.meta } : {}),
        ...(seen.publicKey ? { publicKey: seen.publicKey } : {}),
        note: '',
      };
      await execute(registerExecutors, p.actions, c);
      if (c.result) return c.result;
      return poll(ctx, c.saved!, c.note);
    },
  });
}
