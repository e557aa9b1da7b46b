# Crossdock developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-integration test-e2e test-browser lint format bench bench-search bench-ingest bench-resilience bench-limits bench-controller-outages bench-jobs bench-submissions clean

help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create the virtualenv (.venv) and install Crossdock with test and dev tools

run: $(STAMP) ## Start the service on the embedded database, fed by a local provider simulator
	$(BIN)/crossdock serve --with-simulator

test: $(STAMP) ## Run every test tier (unit, integration, e2e) with coverage
	$(PYTEST) tests/unit tests/integration tests/e2e tests/browser --cov --cov-report=term

test-unit: $(STAMP) ## Run the unit tests (no network, no sleeping)
	$(PYTEST) tests/unit

test-integration: $(STAMP) ## Run the integration tests (real SQLite/PostgreSQL, local sockets)
	$(PYTEST) tests/integration

test-e2e: $(STAMP) ## Run the end-to-end tests (real service and simulator processes on 127.0.0.1)
	$(PYTEST) tests/e2e

test-browser: $(STAMP) ## Run the browser tests (Debian's chromium, or CROSSDOCK_TEST_BROWSER, driven by Playwright)
	$(PYTEST) tests/browser

lint: $(STAMP) ## Check style, formatting and types (ruff, mypy strict)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP) ## Reformat the code and apply safe lint fixes
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP) ## Run the search and ingestion benchmarks (needs wrk and nginx; apt-get when root)
	bench/run.sh all

bench-search: $(STAMP) ## Load-test GET /search with wrk beside nginx serving a static file
	bench/run.sh search

bench-ingest: $(STAMP) ## Time a 10,000 x 1 x 100 feed sync on SQLite and PostgreSQL
	bench/run.sh ingest

bench-resilience: $(STAMP) ## Site-outages success rate at 40 % 500s and with 429 + Retry-After
	bench/run.sh resilience

bench-limits: $(STAMP) ## Peak memory of syncs of hostile feeds, and of 100,000 distinct /search queries
	bench/run.sh limits

bench-controller-outages: $(STAMP) ## Controller outages: batch and single-record POST /outages, GET /events vs nginx
	bench/run.sh controller-outages

bench-jobs: $(STAMP) ## Distributed jobs: no-op jobs/s and start latency via Redis and RabbitMQ; /search vs nginx
	bench/run.sh jobs

bench-submissions: $(STAMP) ## Submissions: share of a DSP limit used over 60 s (1 and 2 workers); RSS over 10,000 nodes
	bench/run.sh submissions

clean: ## Remove the virtualenv, caches and the embedded database
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage var build src/*.egg-info
