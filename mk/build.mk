# Build area (issue 2, items 3 and 11): offline single binaries for amd64/arm64,
# the arm64 proof under qemu-user, and `make bench`.
#   strip (binutils) for amd64, aarch64-linux-gnu-strip for the arm64 Node;
#   qemu-aarch64-static + an arm64 sysroot to run the arm64 binary here;
#   GNU time for the peak-RSS bench key.
APT_PACKAGES += binutils binutils-aarch64-linux-gnu qemu-user-static xz-utils gzip time

.PHONY: arm64-sysroot
# .cache/arm64-sysroot from Debian's libc6/libstdc++6/libgcc-s1 arm64 packages (idempotent).
arm64-sysroot:
	./scripts/arm64-sysroot.sh

test-integration: arm64-sysroot
