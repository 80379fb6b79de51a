# `make run` and `make test` work on a fresh machine that has only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs the runtime only; `make test` adds the test and lint tools.
RUNTIME := $(VENV)/.runtime-$(shell cat requirements.txt | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
export FLASK_APP := wsgi

.PHONY: install install-runtime translations run test lint test-postgres test-browser bench bench-dashboard bench-idle clean

$(RUNTIME): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.runtime-* && touch $(RUNTIME)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* $(VENV)/.runtime-* && touch $(STAMP) $(RUNTIME)

install-runtime: $(RUNTIME)

install: $(STAMP)

# Compiled catalogs (*.mo) are build output, not committed; see README "Translations".
translations: install-runtime
	$(BIN)/pybabel -q compile -d portal/translations -f

# The background worker (outbox every 5 s, SLA sweep every minute) runs beside the server and
# stops with it; mail lands in instance/mail/ as .eml files. Production: see README.
run: install-runtime translations
	$(BIN)/flask db upgrade
	$(BIN)/flask demo --if-empty
	$(BIN)/flask worker & worker=$$!; \
		trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
		$(BIN)/flask run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check portal tests bench wsgi.py
	$(BIN)/ruff format --check portal tests bench wsgi.py
	$(BIN)/mypy portal/domain portal/services

test: lint translations
	$(BIN)/python -m pytest

# The same suite against PostgreSQL (CI runs this; fails if the server cannot be reached).
test-postgres: install translations
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
		$(BIN)/python -m pytest -m "not browser"

test-browser: install translations
	$(BIN)/python -m pytest -m browser

bench: install translations
	$(BIN)/python bench/run.py
	$(BIN)/python bench/dashboard.py

# What the background workers cost while nothing happens (with and without Redis).
bench-idle: install-runtime translations
	$(BIN)/python bench/idle_workers.py

# Only the dashboard and CSV timings (issue 5): N=100000 by default.
bench-dashboard: install translations
	$(BIN)/python bench/dashboard.py

# The whole stack (gunicorn, flask worker, rq-worker, Redis /11, an SMTP sink) under a mixed load
# for SOAK_MINUTES (10), one web worker and the rq-worker killed at 40% and 70%, then everything
# the clients were shown reconciled with the database and the sink (docs/soak.md).
# SOAK_DATABASE=postgres runs it on a database of its own (soak, dropped and created).
.PHONY: soak
soak: install-runtime translations
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
