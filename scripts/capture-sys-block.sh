#!/usr/bin/env bash
# Capture what the inventory reads of /sys/block (agent/inventory/blockdev.ts) on a real host, as a
# test fixture: `scripts/capture-sys-block.sh "description" > test/fixtures/sys-block/<host>.txt`.
# One `<dev>/<attr>=<value>` line per attribute, for EVERY /sys/block entry (loop, zram, dm- ...
# too: the fixture must show what the kernel lists, not what we keep), plus where each entry lives.
set -euo pipefail
echo "# /sys/block captured on: ${1:-$(uname -n)}; kernel $(uname -r); $(date -u +%Y-%m-%d)"
echo "# by scripts/capture-sys-block.sh (real kernel output, not edited)"
for d in /sys/block/*; do
  n=$(basename "$d")
  for a in size removable; do
    [ -r "$d/$a" ] && printf '%s/%s=%s\n' "$n" "$a" "$(cat "$d/$a")"
  done
  printf '%s/@device=%s\n' "$n" "$(readlink -f "$d")"
done
