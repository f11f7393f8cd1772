"""The environment switch: local resources, prod resources, and the start-up error."""

import subprocess
import sys

import dagster as dg
import pytest

from cs_platform import settings
from cs_platform.resources.warehouse import BigQueryWarehouse, DuckDBWarehouse

PROD_ENV = {name: f"value-of-{name.lower()}" for name in settings.PROD_SETTINGS}
PROD_ENV.update({"PRODUCT_DB_URL": "postgresql://reader@aurora.internal/product",
                 "KARTE_EXPORT_URI": "gs://karte-exports/cs", "SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com"})


def test_local_is_the_default_and_uses_duckdb_and_the_sandbox(monkeypatch, tmp_path):
    monkeypatch.delenv("CS_PLATFORM_ENV", raising=False)
    monkeypatch.setenv("CS_PLATFORM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DUCKDB_PATH", raising=False)
    (tmp_path / "sandbox").mkdir()
    (tmp_path / "sandbox" / "endpoints.json").write_text(
        '{"HUBSPOT_BASE_URL": "http://127.0.0.1:18701", "HUBSPOT_ACCESS_TOKEN": "sandbox-token"}')
    monkeypatch.delenv("HUBSPOT_BASE_URL", raising=False)
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    assert settings.current_env() == "local"
    resources = settings.resources_for()
    assert isinstance(resources["warehouse"], DuckDBWarehouse)
    assert resources["warehouse"].path == str(tmp_path / "warehouse.duckdb")
    assert resources["product_db"].url.startswith("sqlite:///")
    # The running sandbox's endpoints become the defaults.
    assert resources["hubspot"].base_url == "http://127.0.0.1:18701"
    assert settings.dbt_target() == "local"
    assert settings.warehouse_kind() == "duckdb"


def test_prod_uses_bigquery_and_env_vars_for_secrets(monkeypatch):
    monkeypatch.setenv("CS_PLATFORM_ENV", "prod")
    for k, v in PROD_ENV.items():
        monkeypatch.setenv(k, v)
    resources = settings.resources_for()
    assert isinstance(resources["warehouse"], BigQueryWarehouse)
    assert resources["warehouse"].project == PROD_ENV["GCP_PROJECT"]
    assert settings.dbt_target() == "prod"
    assert settings.schedule_default_status() == dg.DefaultScheduleStatus.RUNNING
    # Secrets stay environment-variable references: resolved at run time, never shown in the UI.
    assert isinstance(resources["hubspot"].access_token, dg.EnvVar)
    assert resources["hubspot"].access_token.env_var_name == "HUBSPOT_ACCESS_TOKEN"
    assert resources["karte_exports"].location == "gs://karte-exports/cs"


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("CS_PLATFORM_ENV", "staging")
    with pytest.raises(ValueError, match="staging"):
        settings.current_env()


def test_missing_prod_settings_fail_at_start_up_listing_all_of_them():
    env = {k: v for k, v in PROD_ENV.items() if k not in ("HUBSPOT_ACCESS_TOKEN", "GCP_PROJECT")}
    env.update({"CS_PLATFORM_ENV": "prod", "PATH": "/usr/bin:/bin"})
    proc = subprocess.run([sys.executable, "-c", "from cs_platform.definitions import defs; defs()"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    last_line = proc.stderr.strip().splitlines()[-1]
    assert "MissingSettingsError" in last_line
    assert "GCP_PROJECT" in last_line and "HUBSPOT_ACCESS_TOKEN" in last_line
    assert "FRESHDESK_API_KEY" not in last_line


def test_dbt_runs_from_its_own_environment(monkeypatch):
    monkeypatch.delenv("DBT_EXECUTABLE", raising=False)
    assert settings.dbt_executable() == str(settings.PROJECT_ROOT / ".venv-dbt" / "bin" / "cs-dbt")
    monkeypatch.setenv("DBT_EXECUTABLE", "/opt/dbt/bin/dbt")
    assert settings.dbt_executable() == "/opt/dbt/bin/dbt"


def test_loading_the_code_location_does_not_import_dbt_core():
    """dagster-dbt imports dbt-core whenever it can, which doubles the load time of
    the code location: dbt must only run as a CLI from its own environment. (Nor
    should simple-salesforce's SOAP client load before a Salesforce client is made.)"""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from cs_platform.definitions import defs; defs(); "
                               "print(sorted(m for m in sys.modules if m.startswith(('dbt.', 'simple_salesforce'))))"],
        capture_output=True, text=True, check=True)
    # (A bare `dbt` is the project folder, seen as a namespace package.)
    assert proc.stdout.strip() == "[]", (
        f"loading the code location imported {proc.stdout.strip()}; if that is dbt, dbt-core is installed "
        "beside Dagster (an environment made before dbt moved to .venv-dbt?): "
        "`.venv/bin/pip uninstall dbt-core dbt-duckdb dbt-bigquery` or `rm -rf .venv && make install`")
