# The two commands: `make run` serves the product, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Both cores: the suite mostly waits on servers it starts; a module stays on one worker, so
# each module's server starts once (PYTEST_WORKERS= runs it in one process).
PYTEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: run test install lint typecheck layers unit e2e bench conformance clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## make run: set up and serve the demo on http://127.0.0.1:$${TWOSTEP_PORT:-8000}
# Migrate first, so that a fresh machine's check finds the schema it will serve with; then
# check everything `serve` needs (stops here, naming the problem); then serve the demo.
run: install
	$(BIN)/twostep migrate
	$(BIN)/twostep check
	$(BIN)/twostep demo

## make test: install the tools the tests need, lint, type-check, check the layers, run every test
test: install
	bash scripts/install-test-tools.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

## make bench: every speed figure in one table, bench/results/latest.md (docs/benchmarks.md; not a test)
bench: install
	bash bench/run.sh

## make conformance: regenerate docs/conformance.md (RFC vectors x Twostep x oathtool x pyotp)
conformance: install
	$(BIN)/python scripts/conformance.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
