# taperwise — set-up and everyday tasks. Python >= 3.11 is all a fresh machine needs; uv is bootstrapped
# into .bootstrap/ with pip when it is not on PATH, and the locked environment goes into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .bootstrap/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo
SAMPLE := examples/prescriptions.csv

.PHONY: help install demo demo-batch test lint typecheck unit bench clean

help:
	@echo "make demo        run the pipeline on the built-in sample and show where the outputs are"
	@echo "make demo-batch  the same without serving, exits 0"
	@echo "make test        install what the tests need, then ruff, mypy and the whole test suite"
	@echo "make bench       the benchmarks (not part of make test)"

.bootstrap/bin/uv:
	$(PYTHON) -m venv .bootstrap
	.bootstrap/bin/pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups
	@touch $@

install: $(VENV)/.synced

demo-batch: install
	@mkdir -p $(DEMO_OUT)
	$(BIN)/taperwise mme $(SAMPLE) -o $(DEMO_OUT)/mme.csv
	$(BIN)/taperwise segments $(SAMPLE) -o $(DEMO_OUT)/segments.csv
	$(BIN)/taperwise window $(SAMPLE) --start 2025-01-01 --end 2025-03-31 -o $(DEMO_OUT)/window.csv
	@echo
	@echo "Outputs in $(DEMO_OUT)/:"
	@echo "  mme.csv       one row per prescription: daily MME, status and reason"
	@echo "  segments.csv  per patient, date ranges of constant total daily MME"
	@echo "  window.csv    per patient, 2025-01-01..2025-03-31: total MME and mme1-mme4"

demo: demo-batch

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

test: lint typecheck unit

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .bootstrap out .pytest_cache .mypy_cache .ruff_cache
