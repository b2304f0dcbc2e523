import { AgentError } from '../errors.ts';
import type { Host } from './host.ts';
import { MACHINE_ID_FILE } from './paths.ts';

/**
 * systemd's machine-id (MACHINE_ID_FILE): the node's identity at registration and its default nodeID label, for the
 * register step and `inventory --format aios` alike. A missing or empty one is refused (the message spells the path
 * out so that docs/errors.md reads plainly).
 */
export async function readMachineId(host: Host): Promise<string> {
  const id = (await host.readFile(MACHINE_ID_FILE))?.trim();
  if (!id) {
    throw new AgentError(
      '/etc/machine-id is missing or empty',
      'run `systemd-machine-id-setup`: the machine-id identifies this node to the control plane',
    );
  }
  return id;
}
