# The two commands: `make run` serves the product, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

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
run: install
	$(BIN)/twostep demo

## make test: install the tools the tests need, lint, type-check, check the layers, run every test
test: install
	bash scripts/install-test-tools.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

## make bench: Twostep, a bare FastAPI ceiling and privacyIDEA under the same load (not a test)
bench: install
	bash bench/run.sh

## make conformance: regenerate docs/conformance.md (RFC vectors x Twostep x oathtool x pyotp)
conformance: install
	$(BIN)/python scripts/conformance.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
