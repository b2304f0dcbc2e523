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

# The lab's own self-tests (boot, 9p, the command channel, the lab network): not part of make test,
# whose join and disk-safety suites use every part of the lab they check (CI's 45 minutes); run them
# after changing test/e2e/lab.ts or vm-images/.
.PHONY: test-e2e-lab
test-e2e-lab: deps build vm-image
	$(VITEST) run --project e2e test/e2e/lab.test.ts test/e2e/lab-network.test.ts
