# NVMe storage (issue 5).
#   gdisk  `sgdisk` writes the GPT of the "partitioned disk" in test/e2e/disk-safety.test.ts (the guest has no partitioner)
APT_PACKAGES += gdisk
