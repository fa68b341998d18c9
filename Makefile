# Everything starts from plain python3: the first target that needs it creates .venv and installs
# the project with the exact versions in requirements.lock.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export RUNTIME__DLTHUB_TELEMETRY := false

.PHONY: install demo test lint fmt bench clean browser

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/openai-usage demo

lint: install
	$(BIN)/ruff check pipelines tests bench

test: install lint
	$(BIN)/pytest

fmt: install
	$(BIN)/ruff check --fix pipelines tests bench

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) demo .openai_usage
