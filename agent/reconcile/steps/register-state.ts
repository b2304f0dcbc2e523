/**
 * The register step's state files and the labels it sends, in a module without the API client, so
 * that `status` can read them without loading the network stack.
 */
import type { Taint } from '../../config/types.ts';
import type { RegistrationBinding } from './binding.ts';

export interface RegisterMeta {
  requestDigest: string;
  registeredAt: string;
  edgeId: string;
  /** The control plane register.json was made for (absent in files written before 0131: adopted). */
  binding?: RegistrationBinding;
  /**
   * The labels and taints the control plane last accepted (a 2xx register). It applies them to the
   * Node (docs/control-plane-api.md §3), so this — not the configuration — is what `status` reports the Node carries.
   */
  accepted?: { labels: Record<string, string>; taints: Taint[]; at: string };
  /**
   * Labels/taints the configuration asks for that the control plane has not accepted yet (the
   * re-registration was refused or could not be sent), with why; cleared by the next accepted one.
   * Recorded by the daemon, so `status` run from a shell (without the daemon's environment) tells the truth.
   */
  pending?: { labels: Record<string, string>; taints: Taint[]; since: string; reason: string };
}

/** The node's labels as sent to the control plane: the operator's, plus nodeID = machine-id unless given. */
export function userLabels(labels: Record<string, string>, machineId: string): Record<string, string> {
  return labels.nodeID ? { ...labels } : { ...labels, nodeID: machineId };
}

