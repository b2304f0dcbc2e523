#!/usr/bin/env bash
# make build: dist/castai-edge-initd-linux-{amd64,arm64} and their .xz/.gz + .sha256.
# Runs scripts/build.ts with the pinned x64 Node (fetched by scripts/toolchain.sh when
# missing). Extra arguments go to build.ts, e.g. `scripts/build.sh --arch amd64 --force`.
set -euo pipefail
main() {
  local root; root="$(cd "$(dirname "$0")/.." && pwd)"
  cd "$root"
  # shellcheck source=scripts/node-pin.env
  . scripts/node-pin.env
  local node_dir="$root/.cache/node/$NODE_VERSION-x64"
  if [ ! -x "$node_dir/bin/node" ] || [ ! -x "$root/.cache/node/$NODE_VERSION-arm64/bin/node" ]; then
    ./scripts/toolchain.sh
  fi
  export PATH="$node_dir/bin:$root/node_modules/.bin:$PATH"
  # One build at a time in this tree (several engineers and make targets share dist/).
  mkdir -p dist
  exec 9>dist/.build.lock
  if ! flock -n 9; then
    echo "build: waiting for another build in this tree to finish" >&2
    flock 9
  fi
  "$node_dir/bin/node" scripts/build.ts "$@"
}
main "$@"
