#!/usr/bin/env bash
# castai-edge-initd-uninstall.sh — removes what the castai-edge-initd installer made, and only that.
#
# 1. If the node was set up by the agent, `castai-edge-initd reset` tears it down first
#    (stop k0sworker, k0s reset, WireGuard down, storage unmounted; see the README).
#    Pass --keep-node to skip this and leave k0s, WireGuard and storage as they are.
#    When the reset FAILS, nothing is removed and the exit status is non-zero: the binary, its
#    state and this script stay, so the reset can be fixed and retried (a re-run is safe).
#    Pass --force to carry on regardless (the node may be left half torn down).
# 2. Stops and disables castai-edge-initd.service.
# 3. Removes the k0s binary the agent installed (sha256 as recorded in k0s.json) and the empty
#    /etc/k0s and /var/lib/k0s it created (unless --keep-node).
# 4. Removes every file listed in /var/lib/castai-edge-initd/installed-files (written by the
#    installer), then the agent's state directory. Nothing is deleted through a mount point.
main() {
  set -euo pipefail
  local state_dir=/var/lib/castai-edge-initd
  local manifest="$state_dir/installed-files"
  local bin=/usr/local/bin/castai-edge-initd
  local keep_node=0 force=0 arg
  for arg in "$@"; do
    case "$arg" in
      --keep-node) keep_node=1 ;;
      --force) force=1 ;;
      -h|--help) echo "usage: castai-edge-initd-uninstall.sh [--keep-node] [--force]"; return 0 ;;
      *) echo "castai-edge-initd-uninstall: unknown argument: $arg (try --help)" >&2; return 2 ;;
    esac
  done
  if [ "$(id -u)" -ne 0 ]; then
    echo "castai-edge-initd-uninstall: must run as root (try: sudo $0)" >&2
    return 1
  fi

  if [ "$keep_node" -eq 0 ] && [ -x "$bin" ] && [ -f "$state_dir/journal.json" ]; then
    echo "castai-edge-initd-uninstall: tearing the node down (castai-edge-initd reset)"
    local rc=0
    "$bin" reset --yes-really-reset || rc=$?
    if [ "$rc" -ne 0 ]; then
      if [ "$force" -eq 0 ]; then
        echo "castai-edge-initd-uninstall: reset failed (exit $rc; its problems are above); nothing was removed, so the reset can be retried." >&2
        echo "  fix: fix what the reset named and run castai-edge-initd-uninstall.sh again; or --keep-node to uninstall without tearing the node down, or --force to remove everything anyway" >&2
        return 1
      fi
      echo "castai-edge-initd-uninstall: reset failed (exit $rc); --force: continuing with the uninstall" >&2
    fi
  fi

  # What the agent itself installed for k0s: the binary (only when its sha256 is the one the agent
  # recorded in k0s.json, i.e. ours) and the directories it created, when empty and not mounted.
  if [ "$keep_node" -eq 0 ]; then
    local k0s_sum
    if [ -f /usr/local/bin/k0s ] && [ -f "$state_dir/k0s.json" ]; then
      k0s_sum="$(sha256sum /usr/local/bin/k0s | cut -d' ' -f1)"
      if grep -q "\"sha256\": \"$k0s_sum\"" "$state_dir/k0s.json"; then rm -f -- /usr/local/bin/k0s; fi
    fi
    for f in /etc/k0s /var/lib/k0s; do
      if [ -d "$f" ] && ! mountpoint -q "$f"; then rmdir -- "$f" 2>/dev/null || true; fi
    done
  fi

  if [ -f /etc/systemd/system/castai-edge-initd.service ]; then
    systemctl disable --now castai-edge-initd.service >/dev/null 2>&1 || true
  fi

  local f
  if [ -f "$manifest" ]; then
    while IFS= read -r f; do
      case "$f" in
        ""|*..*) continue ;;
        /usr/local/bin/castai-edge-initd|/usr/local/bin/castai-edge-initd-uninstall.sh|/etc/systemd/system/castai-edge-initd.service|/etc/castai-edge-initd/*|/var/lib/castai-edge-initd/*) ;;
        *) echo "castai-edge-initd-uninstall: skipping unexpected manifest entry $f" >&2; continue ;;
      esac
      if [ -f "$f" ] || [ -L "$f" ]; then rm -f -- "$f"; fi
    done < "$manifest"
  fi
  rmdir /etc/castai-edge-initd 2>/dev/null || true

  # The state directory is ours. Refuse to delete through a mount point below it.
  if [ -d "$state_dir" ]; then
    if awk -v d="$state_dir" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      echo "castai-edge-initd-uninstall: something is mounted under $state_dir; unmount it and re-run. Nothing under it was deleted." >&2
      return 1
    fi
    rm -rf --one-file-system -- "$state_dir"
  fi
  systemctl daemon-reload >/dev/null 2>&1 || true
  echo "castai-edge-initd-uninstall: done"
}
main "$@"
