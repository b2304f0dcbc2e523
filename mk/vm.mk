# VM lab (issue 3): Debian image for the e2e tests, built from Debian packages only.
# See vm-images/build.sh and docs/decisions/0030-vm-lab.md.
.PHONY: vm-image vm-image-clean lab-demo

APT_PACKAGES += qemu-system-x86 qemu-utils debootstrap e2fsprogs iproute2 util-linux iputils-ping

# Cached by the recipe hash: a no-op (about 1 s) unless a file under vm-images/ changed.
vm-image: apt-deps
	./vm-images/build.sh

vm-image-clean:
	rm -rf vm-images/out vm-images/cache

test-e2e: vm-image

# The VM half of `make demo` on its own: a node joins the emulator, is deleted and tears down.
lab-demo: build vm-image
	$(NODE) scripts/lab-demo.ts
