/**
 * The host's own VPN for the join e2e (issue 15 item 1): before the install, the guest gets a `wg0`
 * set up the way operators do it with wireguard-tools' wg-quick — /etc/wireguard/wg0.conf with its
 * own key, one peer and Address 192.168.77.2/24, enabled as wg-quick@wg0 so it comes back after a
 * reboot. The agent must leave it exactly as it is. TEST CODE.
 *
 * Its peer's endpoint is the lab bridge (10.77.0.1, inside the lab namespace); no keepalive, and
 * nothing routes into 10.99.0.0/16, so it sends nothing.
 */
import type { Vm } from './lab.ts';

export const FOREIGN_WG = 'wg0';

export async function setupForeignWg(vm: Vm): Promise<void> {
  await vm.sh(
    [
      'set -e',
      'command -v wg-quick >/dev/null',
      'umask 077',
      'mkdir -p /etc/wireguard',
      'priv=$(wg genkey)',
      'peer=$(wg genkey | wg pubkey)',
      "cat > /etc/wireguard/wg0.conf <<EOF",
      '[Interface]',
      'PrivateKey = $priv',
      'Address = 192.168.77.2/24',
      'ListenPort = 51820',
      'MTU = 1420',
      '',
      '[Peer]',
      'PublicKey = $peer',
      'AllowedIPs = 192.168.77.1/32, 10.99.0.0/16',
      'Endpoint = 10.77.0.1:51820',
      'EOF',
      'systemctl enable --now wg-quick@wg0 >/dev/null 2>&1',
      'systemctl is-active wg-quick@wg0',
    ].join('\n'),
    { timeoutMs: 120_000 },
  );
}

/**
 * The interface as its owner sees it: its config (key, port, peers) from `wg showconf`, link and
 * addresses from `ip -d addr show` (-d prints no counters), and every route via it in every table,
 * both families. Byte-for-byte comparable within one boot.
 */
export async function foreignWgSnapshot(vm: Vm): Promise<string> {
  return vm.sh(
    [
      `for c in 'wg showconf ${FOREIGN_WG}' 'ip -d addr show dev ${FOREIGN_WG}' 'ip route show dev ${FOREIGN_WG}' 'ip route show table all dev ${FOREIGN_WG}' 'ip -6 route show table all dev ${FOREIGN_WG}'; do`,
      '  echo "\\$ $c"; $c 2>&1; echo "(exit $?)"',
      'done',
      `echo "wg-quick@${FOREIGN_WG}: $(systemctl is-active wg-quick@${FOREIGN_WG}) $(systemctl is-enabled wg-quick@${FOREIGN_WG})"`,
    ].join('\n'),
    { timeoutMs: 60_000 },
  );
}

/** Across a reboot only the kernel's ifindex may differ (`N: wg0: <…>`); everything else must not. */
export function withoutIfindex(snapshot: string): string {
  return snapshot.replace(new RegExp(`^\\d+: ${FOREIGN_WG}: `, 'gm'), `N: ${FOREIGN_WG}: `);
}
