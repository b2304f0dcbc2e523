#!/usr/bin/env bash
# `make demo`: what an operator sees. Runs after `make build`.
#  1. On this machine: the built binary's config, doctor and plan for test/fixtures/example.env.
#  2. In the VM lab (when the lab is available): the node joining the local control-plane emulator.
set -uo pipefail
main() {
  cd "$(dirname "$0")/.."
  local bin=dist/castai-edge-initd-linux-amd64 env=test/fixtures/example.env
  banner() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
  banner "castai-edge-initd version"
  "$bin" version
  banner "castai-edge-initd config --env-file $env"
  "$bin" config --env-file "$env"
  banner "castai-edge-initd doctor --env-file $env   (this build machine: PID 1 is not systemd, so doctor must say so)"
  "$bin" doctor --env-file "$env" --deadline 3000; echo "(exit $?)"
  banner "castai-edge-initd plan --env-file $env"
  INITD_STATE_DIR="$(mktemp -d)" "$bin" plan --env-file "$env"; echo "(exit $?)"
  if [ -f scripts/lab-demo.ts ] && [ "${DEMO_SKIP_VM:-0}" != 1 ]; then
    banner "VM lab: a Debian 12 node (kernel 6.1, systemd, 2 emulated NVMe) under qemu"
    "$NODE" scripts/lab-demo.ts
  fi
}
main "$@"
