# arm64 VM lab and the arm64 join e2e (issue 19, items 1-2). See docs/decisions/0190-arm64-vm-lab.md.
#   qemu-system-arm    qemu-system-aarch64 (the `virt` machine, TCG) boots the arm64 guests
#   qemu-user-static   qemu-aarch64-static runs the image build's arm64 programs (debootstrap's second
#                      stage, update-initramfs) through a binfmt_misc entry registered for the build
#   debootstrap        --arch arm64 from the machine's Debian mirror (Debian's arm64 packages only)
APT_PACKAGES += qemu-system-arm qemu-user-static debootstrap qemu-utils e2fsprogs

.PHONY: vm-image-arm64 test-e2e-arm64

# vm-images/out/arm64/<recipe-hash>/ (cached like the amd64 image; 585 s cold here, 2026-12-05).
vm-image-arm64: apt-deps
	./vm-images/build.sh arm64

# The arm64 join e2e (install -> join -> re-run -> reboot -> DELETE) with the arm64 binary. Not in
# `make test` (it does not fit CI's budget under TCG on 2 cores); prints its wall time at the end and
# records it, with the exit status and the sha256 of the arm64 download it tested, in
# dist/test-e2e-arm64.json: `make bench` reports it as join_arm64_e2e_s (scripts/bench/arm64.ts).
test-e2e-arm64: deps build vm-image-arm64
	@t0=$$(date +%s); rc=0; \
	$(VITEST) run --project e2e-arm64 || rc=$$?; \
	wall=$$(( $$(date +%s) - t0 )); \
	sha=$$(sha256sum dist/castai-edge-initd-linux-arm64.xz | cut -d' ' -f1); \
	printf '{"wall_s":%d,"exit":%d,"finished_at":"%s","binary_xz_sha256":"%s"}\n' "$$wall" "$$rc" "$$(date -u +%FT%TZ)" "$$sha" \
	  > dist/test-e2e-arm64.json; \
	echo "test-e2e-arm64: wall time $$wall s (exit $$rc), recorded in dist/test-e2e-arm64.json"; exit $$rc
