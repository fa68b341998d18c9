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

# `make bench BEFORE=<commit>` also measures that commit, installed from a worktree in .bench-before, each of its
# runs right after the same run of this version, so before and after see the same machine.
BEFORE ?=
# Both versions' bytecode is compiled first, as a wheel install has it: where PYTHONDONTWRITEBYTECODE is set, an
# editable checkout would otherwise compile every module in every process, and the start-up figures would count it.
bench: install $(BENCH_VENV)/.installed-stamp
	@if [ -n "$(BEFORE)" ]; then \
	  rm -rf .bench-before; git worktree prune; \
	  git worktree add --detach .bench-before $(BEFORE) >/dev/null && $(MAKE) -s -C .bench-before install && \
	  .bench-before/.venv/bin/python -m compileall -q .bench-before/pipelines; fi
	$(BIN)/python -m compileall -q pipelines
	cd bench && BASELINE_PYTHON=../$(BENCH_VENV)/bin/python ../$(BIN)/python run.py $(BENCH_ARGS) \
	  $(if $(BEFORE),--before ../.bench-before/.venv/bin/python --before-label $(BEFORE))

sql: install
	$(BIN)/python -m openai_usage.transform.sqlgen

clean:
	rm -rf $(VENV) $(BENCH_VENV) .venv-clickhouse .venv-snowflake .venv-bigquery .venv-spark demo .openai_usage .bench-before
	git worktree prune

# Engines beyond DuckDB and PostgreSQL, each from its own environment and lock (heavier downloads; not in `make test`).
# Measured run time in the README's engine table.
ENGINE_TESTS := OPENAI_USAGE_ENGINE_TESTS=1

# ClickHouse: chdb (ClickHouse 26.9 in-process, ~500 MB) in its own environment; no ClickHouse server modern enough for
# dlt installs here (Debian's is 18.16), so the views, report and status run on chdb over dlt's own ClickHouse tables.
CLICKHOUSE_VENV := .venv-clickhouse
$(CLICKHOUSE_VENV)/.installed-stamp: pyproject.toml tests/engines/clickhouse.lock
	$(PY) -m venv $(CLICKHOUSE_VENV)
	$(CLICKHOUSE_VENV)/bin/pip install --quiet --disable-pip-version-check -c tests/engines/clickhouse.lock \
	  -e ".[dev]" chdb clickhouse-driver clickhouse-connect
	touch $@

.PHONY: engine-clickhouse
engine-clickhouse: install $(CLICKHOUSE_VENV)/.installed-stamp
	$(ENGINE_TESTS) $(CLICKHOUSE_VENV)/bin/python -m pytest -q tests/engines/test_clickhouse.py

# Snowflake on fakesnow, BigQuery on bqemulator (stand-ins, not the services): each emulator pins another sqlglot
# than the project, so it runs in its own environment, fed by the test with the tables of a DuckDB warehouse loaded by
# the real load path and the SQL the project's transpiler wrote (tests/engines/standin.py).
.PHONY: engine-snowflake engine-bigquery
.venv-%/.installed-stamp: tests/engines/%.lock
	rm -rf .venv-$*
	$(PY) -m venv .venv-$*
	.venv-$*/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

engine-snowflake: install .venv-snowflake/.installed-stamp
	$(ENGINE_TESTS) $(BIN)/python -m pytest -q tests/engines/test_snowflake.py

engine-bigquery: install .venv-bigquery/.installed-stamp
	$(ENGINE_TESTS) $(BIN)/python -m pytest -q tests/engines/test_bigquery.py

# Spark over Delta tables: dlt's filesystem destination writes them, a local Spark (pyspark from PyPI, a JDK from
# Debian, installed here when missing) runs every view, transpiled to Spark SQL.
SPARK_VENV := .venv-spark
$(SPARK_VENV)/.installed-stamp: pyproject.toml requirements.lock
	@command -v java >/dev/null 2>&1 || { echo "installing Debian's JDK 17 for Spark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	$(PY) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev,lake,spark]"
	touch $@

.PHONY: engine-spark test-engines
engine-spark: install $(SPARK_VENV)/.installed-stamp
	$(ENGINE_TESTS) $(SPARK_VENV)/bin/python -m pytest -q tests/engines/test_spark.py

# Every engine above, one after the other (measured run time in the README's engine table).
test-engines: engine-clickhouse engine-spark engine-snowflake engine-bigquery
