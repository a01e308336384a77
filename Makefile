# taperwise — set-up and everyday tasks. Python >= 3.11 is all a fresh machine needs; uv is bootstrapped
# into .bootstrap/ with pip when it is not on PATH, and the locked environment goes into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .bootstrap/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo
SAMPLE := examples/prescriptions.csv

.PHONY: help install system demo demo-batch test lint typecheck unit bench bench-publish bench-startup bench-cds bench-quick bench-quick-record clean

help:
	@echo "make demo        run the pipeline on the built-in sample and show where the outputs are"
	@echo "make demo-batch  the same without serving, exits 0"
	@echo "make test        install what the tests need, then ruff, mypy and the whole test suite"
	@echo "make bench       the benchmarks (not part of make test); make bench-publish, bench-startup: one part"
	@echo "make bench-quick a few minutes: fails if a benchmark ratio regressed >20% against bench/quick-baseline.json"

.bootstrap/bin/uv:
	$(PYTHON) -m venv .bootstrap
	.bootstrap/bin/pip install --quiet uv

# Bytecode is compiled at install (--compile-bytecode, and compileall for our own sources): a machine that
# sets PYTHONDONTWRITEBYTECODE would otherwise compile every library from source at every start, which
# made each command (and each test that runs one) seconds slower.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --all-extras --compile-bytecode
	@touch $@

install: $(VENV)/.synced
	@$(BIN)/python -m compileall -q src bench

# Machine packages the tests use: Debian's Chromium (the browser tests drive it; Playwright never
# downloads one), a Java runtime for Spark's local mode, and Pango with a font for WeasyPrint's PDFs (the
# patient calendar, the GP letter). Installed only when missing.
system:
	@if [ ! -x /usr/bin/chromium ] || ! command -v java >/dev/null 2>&1; then \
		echo "installing chromium and a Java runtime with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium openjdk-17-jre-headless >/dev/null; \
	fi
	@if ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || [ ! -d /usr/share/fonts/truetype/dejavu ]; then \
		echo "installing Pango and the DejaVu fonts with apt-get (WeasyPrint)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core >/dev/null; \
	fi

# The demo: a synthetic FHIR export (no real patient) → ingest → MME, segments, windows → registry
# published into a fresh SQLite store with demo users → (make demo) the web app.
DEMO_DB := sqlite:///$(DEMO_OUT)/taperwise.db
DEMO_PASSWORD ?= amber kettle sunrise lantern
DEMO_AS_OF := 2025-12-31

demo-batch: install
	@rm -rf $(DEMO_OUT) && mkdir -p $(DEMO_OUT)
	$(BIN)/taperwise synth --patients 2000 --format fhir --seed 7 -o $(DEMO_OUT)/fhir
	$(BIN)/taperwise ingest fhir $(DEMO_OUT)/fhir -o $(DEMO_OUT)/prescriptions.parquet
	$(BIN)/taperwise mme $(DEMO_OUT)/prescriptions.parquet -o $(DEMO_OUT)/mme.csv
	$(BIN)/taperwise segments $(DEMO_OUT)/prescriptions.parquet -o $(DEMO_OUT)/segments.csv
	$(BIN)/taperwise window $(DEMO_OUT)/prescriptions.parquet --start 2025-10-03 --end $(DEMO_AS_OF) -o $(DEMO_OUT)/window.csv
	$(BIN)/taperwise registry $(DEMO_OUT)/prescriptions.parquet --as-of $(DEMO_AS_OF) \
		--events $(DEMO_OUT)/prescriptions.events.parquet -o $(DEMO_OUT)/registry.csv \
		--publish --db $(DEMO_DB) --org DEMO
	$(BIN)/taperwise taper plan examples/taper-request.json -o $(DEMO_OUT)/taper-plan.json
	@for user in "demo-gp clinician gp" "demo-pharmacist pharmacist pharmacy" "demo-analyst analyst research"; do \
		set -- $$user; \
		TAPERWISE_PASSWORD='$(DEMO_PASSWORD)' $(BIN)/taperwise users add $$1 --role $$2 --specialty $$3 \
			--org DEMO --db $(DEMO_DB) >/dev/null || exit 1; \
	done
	$(BIN)/python -m taperwise.demo --db $(DEMO_DB) --org DEMO --user demo-gp
	$(BIN)/taperwise program calendar $(DEMO_OUT)/taper-plan.json -o $(DEMO_OUT)/calendar.pdf --clinic "Demo Practice"
	$(BIN)/taperwise program letter $(DEMO_OUT)/taper-plan.json -o $(DEMO_OUT)/letter.pdf --clinic "Demo Practice"
	@echo
	@echo "Outputs in $(DEMO_OUT)/:"
	@echo "  fhir/                      the synthetic FHIR R4 bulk export (2,000 patients)"
	@echo "  prescriptions.parquet      canonical prescriptions (+ .patients, .events, .problems.csv beside it)"
	@echo "  mme.csv                    one row per prescription: daily MME, status and reason"
	@echo "  segments.csv               per patient, date ranges of constant total daily MME"
	@echo "  window.csv                 per patient, the 90 days to $(DEMO_AS_OF): total MME and mme1-mme4"
	@echo "  registry.csv               the prioritised worklist (+ metadata and segments beside it)"
	@echo "  taper-plan.json            a taper plan from examples/taper-request.json"
	@echo "  calendar.pdf, letter.pdf   that plan's patient calendar and GP/team letter"
	@echo "  taperwise.db               the clinical store, registry published for organisation DEMO"
	@echo
	@echo "Demo users (password: $(DEMO_PASSWORD)): demo-gp (clinician), demo-pharmacist, demo-analyst (de-identified)"
	@echo "One synthetic patient is already in the program (printed above): an assessment, an agreed plan, a follow-up."

demo: demo-batch
	@echo "Serving http://127.0.0.1:8000 — sign in as demo-gp / $(DEMO_PASSWORD); Ctrl-C to stop"
	TAPERWISE_DEV=1 $(BIN)/taperwise serve --host 127.0.0.1 --port 8000 --db $(DEMO_DB)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The suite runs on every core (pytest-xdist, docs/decisions/0021). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
unit: install system
	$(BIN)/pytest -q -n $(TEST_WORKERS)

test: lint typecheck unit

# Start-up of the command line (bench/startup.py), exposure benchmarks (BENCH_SIZES), publishing into SQLite and
# PostgreSQL (BENCH_PUBLISH_SIZES), CDS Hooks latency (bench/cds.py) — docs/benchmarks.md. `make bench-publish`,
# `make bench-startup`, `make bench-cds` run one part.
bench: install
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.publish
	$(BIN)/python -m bench.cds

bench-cds: install
	$(BIN)/python -m bench.cds

bench-startup: install
	$(BIN)/python -m bench.startup

# The ratios of `make bench` on a small export, against the committed ones (bench/quick.py).
bench-quick: install
	$(BIN)/python -m bench.quick

bench-quick-record: install
	BENCH_QUICK_RECORD=1 $(BIN)/python -m bench.quick

bench-publish: install
	$(BIN)/python -m bench.publish

clean:
	rm -rf $(VENV) .bootstrap out .pytest_cache .mypy_cache .ruff_cache
