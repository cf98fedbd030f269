# Entry points for developers and CI: `make venv`, `make run`, `make test` (see README).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
# Lives inside .venv, so deleting .venv also forgets it; a newer lock (either one) reinstalls.
STAMP := $(VENV)/.installed-requirements-lock
# Production installs requirements.lock; development installs requirements-dev.lock, the same
# pins plus the test and lint tools (pyproject's `dev` extra). `make lock` compiles both.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_COMPILE := $(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet
IS_PY311 := import sys; sys.exit(sys.version_info[:2] != (3, 11))

.PHONY: venv lock run test messages

venv: $(STAMP)

# Keeps an existing 3.11 .venv; otherwise (re)creates it. Debian ships venv in a separate
# package: a root CI machine installs it, as tests/pgcluster.py does for PostgreSQL.
$(STAMP): $(LOCK) $(DEV_LOCK)
	@if ! $(PY) -c '$(IS_PY311)' 2>/dev/null; then \
	  py=; for c in python3.11 python3; do $$c -c '$(IS_PY311)' 2>/dev/null && { py=$$c; break; }; done; \
	  [ -n "$$py" ] || { echo "make venv: Python 3.11 is needed (as python3.11 or python3)." >&2; exit 1; }; \
	  if ! $$py -m venv --clear $(VENV); then \
	    rm -rf $(VENV); \
	    if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then exit 1; fi; \
	    echo "make venv: installing $$py-venv (running as root)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$py-venv; \
	    $$py -m venv $(VENV); \
	  fi; \
	fi
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-input --require-hashes -r $(DEV_LOCK)
	@touch $@

# After changing dependencies in pyproject.toml. The dev lock is constrained by the production
# one, so tests run on exactly the versions production installs. uv keeps the pins already in a
# lock unless pyproject.toml asks for others: `make lock UV_ARGS=--upgrade` moves every pin to
# the newest allowed release (`UV_ARGS="--upgrade-package django"` just one).
lock: venv
	$(UV_COMPILE) $(UV_ARGS) -o $(LOCK)
	$(UV_COMPILE) $(UV_ARGS) --extra dev -c $(LOCK) -o $(DEV_LOCK)

# SQLite unless DATABASE_URL says otherwise; DEBUG=1 so no SECRET_KEY is needed. Beside the web
# server, a Celery worker with beat runs the scheduled jobs and the imports, on a broker kept in
# files (.celery-queue/: no server to install); it stops when the web server stops.
run: venv
	@export DEBUG="$${DEBUG:-1}" CELERY_BROKER_URL="$${CELERY_BROKER_URL:-filesystem://}"; \
	port="$${PORT:-8000}"; \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py seed_demo --if-empty; \
	mkdir -p .celery-queue; \
	$(PY) -m celery -A config worker --beat --pool solo --loglevel INFO \
	  --without-gossip --without-mingle >>.celery-queue/worker.log 2>&1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null || true' EXIT; \
	echo "Scheduled jobs and imports: a Celery worker with beat (log: .celery-queue/worker.log)"; \
	echo "Admin: http://127.0.0.1:$$port/admin/"; \
	$(PY) manage.py runserver "127.0.0.1:$$port"

# One throwaway PostgreSQL cluster (tests/pgcluster.py) serves all three steps. PYTEST_ARGS
# reaches pytest as "$@", so its shell quoting survives: PYTEST_ARGS="-k 'a or b'".
# The browser tests need Debian's chromium: installed when missing as root, else they skip.
# pytest-xdist runs a test process per core (TEST_WORKERS=1: one), each with its own database;
# a file's tests stay together in one process, so its module fixtures are built once.
TEST_WORKERS ?= auto
PG_STEPS := $(PY) manage.py check && $(PY) manage.py makemigrations --check --dry-run \
  && $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile "$$@"
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy
	@sh tests/browser/ensure_chromium.sh
	DEBUG=1 $(PY) tests/pgcluster.py -- bash -c '$(PG_STEPS)' pg-steps $(PYTEST_ARGS)

# Extract new strings into the zh_Hans catalogue and compile it (needs GNU gettext).
messages: venv
	DEBUG=1 $(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=tests --no-obsolete
	DEBUG=1 $(PY) manage.py compilemessages -l zh_Hans --ignore=.venv
