#!/usr/bin/env bash
# Print the content hash of the VM image recipe for one architecture (amd64 by default, or the
# first argument): the path, mode and content of every file under vm-images/ except out/, cache/
# and documentation (*.md), plus the arch. The image is rebuilt only when this hash changes.
# Single source of truth for `make vm-image` (vm-images/build.sh) and test/e2e/lab.ts.
set -euo pipefail
arch="${1:-amd64}"
cd "$(dirname "$0")"
{
  find . \( -path ./out -o -path ./cache \) -prune -o -type f ! -name '*.md' -print0 \
    | LC_ALL=C sort -z \
    | while IFS= read -r -d '' f; do
        x=-; [ -x "$f" ] && x=x
        printf '%s %s %s\n' "$x" "$(sha256sum <"$f" | cut -d' ' -f1)" "$f"
      done
  printf 'arch %s\n' "$arch"
} | sha256sum | cut -c1-16
