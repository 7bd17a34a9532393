# Shipyard's entry points. `make run` and `make test` work on a fresh machine: they
# install what they need (uv, Python deps, the Pulumi CLI) before doing their job.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
SHIPYARD := $(VENV)/bin/shipyard
PYTEST := $(UV) run --frozen pytest

.PHONY: help setup run test test-unit test-integration test-backstage test-backstage-card lint check-clone bench fuzz e2e clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install uv, the Python deps and the Pulumi CLI (built from Go modules if needed)
	@scripts/setup.sh

run: setup ## Set up, then run Shipyard's main job on the embedded default
	@scripts/run.sh

lint: setup ## ruff and mypy (strict on src/)
	$(UV) run --frozen ruff check src tests benchmarks
	$(UV) run --frozen ruff format --check src tests benchmarks
	$(UV) run --frozen mypy

test: lint check-clone test-backstage ## Lint, check a plain clone collects, then every test, as CI runs it
	$(PYTEST) -m "not fuzz and not cluster and not backstage_app" tests

check-clone: setup ## Collect the suite in a plain clone of HEAD with no ../shared beside it
	@scripts/check-clone.sh

test-backstage: setup ## The Backstage plugins' tests: permissions, the backend plugin and the proxy against a real shipyard serve, the card
	@command -v npm >/dev/null || { echo "make test-backstage needs Node.js >= 20 and npm" >&2; exit 1; }
	@for dir in backstage/plugins/shipyard-common backstage/plugins/shipyard-backend backstage/plugins/shipyard; do \
		if [ -f $$dir/package-lock.json ]; then \
			echo "==> npm test in $$dir"; (cd $$dir && CI=true npm test --silent) || exit 1; \
		fi; \
	done

# The card's tests alone (make test-backstage runs them too, after shipyard-common's).
test-backstage-card: setup ## The Backstage card's tests only (npm test in backstage/plugins/shipyard)
	cd backstage/plugins/shipyard && CI=true npm test --silent

test-unit: setup ## Fast unit tests only
	$(PYTEST) -m "not fuzz" tests/unit

test-integration: setup ## Integration tests against the real Pulumi CLI
	$(PYTEST) -m "not fuzz" tests/integration

fuzz: setup ## Long property-based runs (>= 10,000 examples each)
	$(PYTEST) -m fuzz --hypothesis-profile=fuzz tests

e2e: setup test-backstage-card ## The end-to-end suites alone: make run, the control plane, the local flow, many hosts
	$(PYTEST) -m "not fuzz" tests/integration/e2e tests/integration/services \
		tests/integration/targets/local/test_local_flow.py
	$(PYTEST) -m cluster tests/integration/cluster
	$(PYTEST) -m backstage_app tests/e2e_backstage  # a real Backstage app: scripts/setup-backstage-app.sh

bench: setup ## Benchmarks; JSON results in benchmarks/results/
	@mkdir -p benchmarks/results
	$(UV) run --frozen python benchmarks/engine.py --output benchmarks/results/engine.json
	$(UV) run --frozen python benchmarks/local_target.py --output benchmarks/results/local_target.json
	$(UV) run --frozen python benchmarks/control_plane.py --output benchmarks/results/control_plane.json
	$(UV) run --frozen python benchmarks/web_pages.py --output benchmarks/results/web_pages.json
	$(UV) run --frozen python benchmarks/webhooks.py --output benchmarks/results/webhooks.json
	$(UV) run --frozen python benchmarks/cluster.py --output benchmarks/results/cluster.json
	$(UV) run --frozen python benchmarks/cluster_hosts.py --output benchmarks/results/cluster_hosts.json

clean: ## Remove the virtualenv and caches (not ~/.cache/shipyard)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
