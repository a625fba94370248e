# flightsite — the two commands a newcomer needs: `make run` and `make test`.
# Everything else (venv, install, migrate, demo data, embedded Valkey) happens on the way.
# `make` alone (or `make help`) lists every target: the `## ` comment after a target's name.
.DEFAULT_GOAL := help

# The first interpreter that really runs and is >= 3.11 (a pyenv shim may exist but not run).
PYTHON ?= $(shell for p in python3 python3.11 python3.12 python3.13; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Extras installed by `make test`; CI adds mysql (mysqlclient needs the client headers, see README).
EXTRAS ?= test
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: help run test install lint format bench bench-quick bench-publish lock clean

# `make run` and `make test` may start at once in a fresh clone: one of them creates the venv and
# installs, the other waits (flock, from util-linux; without it they run as they come).
LOCKED := $(shell command -v flock >/dev/null 2>&1 && echo "flock $(VENV).lock")

help: ## Show this list of targets (the default)
	@echo "flightsite: make <target> [VAR=value ...]   (README.md has the details)"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Variables: PORT=$(PORT) HOST=$(HOST) EXTRAS=$(EXTRAS) PYTEST_ARGS=... PYTHON=$(PYTHON)"

$(PY):
	@test -n "$(PYTHON)" || { echo "flightsite needs Python >= 3.11: install it or set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "flightsite needs Python >= 3.11 (found %s). Set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-$(EXTRAS): $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $@

install: ## Create .venv and install the project with EXTRAS (default: test)
	@$(LOCKED) $(MAKE) --no-print-directory $(VENV)/.installed-$(EXTRAS)

run: ## Serve the site on HOST:PORT, default 127.0.0.1:8000 (embedded Valkey, demo data)
	@$(MAKE) --no-print-directory install EXTRAS=server
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py load_demo_data --if-needed
	$(PY) manage.py runserver $(HOST):$(PORT)

test: ## ruff, mypy and the whole test suite (its own servers: safe beside `make run`)
	@$(MAKE) --no-print-directory install EXTRAS=$(EXTRAS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## Fix what ruff can fix and format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The benchmark (bench/README.md): ~10 min, or ~2 with bench-quick; results in bench/results/latest/
# (untracked). BENCH_MYSQL_URL=mysql://root@127.0.0.1:3306/flightsite_bench adds MariaDB.
BENCH_EXTRAS ?= bench,server,mysql
BENCH_ARGS ?=
bench: ## The benchmark, ~10 min (bench/README.md); results in bench/results/latest/
	@$(MAKE) --no-print-directory install EXTRAS=$(BENCH_EXTRAS)
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: ## A short benchmark run, ~2 min
	@$(MAKE) --no-print-directory install EXTRAS=$(BENCH_EXTRAS)
	$(PY) bench/run.py --quick $(BENCH_ARGS)

# Copy the latest results table into README.md's performance section (on purpose, not per run).
bench-publish: ## Copy the latest benchmark table into docs/benchmark.md
	$(PY) bench/report.py --publish

# Re-resolve the lock: newest versions allowed by pyproject.toml, all extras, fresh venv.
lock: ## Re-resolve constraints.txt (newest versions pyproject.toml allows)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip
	.venv-lock/bin/pip install --quiet -e ".[test,mysql,server,bench]"
	{ echo "# Exact versions for every install (pip install -c constraints.txt ...): the lock of this project."; \
	  echo "# Regenerate with: make lock   (resolves pyproject.toml with all extras in a fresh venv)"; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt
	rm -rf .venv-lock

clean: ## Remove .venv, var/ (local data: sessions, SQLite files) and caches
	rm -rf $(VENV) $(VENV).lock var .pytest_cache .ruff_cache .mypy_cache test-artifacts
