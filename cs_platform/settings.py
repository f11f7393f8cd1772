"""The one environment switch: `CS_PLATFORM_ENV` = local (default) | prod.

Everything that differs between a laptop and production is chosen here, as a
dictionary of resources per environment (the pattern of Dagster's own demo
projects). Asset code never asks which environment it is in.

- local: a DuckDB file under `data/`, the dbt `local` target (dbt-duckdb), and the
  sandbox's emulated APIs. The sandbox writes its URLs and test credentials to
  `data/sandbox/endpoints.json`; they become defaults for the variables below, so a
  plain `dagster dev` works while the sandbox runs.
- prod: BigQuery, the dbt `prod` target (dbt-bigquery) and the real APIs. Every
  setting comes from an environment variable (secrets through `dg.EnvVar`, so they
  are resolved at run time and never shown in the UI); a missing one stops the code
  location from loading, with one message listing all that are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import dagster as dg

from cs_platform.resources.airtable import AirtableResource
from cs_platform.resources.freshdesk import FreshdeskResource
from cs_platform.resources.google_analytics import GoogleAnalyticsResource
from cs_platform.resources.hubspot import HubSpotResource
from cs_platform.resources.karte_exports import KarteExportsResource
from cs_platform.resources.product_db import ProductDBResource
from cs_platform.resources.salesforce import SalesforceResource
from cs_platform.resources.slack import SLACK_API_URL, SlackResource
from cs_platform.resources.warehouse import BigQueryWarehouse, DuckDBWarehouse

ENVIRONMENTS = ("local", "prod")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"


def current_env() -> str:
    env = os.environ.get("CS_PLATFORM_ENV", "local").strip() or "local"
    if env not in ENVIRONMENTS:
        raise ValueError(f"CS_PLATFORM_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def data_dir() -> Path:
    """Local working data: sample data, the DuckDB file, the sandbox's state."""
    return Path(os.environ.get("CS_PLATFORM_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def duckdb_path() -> str:
    return os.environ.get("DUCKDB_PATH", str(data_dir() / "warehouse.duckdb"))


# Settings production needs. Secrets are marked so they are only ever passed as dg.EnvVar.
PROD_SETTINGS: dict[str, bool] = {
    # name: is_secret
    "GCP_PROJECT": False,
    "SALESFORCE_LOGIN_URL": False,
    "SALESFORCE_CLIENT_ID": False,
    "SALESFORCE_CLIENT_SECRET": True,
    "HUBSPOT_ACCESS_TOKEN": True,
    "FRESHDESK_BASE_URL": False,
    "FRESHDESK_API_KEY": True,
    "AIRTABLE_TOKEN": True,
    "AIRTABLE_BASE_ID": False,
    "GA4_PROPERTY_ID": False,
    "SLACK_WEBHOOK_URL": True,
    "PRODUCT_DB_URL": True,
    "KARTE_EXPORT_URI": False,
    "REPORT_BASE_URL": False,
    # gs://bucket/prefix: where the report pages are uploaded (cs_platform/reports/writers.py);
    # REPORT_BASE_URL is the address that serves that location behind the company's access control.
    "REPORT_BUCKET": False,
}
# Optional in prod, with defaults: BIGQUERY_LOCATION (US), BIGQUERY_DATASET_PREFIX (""),
# GCP_CREDENTIALS (base64 service-account JSON; default: application-default credentials).
# SLACK_BOT_TOKEN (secret; the Slack app's xoxb- token, scopes chat:write and users:read.email): optional,
# needed by plays that route messages to a channel, an owner's DM or their lead.


class MissingSettingsError(RuntimeError):
    pass


def check_prod_settings(environ: dict[str, str] | None = None) -> None:
    """Fail at start-up, listing every missing production setting at once."""
    environ = os.environ if environ is None else environ
    missing = [name for name in PROD_SETTINGS if not environ.get(name)]
    if missing:
        raise MissingSettingsError(
            "CS_PLATFORM_ENV=prod but these settings are missing from the environment: "
            + ", ".join(missing)
            + ". Set them (see README, 'Production') or unset CS_PLATFORM_ENV to run locally.")


def load_sandbox_endpoints() -> None:
    """Local only: take the running sandbox's URLs and test credentials as defaults.
    Variables already set in the environment win."""
    endpoints = data_dir() / "sandbox" / "endpoints.json"
    if endpoints.exists():
        for key, value in json.loads(endpoints.read_text()).items():
            os.environ.setdefault(key, str(value))


def run_url(run_id: str) -> str:
    """A run's page in the Dagster UI, for links in alerts (`DAGSTER_WEBSERVER_URL`)."""
    base = os.environ.get("DAGSTER_WEBSERVER_URL") or "http://127.0.0.1:3000"
    return f"{base.rstrip('/')}/runs/{run_id}"


# The local report server (devkit/report_server.py) serves report_dir() here: its own
# port, not the Dagster UI's 3000. dbt/macros/links.sql has the same default.
LOCAL_REPORT_BASE_URL = "http://127.0.0.1:3100/reports"


def report_base_url() -> str:
    """Where the report pages are served; <base>/<account_id>.html is the link written to
    the CRM (CS_Report_URL__c, dbt/macros/links.sql), <base>/renewals.html the renewal board."""
    return os.environ.get("REPORT_BASE_URL", LOCAL_REPORT_BASE_URL).rstrip("/")


def report_dir() -> Path:
    """Local only: where the report pages are written (served by devkit/report_server.py)."""
    return data_dir() / "reports"


def report_store(env: str | None = None):
    """Where the report assets write their pages: data/reports/ locally, the GCS location
    REPORT_BUCKET (gs://bucket/prefix, through dagster-gcp's GCSResource) in production."""
    from cs_platform.reports.writers import GCSReportStore, LocalReportStore

    if (env or current_env()) == "prod":
        return GCSReportStore(location=os.environ["REPORT_BUCKET"], project=os.environ["GCP_PROJECT"])
    return LocalReportStore(root=str(report_dir()))


def salesforce_record_url(record_id: str) -> str:
    """A Salesforce record's page (Lightning), for links in Slack messages: the org's
    URL is `SALESFORCE_INSTANCE_URL` (https://<domain>.lightning.force.com), else the login URL."""
    base = os.environ.get("SALESFORCE_INSTANCE_URL") or os.environ.get("SALESFORCE_LOGIN_URL") or ""
    return f"{base.rstrip('/')}/lightning/r/{record_id}/view"


def _api_resources() -> dict[str, dg.ConfigurableResource]:
    """The same API resources in both environments; only the values differ."""
    env = dg.EnvVar
    return {
        "salesforce": SalesforceResource(
            login_url=env("SALESFORCE_LOGIN_URL"),
            client_id=env("SALESFORCE_CLIENT_ID"),
            client_secret=env("SALESFORCE_CLIENT_SECRET"),
            ca_bundle=os.environ.get("SALESFORCE_CA_BUNDLE") or None,
        ),
        "hubspot": HubSpotResource(
            base_url=os.environ.get("HUBSPOT_BASE_URL", "https://api.hubapi.com"),
            access_token=env("HUBSPOT_ACCESS_TOKEN")),
        "freshdesk": FreshdeskResource(base_url=env("FRESHDESK_BASE_URL"), api_key=env("FRESHDESK_API_KEY")),
        "airtable": AirtableResource(
            base_url=os.environ.get("AIRTABLE_BASE_URL", "https://api.airtable.com"),
            token=env("AIRTABLE_TOKEN"), base_id=env("AIRTABLE_BASE_ID")),
        "google_analytics": GoogleAnalyticsResource(
            base_url=os.environ.get("GA4_BASE_URL", "https://analyticsdata.googleapis.com"),
            property_id=env("GA4_PROPERTY_ID"),
            access_token=env("GA4_ACCESS_TOKEN") if os.environ.get("GA4_ACCESS_TOKEN") else None),
        # The bot token (Web API: plays routed per channel, DM or lead) is optional; without
        # it only the webhook's alerts go out. SLACK_API_URL is set by the sandbox only.
        "slack": SlackResource(
            webhook_url=env("SLACK_WEBHOOK_URL"),
            bot_token=env("SLACK_BOT_TOKEN") if os.environ.get("SLACK_BOT_TOKEN") else "",
            api_url=os.environ.get("SLACK_API_URL") or SLACK_API_URL),
    }


def resources_for(env: str | None = None) -> dict[str, object]:
    """The resources of one environment, keyed by the names assets ask for."""
    env = env or current_env()
    if env == "prod":
        check_prod_settings()
        warehouse = BigQueryWarehouse(
            project=os.environ["GCP_PROJECT"],
            location=os.environ.get("BIGQUERY_LOCATION", "US"),
            dataset_prefix=os.environ.get("BIGQUERY_DATASET_PREFIX", ""),
            gcp_credentials=dg.EnvVar("GCP_CREDENTIALS") if os.environ.get("GCP_CREDENTIALS") else None,
        )
        product_db = ProductDBResource(url=dg.EnvVar("PRODUCT_DB_URL"))
        karte = KarteExportsResource(location=os.environ["KARTE_EXPORT_URI"])
    else:
        load_sandbox_endpoints()
        warehouse = DuckDBWarehouse(path=duckdb_path())
        product_db = ProductDBResource(
            url=os.environ.get("PRODUCT_DB_URL", f"sqlite:///{data_dir() / 'sample' / 'product.db'}"))
        karte = KarteExportsResource(
            location=os.environ.get("KARTE_EXPORT_URI", str(data_dir() / "inbox" / "karte")))
    return {"warehouse": warehouse, "product_db": product_db, "karte_exports": karte,
            "report_store": report_store(env), **_api_resources()}


def dbt_target(env: str | None = None) -> str:
    """The dbt profile target (`dbt/profiles.yml`) that matches the environment."""
    return "prod" if (env or current_env()) == "prod" else "local"


def dbt_executable() -> str:
    """The dbt CLI that runs the models.

    dbt lives in its own environment (`.venv-dbt`, pinned in dbt/requirements.txt;
    `/opt/dbt` in the image): when dbt-core is importable beside Dagster, dagster-dbt
    imports it, and the code location takes twice as long to load in the webserver,
    the daemon and every run. `DBT_EXECUTABLE` wins; then the project's `.venv-dbt`,
    its `cs-dbt` (dbt with the garbage collector tuned, dbt/launcher.py) before plain
    `dbt`; then a dbt installed beside this Python; then `dbt` on PATH.
    """
    if os.environ.get("DBT_EXECUTABLE"):
        return os.environ["DBT_EXECUTABLE"]
    dbt_bin = PROJECT_ROOT / ".venv-dbt" / "bin"
    for candidate in (dbt_bin / "cs-dbt", dbt_bin / "dbt", Path(sys.executable).parent / "dbt"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def warehouse_kind(env: str | None = None) -> str:
    """The warehouse engine, shown as an asset kind in the UI."""
    return "bigquery" if (env or current_env()) == "prod" else "duckdb"


def schedule_default_status(env: str | None = None) -> dg.DefaultScheduleStatus:
    """Schedules run by themselves in production. Locally the sandbox's data only
    changes when you change it, so schedules start stopped (turn them on in the UI)."""
    if (env or current_env()) == "prod":
        return dg.DefaultScheduleStatus.RUNNING
    return dg.DefaultScheduleStatus.STOPPED


# Every step that writes the warehouse claims a slot in this pool. Locally its
# limit is 1 (dagster.yaml), because DuckDB admits one writing process at a time.
WAREHOUSE_POOL = "warehouse"
OWNER = "team:cs-ops"
