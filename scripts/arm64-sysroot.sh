#!/usr/bin/env bash
# Build a minimal arm64 sysroot (.cache/arm64-sysroot) from Debian's own arm64
# packages, so the cross-built arm64 binary runs here under
# `qemu-aarch64-static -L .cache/arm64-sysroot`. Needs root (dpkg --add-architecture).
# Idempotent: does nothing when the sysroot is complete.
set -euo pipefail
TMP_DIR=""
PKGS=(libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64)
main() {
  local root dir
  root="$(cd "$(dirname "$0")/.." && pwd)"
  dir="$root/.cache/arm64-sysroot"
  if [ -e "$dir/lib/ld-linux-aarch64.so.1" ] && [ -e "$dir/.complete" ]; then return 0; fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "arm64-sysroot: adding the arm64 architecture to dpkg" >&2
    $sudo dpkg --add-architecture arm64
    $sudo "${apt[@]}" update -qq
  fi
  mkdir -p "$root/.cache"
  TMP_DIR="$(mktemp -d "$root/.cache/sysroot.XXXXXX")"
  trap 'rm -rf "$TMP_DIR"' EXIT
  local tmp="$TMP_DIR"
  # apt-get download needs the arm64 package lists; refresh them once if the first try fails.
  if ! (cd "$tmp" && "${apt[@]}" download -qq "${PKGS[@]}" >/dev/null 2>&1); then
    $sudo "${apt[@]}" update -qq
    (cd "$tmp" && "${apt[@]}" download -qq "${PKGS[@]}")
  fi
  mkdir -p "$tmp/root"
  local deb
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  # Debian 12 is merged-/usr on installed systems only; the debs ship /lib and /usr/lib.
  # qemu -L prefixes every path, and the ELF interpreter is /lib/ld-linux-aarch64.so.1.
  [ -e "$tmp/root/lib/ld-linux-aarch64.so.1" ] || { echo "arm64-sysroot: no /lib/ld-linux-aarch64.so.1 in ${PKGS[*]}" >&2; exit 1; }
  for deb in "$tmp"/*.deb; do basename "$deb"; done >"$tmp/root/.complete"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
  echo "arm64-sysroot: ready at $dir ($(tr '\n' ' ' <"$dir/.complete"))" >&2
}
main "$@"
