# Preflight / doctor / Host port tests (issue 2, items 6-8).
#   libc-bin (getent)   RealHost resolves names with `getent ahosts` (killable at the deadline)
#   util-linux, iproute2, mount   test/integration/doctor-dns-hang.test.ts builds a black-holed DNS in a private netns
APT_PACKAGES += libc-bin util-linux iproute2 mount
