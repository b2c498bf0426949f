# The two commands: `make run` and `make test`. Everything else is a step they share.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
EMULATOR_PORT ?= 8800
# The make targets are the development path: debug on, unless the caller says otherwise.
DEBUG ?= 1
export PORT EMULATOR_PORT DEBUG

# A Python 3.12+ interpreter: python3.13/python3.12 on PATH (pyenv shims honour .python-version),
# else the newest 3.12+/3.13 that pyenv has installed.
PYTHON ?= $(shell for c in python3.13 python3.12; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then command -v $$c; exit; fi; \
	done; \
	for d in $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[3-9]* $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12* 2>/dev/null | sort -rV); do \
	  if [ -x $$d/bin/python3 ]; then echo $$d/bin/python3; exit; fi; \
	done)

.PHONY: run test venv migrate demo lint e2e clean

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "No Python 3.12+ found: install python3.13 (or python3.12) and retry." >&2; exit 1; fi
	@[ -x $(PY) ] || { echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py demo_setup

run: demo
	@echo ""
	@echo "  Portal:  http://127.0.0.1:$(PORT)/"
	@echo "  Sign in as sales, manager or admin; password: demo"
	@echo "  Ctrl-C stops every process."
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile start

test: venv
	$(VENV)/bin/pytest $(PYTEST_ARGS)

e2e: venv
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/ .pytest_cache
