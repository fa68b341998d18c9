# Everything starts from plain python3: the first target that needs it creates .venv and installs
# the project with the exact versions in requirements.lock.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export RUNTIME__DLTHUB_TELEMETRY := false

.PHONY: install demo test lint fmt bench clean browser postgres sql soak engine-spark

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/openai-usage demo

lint: install
	$(BIN)/ruff check pipelines tests bench

# The HTML report is tested in a real browser: Debian's chromium, installed here when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the HTML report test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The PostgreSQL suite starts its own throwaway server from Debian's binaries, installed here when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the PostgreSQL tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: install lint browser postgres
	$(BIN)/pytest

# The model-based test at length: SOAK_SEQUENCES random sequences of SOAK_STEPS steps (loads, backfills, width and
# grouping changes, clock moves, restatements, faults, kills), two at a time; figures in test-artifacts/model.jsonl.
SOAK_SEQUENCES ?= 200
SOAK_STEPS ?= 12
SOAK_SEED ?= 100000
soak: install
	rm -f test-artifacts/model.jsonl
	MODEL_SEQUENCES=$(SOAK_SEQUENCES) MODEL_STEPS=$(SOAK_STEPS) MODEL_SEED=$(SOAK_SEED) \
	  $(BIN)/pytest -q -n 2 tests/test_model.py
	$(BIN)/python -c "from tests.test_model import summarize; summarize()"

fmt: install
	$(BIN)/ruff check --fix pipelines tests bench

# Baselines run in their own environment: pandas (the cookbook's DataFrame) slows every dlt import by 0.25 s.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed-stamp: pyproject.toml requirements.lock
	$(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[bench]"
	touch $@

bench: install $(BENCH_VENV)/.installed-stamp
	cd bench && BASELINE_PYTHON=../$(BENCH_VENV)/bin/python ../$(BIN)/python run.py $(BENCH_ARGS)

sql: install
	$(BIN)/python -m openai_usage.transform.sqlgen

clean:
	rm -rf $(VENV) $(BENCH_VENV) demo .openai_usage

# Engines beyond DuckDB and PostgreSQL, each from its own environment and lock (heavier downloads; not in `make test`).
# Measured run time in the README's engine table.
ENGINE_TESTS := OPENAI_USAGE_ENGINE_TESTS=1

# Spark over Delta tables: dlt's filesystem destination writes them, a local Spark (pyspark from PyPI, a JDK from
# Debian) runs every view, transpiled to Spark SQL. Into the project's environment: neither package pulls in pandas.
engine-spark: install
	@command -v java >/dev/null 2>&1 || { echo "installing Debian's JDK 17 for Spark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev,lake,spark]"
	$(ENGINE_TESTS) $(BIN)/python -m pytest -q tests/engines/test_spark.py
