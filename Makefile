# The two commands of the README: `make demo` and `make test`.
# Each creates .venv and installs on first use; later runs reuse it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -not -path 'dbt/target/*' 2>/dev/null)

# The venv's tools (dagster, dbt) first, as if it were activated.
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DUCKDB_PATH ?= $(CURDIR)/data/warehouse.duckdb

.PHONY: demo test install manifest sandbox clean

demo: $(INSTALLED) $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m cs_platform.demo $(ARGS)

test: $(INSTALLED) $(MANIFEST)
	$(BIN)/python -m pytest -n 2 $(ARGS)

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# dagster-dbt reads a prepared manifest; parsing dbt at import would slow every load.
manifest: $(MANIFEST)
$(MANIFEST): $(INSTALLED) $(DBT_SOURCES)
	$(BIN)/python -m cs_platform.models
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

sandbox: $(INSTALLED)
	$(BIN)/python -m cs_platform.sandbox --data data/sample --state data/sandbox

clean:
	rm -rf data .dagster_home dbt/target dbt/logs
