# Lint (issue 17, item 5): `make lint` runs typescript-eslint (type-aware, eslint.config.js) and knip (unused files,
# exports and dependencies, knip.jsonc). `make test` runs it right after typecheck, before the slow lanes, so a lint
# failure costs seconds, not a VM run. Needs only Node and npm (npm ci brings both tools). docs/decisions/0230-lint.md.
.PHONY: lint lint-eslint lint-knip

lint: lint-knip lint-eslint

lint-eslint: toolchain node_modules
	@t0=$$(date +%s); eslint --max-warnings 0 .; echo "eslint: clean in $$(( $$(date +%s) - t0 )) s"

lint-knip: toolchain node_modules
	knip --no-progress
