#!/bin/bash
# Guest-side shim for test/e2e/disk-safety.test.ts (TEST CODE; runs inside the lab VM only).
#
# Installed as /usr/local/lib/disk-safety/shim with one symlink per tool in
# /usr/local/lib/disk-safety/bin, which the test puts first on the agent's PATH. For every call:
#   1. "<tool> <args...>" is appended to /run/disk-safety/calls.log: the tripwire that shows which
#      commands the agent ran (a refused disk must see only read-only probes);
#   2. hook-<tool> exists and the arguments contain its content: the crash point. With an
#      hook-<tool>.after (a sh script), the real tool runs first and then that script (with the same
#      arguments); either way /run/disk-safety/reached-<tool> is written and the call sleeps until
#      the test hard-resets the VM;
#   3. fail-<tool> exists and the arguments contain its content: exit 97 (ends a pass on purpose);
#   4. otherwise the real tool (the next one on PATH after the shim directory) is exec'd.
# /run is a tmpfs: hooks and the log vanish with a reboot, so the next boot runs unhooked.
set -u
tool=${0##*/}
dir=/run/disk-safety
self=/usr/local/lib/disk-safety/bin
real() {
  local p parts
  IFS=: read -r -a parts <<< "$PATH"
  for p in "${parts[@]}"; do
    [ "$p" = "$self" ] && continue
    if [ -x "$p/$tool" ]; then printf '%s\n' "$p/$tool"; return 0; fi
  done
  echo "disk-safety shim: $tool not found on PATH" >&2
  return 127
}
if [ -d "$dir" ]; then
  printf '%s %s\n' "$tool" "$*" >> "$dir/calls.log"
  if [ -f "$dir/hook-$tool" ] && [[ " $* " == *"$(cat "$dir/hook-$tool")"* ]]; then
    if [ -f "$dir/hook-$tool.after" ]; then
      "$(real)" "$@" || exit $?
      sh "$dir/hook-$tool.after" "$@" || exit $?   # /run is noexec: run it through sh
    fi
    printf '%s\n' "$*" > "$dir/reached-$tool"
    exec sleep infinity
  fi
  if [ -f "$dir/fail-$tool" ] && [[ " $* " == *"$(cat "$dir/fail-$tool")"* ]]; then
    echo "disk-safety test: '$tool $*' stopped on purpose (the test ends the pass after the storage step)" >&2
    exit 97
  fi
fi
bin=$(real) || exit 127
exec "$bin" "$@"
