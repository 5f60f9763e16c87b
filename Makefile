# Shanhai: two commands set up everything on a fresh machine.
#   make run   -> the main job on embedded defaults (SQLite, local Prefect server, worker)
#   make test  -> the whole suite (SQLite and a throwaway PostgreSQL cluster)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_HOME ?= $(CURDIR)/var/prefect
export DO_NOT_TRACK := 1

.PHONY: install system-deps run test lint bench screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# PYTHONWARNINGS: setuptools' editable-install banner is not for the person running make run
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# PostgreSQL server binaries for the throwaway test cluster (Debian package).
system-deps:
	@bash scripts/ensure-system-deps.sh

run: install
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/shanhai up

# ruff (style, imports, A005), import-linter (the layers), mypy (types) over the package
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: install system-deps lint
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the browser tests' screenshots, into docs/screenshots (what the README shows)
screenshots: install system-deps
	@mkdir -p $(PREFECT_HOME)
	SHANHAI_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

bench: install system-deps
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) var
