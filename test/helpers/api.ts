/**
 * The control-plane API as the tests speak it (docs/control-plane-api.md §3, §4), named once: a fresh
 * WireGuard public key, a valid register request, the ApiError a call must reject with, and the
 * agent's own client (agent/api/client.ts) pointed at an in-process emulator.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { expect } from 'vitest';
import { ApiClient, ApiError, type ApiClientOptions } from '../../agent/api/client.ts';
import type { RegisterRequest, RegisterResponse } from '../../agent/api/types.ts';
import type { ControlPlaneEmulator } from '../control-plane/emulator.ts';

/** A fresh x25519 public key as `wg pubkey` prints it: base64 of the raw 32 bytes. */
export function wgPublicKey(): string {
  const der = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('base64');
}

/** A machine id (32 hex digits, the shape of /etc/machine-id) derived from `seed`. */
export function machineIdFrom(seed: string): string {
  return createHash('md5').update(seed).digest('hex');
}

/**
 * A valid register request: amd64, 2 vCPUs, 4 GiB, one 20 GiB disk, no GPU, label env=prod, taint
 * dedicated=gpu:NoSchedule and a fresh WireGuard key. `over` replaces whole fields.
 */
export function registerRequest(over: Partial<RegisterRequest> = {}): RegisterRequest {
  return {
    machineId: '0123456789abcdef0123456789abcdef',
    hostname: 'edge-1',
    arch: 'amd64',
    kernel: '6.1.0-28-amd64',
    agentVersion: '0.1.0',
    wireguardPublicKey: wgPublicKey(),
    kubernetesLabels: { env: 'prod' },
    kubernetesTaints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }],
    inventory: {
      vcpus: { count: 2 },
      memory: 4096,
      swap: 0,
      storage: { disks: 1, size: 20480 },
      network: { interfaces: 1, txBandwidth: 1000, rxBandwidth: 1000 },
      gpus: { count: 0, memory: 0, gpus: [], features: [], modelNames: [] },
    },
    ...over,
  };
}

/** The ApiError `p` rejects with; fails the test if it resolves or rejects with anything else. */
export async function apiRejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return e as ApiError;
  }
  throw new Error('expected a rejection');
}

/** The agent's API client for `emu`'s org, cluster and location, trusting its CA; `extra` adds or replaces options. */
export function emulatorClient(emu: ControlPlaneEmulator, extra: Partial<ApiClientOptions> = {}): ApiClient {
  return new ApiClient({
    apiUrl: emu.apiUrl,
    orgId: emu.orgId,
    clusterId: emu.clusterId,
    edgeLocationId: emu.locationId,
    caPem: emu.caPem,
    ...extra,
  });
}

/** Registers a new edge (random machine id) on `emu` with a fresh bootstrap token; `over` replaces request fields. */
export async function registerEdge(emu: ControlPlaneEmulator, over: Partial<RegisterRequest> = {}): Promise<RegisterResponse> {
  const c = emulatorClient(emu);
  try {
    const { response } = await c.register(emu.issueBootstrapToken(), registerRequest({ machineId: machineIdFrom(String(Math.random())), ...over }));
    return response;
  } finally {
    await c.close();
  }
}
