# tldops — one command per job. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Real peers the test suite talks to (Debian packages).
APT_PACKAGES := postgresql snmpd snmp openssh-server sshpass prometheus prometheus-snmp-exporter \
	prometheus-alertmanager chromium restic keepalived wrk sqlite3 iproute2 git sudo fonts-dejavu-core

.PHONY: venv demo test test-fast check lint types system-deps services bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Installs only what is missing, so a warm machine skips apt entirely.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: venv
	$(BIN)/tldops up --demo

test: venv system-deps
	export TLDOPS_TEST_PG_URL="$$(tests/services/postgres.sh start)" && \
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Inner loop: SQLite only, no browser, no live-server fault suite, nothing marked slow.
test-fast: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider -k "not postgresql" -m "not slow" \
		--ignore=tests/e2e --ignore=tests/faults $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: venv
	$(BIN)/mypy

check: lint types test

bench: venv
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	tests/services/postgres.sh stop
	rm -rf $(VENV) var build *.egg-info
