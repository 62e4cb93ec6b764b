# The interface: `make run` and `make test` on a fresh machine; the rest are steps of those.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
FLASK := PORTAL_ENV=$${PORTAL_ENV:-development} $(BIN)/flask --app wsgi

.PHONY: run setup deps dev-deps translations extract-messages db-upgrade db-downgrade db-revision db-check \
        seed lint test test-sqlite test-postgres test-browser bench mutation clean

run: setup  ## set everything up and serve on http://127.0.0.1:$(PORT)
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

setup: deps translations db-upgrade seed

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements-dev.txt $(VENV)/.deps
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# The official IATI 2.03 schemas ship inside pyIATI; its own pins (lxml 4.2, 2018) are not needed to read them.
	$(BIN)/pip install --quiet --no-deps pyIATI==0.4.1
	touch $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

translations: deps  ## compile the .po catalogues
	$(BIN)/pybabel compile --statistics -d portal/translations 2>&1 | grep -v "^$$" || true
	@test -f portal/translations/mk/LC_MESSAGES/messages.mo

extract-messages: deps  ## refresh messages.pot and merge it into the mk/sq/en catalogues
	# --ignore-dirs: Babel skips directories starting with "_" by default, which hid templates/_macros.
	$(BIN)/pybabel extract --no-location --sort-output -F portal/translations/babel.cfg -k _l -k lazy_gettext \
		--ignore-dirs=".* __pycache__ node_modules instance" -o portal/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i portal/translations/messages.pot \
		-d portal/translations

db-upgrade: deps  ## migrate the database (DATABASE_URL, default instance/portal.db) to the newest revision
	$(FLASK) db upgrade

db-downgrade: deps
	$(FLASK) db downgrade

db-revision: deps  ## make db-revision MSG="what changed"
	$(FLASK) db revision -m "$(MSG)"

db-check: deps
	$(FLASK) db check

seed: deps  ## reference data always; demo data unless PORTAL_ENV=production
	$(FLASK) seed-reference
	$(FLASK) seed-demo

lint: dev-deps
	$(BIN)/ruff check portal tests migrations config.py wsgi.py

test: dev-deps translations lint test-sqlite test-postgres test-browser  ## every check

# Two workers (pytest-xdist): each has its own SQLite file or PostgreSQL schema, so they never collide.
WORKERS ?= 2

test-sqlite: dev-deps translations
	TEST_DATABASE_URL=sqlite $(BIN)/pytest -q -p no:cacheprovider --ignore=tests/browser -n $(WORKERS)

test-postgres: dev-deps translations
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-$(PG_TEST_URL)} $(BIN)/pytest -q -p no:cacheprovider --ignore=tests/browser -n $(WORKERS)

test-browser: dev-deps translations
	$(BIN)/pytest -q -p no:cacheprovider tests/browser

.PHONY: screenshots
screenshots: dev-deps translations  ## the README's screenshots: every role's home page at 390 and 1366 px (docs/screenshots)
	$(BIN)/pytest -q -p no:cacheprovider tests/browser/screenshots.py

bench: dev-deps translations  ## measured, never asserted: the pages on SQLite, then the indicators and the registers at national scale on PostgreSQL
	$(BIN)/python -m tests.bench
	$(BIN)/python -m tests.bench_hostile
	$(BIN)/python -m tests.bench_indicators
	$(BIN)/python -m tests.bench_register

mutation: dev-deps translations  ## slow, on demand: mutmut over the money/access/report/indicator modules (MODULES=..., MUTATION_JOBS=n)
	nice $(BIN)/python -m tests.mutation $(MODULES)

clean:
	rm -rf $(VENV) instance/portal.db portal/translations/*/LC_MESSAGES/*.mo
