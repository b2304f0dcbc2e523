# Fuzzing (issue 9, item 1): `make chaos` runs every fuzz target of test/fuzz/
# with >= 100 000 generated inputs each (CHAOS_RUNS, CHAOS_JOBS, CHAOS_SEED),
# writes dist/chaos.json and prints a JSON summary as its last line.
# The short run is part of `make test` (test/unit/fuzz-parsers.test.ts, FUZZ_RUNS).
# See docs/decisions/0080-fuzzing.md.
#   make chaos CHAOS_TARGETS="k0s.join-token gpu.lgip"   only those targets (same seeds)
chaos: deps
	$(NODE) scripts/chaos.ts $(CHAOS_TARGETS)
