# edge-initd — top-level entry points. Everything installs its own dependencies.
#   make demo    build and run the main job (see README)
#   make test    every test: typecheck, lint, unit, integration, e2e (VM lab)
#   make build   dist/castai-edge-initd-linux-{amd64,arm64}[.xz|.gz][.sha256]
#   make bench   dist/bench.json (see ../shared/design/bench.md)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include scripts/node-pin.env
NODE_DIR   := $(CURDIR)/.cache/node/$(NODE_VERSION)-x64
NODE       := $(NODE_DIR)/bin/node
# The pinned Node runs npm, vitest, esbuild and tsc; the machine's Node only bootstraps npm.
export PATH := $(NODE_DIR)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false
VITEST := $(NODE) node_modules/vitest/vitest.mjs

.PHONY: help deps node-deps toolchain node_modules apt-deps typecheck lint build test test-unit test-integration test-e2e demo bench chaos clean

help:
	@echo "targets: demo test build bench chaos vm-image typecheck lint clean"

toolchain: $(NODE)
$(NODE): scripts/node-pin.env scripts/toolchain.sh
	./scripts/toolchain.sh
	@touch $(NODE)

node_modules: node_modules/.stamp
node_modules/.stamp: package.json package-lock.json $(NODE)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian packages the build and tests need. Installed only when missing.
APT_PACKAGES ?= xz-utils gzip shellcheck qemu-user-static
apt-deps:
	@./scripts/apt-ensure.sh $(APT_PACKAGES)

# The Node side only: the pinned Node (npm registry) and node_modules. No apt-get.
node-deps: toolchain node_modules

deps: node-deps apt-deps

typecheck: node-deps
	tsc -p tsconfig.json --noEmit

build: deps
	./scripts/build.sh

# The wait-bound VM lane (lane 1, scripts/test-e2e.sh) starts first and runs beside unit, integration
# and the CPU-bound VM lane 2, which run one after another in the foreground: CI's 45 minutes are
# bounded by lane 1's waits, not by their sum.
test: typecheck lint build vm-image
	NODE=$(NODE) E2E_FOREGROUND_FIRST='$(MAKE) --no-print-directory test-unit test-integration' ./scripts/test-e2e.sh

# Unit tests need only Node and npm (docs/decisions/0220-test-unit-node-only.md): no fragment in
# mk/ may add an apt-installed prerequisite to test-unit; test/unit/node-only.test.ts checks it.
test-unit: node-deps
	$(VITEST) run --project unit

test-integration: deps build
	$(VITEST) run --project integration

# Two lanes: the wait-bound API-fault file beside the CPU-bound rest (scripts/test-e2e.sh).
test-e2e: deps build
	NODE=$(NODE) ./scripts/test-e2e.sh

demo: build vm-image
	NODE=$(NODE) ./scripts/demo.sh

bench: build
	$(NODE) scripts/bench.ts

clean:
	rm -rf dist

# Area fragments (vm lab, emulator, chaos, ...) add targets and prerequisites here.
-include $(wildcard mk/*.mk)
