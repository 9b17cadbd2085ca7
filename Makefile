# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo needs the package alone; the tests add the dev tools (.[dev]) on top of it.
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev

.PHONY: demo test lint typecheck unit install clean bench ui-check

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV)

install: $(DEV)

demo: $(RUNTIME)
	$(BIN)/genesys-export demo

lint: $(DEV)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(DEV)
	$(BIN)/mypy

unit: $(DEV)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(DEV)
	$(BIN)/python bench/conversations.py
	$(BIN)/python bench/report_csv.py --repeat 3
	$(BIN)/python bench/sync_30_days.py
	$(BIN)/python bench/reconcile.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/request_plan.py

# Not part of `make test`: dagster dev + headless Chromium (installed when missing).
ui-check: $(STAMP)
	$(BIN)/python tools/ui_check.py

clean:
	rm -rf $(VENV) demo build *.egg-info
