# `make run` starts Leadgram; `make test` runs the linters, then every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Import contracts (.importlinter) and ruff (ruff.toml); neither leaves a cache in the tree.
# COLUMNS: lint-imports wraps its report at 80 columns when it is not on a terminal.
LINT_IMPORTS := env COLUMNS=120 $(VENV)/bin/lint-imports --no-cache --no-logo
RUFF_CHECK := $(VENV)/bin/ruff check --no-cache .

.PHONY: run start test lint migrate bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	@test -f .env || $(PY) admin.py init-env
	@$(MAKE) --no-print-directory start

# The one way the processes start (tests/e2e/test_procfile.py runs it too). Every step
# reads .env through services/core/config.py, the environment winning, so the checks check
# what the processes use; honcho reads no .env (--env /dev/null), since it would put .env
# over the environment. It gives the first process (web) PORT: the one the settings say.
# The Procfile's python is the venv's. exec: a SIGTERM to make reaches honcho, which
# stops the rest.
start:
	@$(PY) bot.py --check-config
	@$(PY) admin.py --check-config
	$(PY) admin.py migrate
	PATH="$(abspath $(VENV))/bin:$$PATH" exec $(VENV)/bin/honcho start --env /dev/null \
	  --port "$$($(PY) admin.py port)"

migrate: $(VENV)/.installed
	$(PY) admin.py migrate

lint: $(VENV)/.installed
	$(LINT_IMPORTS)
	$(RUFF_CHECK)

# Tests run in TEST_WORKERS processes (pytest-xdist): half the time on two cores, as the
# end-to-end tests mostly wait for processes and servers. Each worker has its own databases.
TEST_WORKERS ?= 2
# The linters run first, but a failing one does not keep pytest from running:
# every step runs, and make fails at the end naming the steps that failed.
test: $(VENV)/.installed
	@failed=""; \
	for step in "$(LINT_IMPORTS)" "$(RUFF_CHECK)" "$(PY) -m pytest -n $(TEST_WORKERS)"; do \
	  echo "$$step"; $$step || failed="$$failed  $$step;"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi

bench: $(VENV)/.installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
