# The two commands of the README: `make demo` and `make test`.
# Each creates the two environments and installs on first use; later runs reuse them:
# .venv for cs_platform, Dagster and the development kit (devkit/, with the `dev` extra),
# .venv-dbt for the dbt CLI (dbt/requirements.txt),
# .venv-emulator for the local BigQuery emulator the tests build on (tests/requirements-emulator.txt),
# kept apart so that loading the code location does not import dbt-core.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DBT_VENV := .venv-dbt
DBT_INSTALLED := $(DBT_VENV)/.installed
DBT_LINT_INSTALLED := $(DBT_VENV)/.lint-installed
EMULATOR_VENV := .venv-emulator
EMULATOR_INSTALLED := $(EMULATOR_VENV)/.installed
# dbt's entry point with the garbage collector tuned for a short-lived process (dbt/launcher.py).
DBT_CLI := $(DBT_VENV)/bin/cs-dbt
MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -not -path 'dbt/target/*' 2>/dev/null)

# The venv's tools (dagster) first, as if it were activated; dbt is found by
# cs_platform.settings.dbt_executable (DBT_EXECUTABLE, else .venv-dbt/bin/cs-dbt).
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DBT_EXECUTABLE ?= $(CURDIR)/$(DBT_CLI)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DUCKDB_PATH ?= $(CURDIR)/data/warehouse.duckdb

.PHONY: demo test install manifest sandbox clean

demo: $(INSTALLED) $(DBT_CLI) $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m devkit.demo $(ARGS)

test: $(INSTALLED) $(DBT_CLI) $(MANIFEST) $(DBT_LINT_INSTALLED) $(EMULATOR_INSTALLED)
	$(BIN)/ruff check .
	# Its own dbt target dir, so the lint never touches the manifest the code location reads.
	DBT_TARGET_PATH=$(CURDIR)/dbt/target/sqlfluff DUCKDB_PATH=$(CURDIR)/dbt/target/sqlfluff.duckdb \
		$(DBT_VENV)/bin/sqlfluff lint dbt/models dbt/tests
	# tests/reports open the pages in Debian's chromium: installed here where missing (a missing browser fails them).
	command -v chromium || (apt-get update && apt-get install -y chromium)
	$(BIN)/python -m pytest -n 2 $(ARGS)

install: $(INSTALLED) $(DBT_CLI)

$(INSTALLED): pyproject.toml devkit/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./devkit
	touch $@

$(DBT_INSTALLED): dbt/requirements.txt
	test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet -r dbt/requirements.txt
	touch $@

# sqlfluff's dbt templater renders the models with dbt, so it lives beside it (not in the image).
$(DBT_LINT_INSTALLED): $(DBT_INSTALLED) dbt/requirements-lint.txt
	$(DBT_VENV)/bin/python -m pip install --quiet -r dbt/requirements-lint.txt
	touch $@

# The BigQuery emulator pins its own DuckDB and sqlglot: a venv of its own, for the tests only.
$(EMULATOR_INSTALLED): tests/requirements-emulator.txt
	test -x $(EMULATOR_VENV)/bin/python || $(PYTHON) -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/python -m pip install --quiet -r tests/requirements-emulator.txt
	touch $@

$(DBT_CLI): $(DBT_INSTALLED) dbt/launcher.py
	{ echo '#!$(CURDIR)/$(DBT_VENV)/bin/python'; cat dbt/launcher.py; } > $@
	chmod +x $@

# dagster-dbt reads a prepared manifest; parsing dbt at import would slow every load.
manifest: $(MANIFEST)
$(MANIFEST): $(INSTALLED) $(DBT_CLI) $(DBT_SOURCES)
	$(BIN)/python -m cs_platform.models
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

sandbox: $(INSTALLED)
	$(BIN)/python -m devkit.sandbox --data data/sample --state data/sandbox

clean:
	rm -rf data .dagster_home dbt/target dbt/logs
