/**
 * Installing the nvidia-smi TEST DOUBLE (nvidia-smi-test-double.sh, NOT NVIDIA
 * software) into a VM lab guest as /usr/local/bin/nvidia-smi. Test code only.
 */
import path from 'node:path';
import type { Vm } from '../e2e/lab.ts';

export const NVIDIA_SMI_TEST_DOUBLE = path.resolve(import.meta.dirname, 'nvidia-smi-test-double.sh');
/** Where the double keeps its simulated GPUs in the guest (survives reboots; the double notices them via boot_id). */
export const GUEST_DOUBLE_STATE = '/var/lib/nvidia-smi-test-double';

/** nvidia-smi calls that change a GPU (as logged in calls.log, without the program name). */
export const isMutatingSmiCall = (line: string): boolean => /(^| )-mig 1|^-r |-cgi|-dci|-dgi|--test-double-reboot/.test(line);

/**
 * Install (or re-install with a fresh simulated machine) the double in a guest.
 * `config` is the double's config file, e.g. "gpus=a100-40gb\nenable=pending-in-use\n".
 */
export async function installNvidiaSmiDouble(vm: Vm, config: string): Promise<void> {
  const g = vm.putFile(NVIDIA_SMI_TEST_DOUBLE, 'nvidia-smi-test-double.sh', 0o755);
  const cfg = vm.putFile(Buffer.from(config), 'nvidia-smi-test-double.config');
  await vm.sh(
    [
      'set -e',
      `install -m 0755 ${g} /usr/local/bin/nvidia-smi`,
      `printf 'state_dir=%s\\n' ${GUEST_DOUBLE_STATE} > /usr/local/bin/nvidia-smi-test-double.conf`,
      `rm -rf ${GUEST_DOUBLE_STATE}`,
      `mkdir -p ${GUEST_DOUBLE_STATE}`,
      `cp ${cfg} ${GUEST_DOUBLE_STATE}/config`,
    ].join('\n'),
  );
}

/** Every nvidia-smi call the double saw in the guest, oldest first. */
export async function nvidiaSmiCalls(vm: Vm): Promise<string[]> {
  const out = await vm.sh(`cat ${GUEST_DOUBLE_STATE}/calls.log 2>/dev/null || true`);
  return out.split('\n').filter(Boolean);
}
