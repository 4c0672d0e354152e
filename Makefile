# `make run` starts Leadgram; `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test migrate bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	@test -f .env || $(PY) admin.py init-env
	@$(PY) bot.py --check-config
	@$(PY) admin.py --check-config
	$(PY) models.py migrate
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start  # the Procfile's python is the venv's

migrate: $(VENV)/.installed
	$(PY) models.py migrate

test: $(VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
