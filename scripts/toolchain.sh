#!/usr/bin/env bash
# Fetch the pinned Node.js (x64 and arm64) from the npm registry into .cache/node/,
# verify the tarball sha256, unpack. Idempotent; offline once cached.
# Usage: scripts/toolchain.sh            -> ensures both arches
#        scripts/toolchain.sh x64        -> only x64
set -euo pipefail
main() {
  local root; root="$(cd "$(dirname "$0")/.." && pwd)"
  # shellcheck source=node-pin.env
  . "$root/scripts/node-pin.env"
  local arches=("${@:-x64 arm64}")
  # shellcheck disable=SC2206
  arches=(${arches[*]})
  local a
  for a in "${arches[@]}"; do
    local dir="$root/.cache/node/$NODE_VERSION-$a"
    if [ -x "$dir/bin/node" ]; then continue; fi
    local want var="NODE_SHA256_${a^^}"
    want="${!var}"
    local tmp; tmp="$(mktemp -d "$root/.cache/tmp.XXXXXX" 2>/dev/null || { mkdir -p "$root/.cache"; mktemp -d "$root/.cache/tmp.XXXXXX"; })"
    echo "toolchain: fetching node-linux-$a@$NODE_VERSION from the npm registry" >&2
    (cd "$tmp" && npm pack --silent "node-linux-$a@$NODE_VERSION" >/dev/null)
    local tgz="$tmp/node-linux-$a-$NODE_VERSION.tgz" got
    got="$(sha256sum "$tgz" | cut -d' ' -f1)"
    if [ "$got" != "$want" ]; then
      echo "toolchain: sha256 mismatch for node-linux-$a@$NODE_VERSION: got $got, want $want" >&2
      rm -rf "$tmp"; exit 1
    fi
    mkdir -p "$tmp/x" && tar xzf "$tgz" -C "$tmp/x"
    rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$tmp/x/package" "$dir"
    rm -rf "$tmp"
  done
}
main "$@"
