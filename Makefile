# Quire: two commands on a fresh machine.
#   make dev    run Quire locally (set-up included): emulator, provisioning, seeding, API on :3000
#   make test   every test (set-up included): format, clippy, unit, black-box, template lint, chain vectors
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3

.PHONY: setup dev test check-format clippy features unit template-lint traceability bench size clean-venv

## Project virtualenv: the pinned emulator (moto), template linters, and the AWS Encryption SDK
## (the official peer of the envelope interop tests).
setup: $(VENV)/.installed

$(VENV)/.installed: infra/local/requirements.txt infra/lint/requirements.txt infra/local/requirements-interop.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/local/requirements.txt \
		-r infra/lint/requirements.txt -r infra/local/requirements-interop.txt
	touch $@

## Runs Quire locally until Ctrl-C. QUIRE_PORT (3000), QUIRE_EMULATOR_PORT (4566), QUIRE_DEMO_PASSWORD.
dev: setup
	cargo run -p quire-local --bin quire-local

## Every test. CI runs exactly this.
test: setup check-format clippy features unit

check-format:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# The store crate builds on its own features, and a root build (what `sam build` runs: the
# default members) never enables the test helpers on it.
features:
	cargo check --quiet -p quire-store --all-targets
	@if cargo tree --quiet -e features -i quire-store | grep -q '"testing"'; then \
		echo "quire-store's testing feature reaches a deployed function"; exit 1; fi

# Also run by `cargo test` (infra/local/tests/template_lint.rs), so it is traced to OPS-1.
template-lint:
	bash infra/lint-template.sh

# Tests of one binary run in parallel against its stack: a test that lists or counts works in an
# organisation of its own (`Harness::new_org`), never in the seeded ones other tests write to.
# The results log feeds the traceability matrix; the check fails when the committed matrix is
# stale (run `make traceability` after the run and commit it).
unit:
	mkdir -p target; set -o pipefail; cargo test --workspace --no-fail-fast 2>&1 | tee target/test-results.log
	$(PYTHON) scripts/verify_chain.py --vectors shared/core/tests/vectors/audit-chain.json
	$(PYTHON) scripts/traceability.py --results target/test-results.log --check

## Regenerates docs/traceability.md from the test suite's tags and the last test run.
traceability:
	$(PYTHON) scripts/traceability.py --results target/test-results.log

bench:
	cargo bench -p quire-core -p quire-crypto -p quire-http

size:
	bash scripts/bootstrap-size.sh

clean-venv:
	rm -rf $(VENV)
