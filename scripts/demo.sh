#!/usr/bin/env bash
# `make demo`: the main job, after `make build` and `make vm-image` (both warm in seconds once
# built): a Debian 12 node in the VM lab joins the local control-plane emulator through the
# documented one-liner, is deleted by the operator and tears itself down (scripts/lab-demo.ts).
# DEMO_SKIP_VM=1 shows only the binary's version and configuration check on this machine.
set -uo pipefail
main() {
  cd "$(dirname "$0")/.."
  local bin=dist/castai-edge-initd-linux-amd64
  printf '\n\033[1m== castai-edge-initd version (the binary the node will download)\033[0m\n'
  "$bin" version
  if [ "${DEMO_SKIP_VM:-0}" = 1 ]; then
    printf '\n\033[1m== castai-edge-initd config --env-file test/fixtures/example.env\033[0m\n'
    "$bin" config --env-file test/fixtures/example.env
    return
  fi
  "$NODE" scripts/lab-demo.ts
}
main "$@"
