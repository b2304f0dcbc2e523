# Fuzzing (issue 9, item 1): `make chaos` runs every fuzz target of test/fuzz/
# with >= 100 000 generated inputs each (CHAOS_RUNS, CHAOS_JOBS, CHAOS_SEED),
# writes dist/chaos.json and prints a JSON summary as its last line.
# Seeds rotate: without CHAOS_SEED each run takes a fresh seed and prints it with the replay command.
# The short run is part of `make test` (test/unit/fuzz-parsers.test.ts, FUZZ_RUNS) with a FIXED seed.
# See docs/decisions/0080-fuzzing.md and 0221-fuzz-seeds.md.
#   make chaos CHAOS_TARGETS="k0s.join-token gpu.lgip"   only those targets (same seeds)
chaos: node-deps
	$(NODE) scripts/chaos.ts $(CHAOS_TARGETS)

# API fault injection in the VM lab (issue 9 item 2): a joined node under a 5-minute API outage
# (refused, then black-holed), 5xx storm, 429 + Retry-After, garbage, slow answers, 401, and get-edge
# answering nginx's HTML 404 then EDGE_NOT_FOUND for another edge (5 min each, never a teardown); prints
# one JSON object (requests/min per endpoint, recovery, RSS, stayed joined) as its last line and
# writes dist/chaos-faults.json. Separate from `make chaos` (it needs the VM lab and nftables;
# about 35 min on 2 cores). See docs/decisions/0120-api-fault-injection.md and 0130.
#   make chaos-faults CHAOS_FAULTS_ARGS="--outage-s 120 --only outage,429"
APT_PACKAGES += nftables
.PHONY: chaos-faults
chaos-faults: deps build vm-image
	$(NODE) scripts/chaos-faults.ts $(CHAOS_FAULTS_ARGS)

# The VM disk-safety matrix with every reboot crash point chained (after pvcreate; inside
# mkfs.xfs; after mkfs, before the enable). `make test` runs the matrix with the mkfs point only.
# See docs/decisions/0110-vm-disk-safety-matrix.md.
.PHONY: chaos-disks
chaos-disks: build vm-image
	DISK_SAFETY_ALL_POINTS=1 $(NODE) node_modules/vitest/vitest.mjs run --project e2e test/e2e/disk-safety.test.ts
