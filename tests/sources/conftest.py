"""Fixtures for the product DB, Airtable, GA4 and KARTE loader tests.

One small generated data set per test session (read-only: tests that change the
product DB get their own copy), one sandbox serving it (reset before each test,
its URLs and credentials in the environment as `settings` reads them), a DuckDB
file and a Dagster instance per test. Resources are wired as in production:
secrets through `dg.EnvVar`.

(The Salesforce/HubSpot/Freshdesk tests bring their own fixtures, crm_fixtures.py.)
"""

import datetime as dt
import shutil
import time
import types
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pytest
import urllib3

from cs_platform.resources.airtable import AirtableResource
from cs_platform.resources.google_analytics import GoogleAnalyticsResource
from cs_platform.resources.karte_exports import KarteExportsResource
from cs_platform.resources.warehouse import DuckDBWarehouse
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.loading import QUARANTINE_TABLE
from devkit.sample_data import Manifest, generate
from devkit.sandbox import Sandbox
from tests.conftest import point_at_sandbox

AS_OF = dt.date(2026, 11, 1)
ACCOUNTS, DAYS, SEED = 50, 42, 7  # the generator's minimum size
PAGE_SIZE = 2  # Airtable / GA4 pages, small so that a small data set spans several


@pytest.fixture(scope="session")
def source_data(tmp_path_factory) -> Manifest:
    return generate(tmp_path_factory.mktemp("sources-sample"), accounts=ACCOUNTS, seed=SEED, days=DAYS,
                    as_of=AS_OF)


@pytest.fixture(scope="session")
def data_days(source_data) -> list[str]:
    """The days the data set covers: `days` days ending the day before as_of."""
    return [(source_data.as_of - dt.timedelta(days=n)).isoformat() for n in range(source_data.days, 0, -1)]


@pytest.fixture(scope="session")
def _session_sandbox(source_data):
    with Sandbox(source_data.out_dir) as sandbox:
        yield sandbox


@pytest.fixture
def api_sandbox(_session_sandbox, monkeypatch) -> Sandbox:
    return point_at_sandbox(_session_sandbox, monkeypatch)


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def instance() -> dg.DagsterInstance:
    """In memory: fast, and enough for runs. Sensor tests need a persistent one
    (`dg.instance_for_test()`), as `build_sensor_context` requires."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def product_db_url(source_data, tmp_path) -> str:
    """A copy of the generated SQLite product DB, which the test may change."""
    copy = tmp_path / "product.db"
    shutil.copyfile(source_data.out_dir / "product.db", copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def airtable(api_sandbox) -> AirtableResource:
    return AirtableResource(base_url=dg.EnvVar("AIRTABLE_BASE_URL"), token=dg.EnvVar("AIRTABLE_TOKEN"),
                            base_id=dg.EnvVar("AIRTABLE_BASE_ID"), page_size=PAGE_SIZE,
                            rate_limit_wait_seconds=0.3)


@pytest.fixture
def google_analytics(api_sandbox) -> GoogleAnalyticsResource:
    return GoogleAnalyticsResource(base_url=dg.EnvVar("GA4_BASE_URL"), property_id=dg.EnvVar("GA4_PROPERTY_ID"),
                                   access_token=dg.EnvVar("GA4_ACCESS_TOKEN"), page_size=20 * PAGE_SIZE)


@pytest.fixture
def karte_inbox(tmp_path):
    inbox = tmp_path / "inbox" / "karte"
    inbox.mkdir(parents=True)
    return inbox


@pytest.fixture
def karte_exports(karte_inbox) -> KarteExportsResource:
    return KarteExportsResource(location=str(karte_inbox))


@dataclass
class Loaded:
    """One in-process run and what it left in the warehouse."""

    result: dg.ExecuteInProcessResult
    warehouse: DuckDBWarehouse

    @property
    def success(self) -> bool:
        return self.result.success

    def metadata(self, obj: SourceObject) -> dict:
        """Metadata of the object's (last) materialization in the run, as plain values."""
        events = [e for e in self.result.get_asset_materialization_events()
                  if e.asset_key == dg.AssetKey(obj.asset_key_path)]
        assert events, f"{obj.table} was not materialized"
        return {k: v.value for k, v in events[-1].materialization.metadata.items()}

    def checks(self, obj: SourceObject) -> dict[str, bool]:
        return {e.check_name: e.passed for e in self.result.get_asset_check_evaluations()
                if e.asset_key == dg.AssetKey(obj.asset_key_path)}

    def error(self) -> str:
        """The failed step's error, innermost cause included."""
        failures = [e for e in self.result.all_events if e.is_step_failure]
        assert failures, "the run did not fail"
        error = failures[0].step_failure_data.error
        return error.to_string()

    def table(self, obj: SourceObject) -> pd.DataFrame:
        return self.warehouse.query(f"select * from {obj.table}")

    def quarantined(self, obj: SourceObject) -> pd.DataFrame:
        if self.warehouse.columns(QUARANTINE_TABLE) is None:
            return pd.DataFrame(columns=["record_key", "reason"])
        return self.warehouse.query(f"select * from {QUARANTINE_TABLE} where source = ? and object = ?",
                                    [obj.tool, obj.name])


@pytest.fixture
def materialize(warehouse, instance):
    """Materialize assets in one run into the test's warehouse and instance;
    `days=(first, last)` runs a range as a single-run backfill does (one run
    carrying the range tags)."""

    def _materialize(assets, *, partition_key=None, days=None, **resources) -> Loaded:
        tags = None
        if days is not None:
            tags = {"dagster/asset_partition_range_start": days[0],
                    "dagster/asset_partition_range_end": days[1]}
        result = dg.materialize(assets, resources={"warehouse": warehouse, **resources}, instance=instance,
                                partition_key=partition_key, tags=tags, raise_on_error=False)
        return Loaded(result, warehouse)

    return _materialize


@pytest.fixture
def no_long_retry_sleep(monkeypatch):
    """urllib3's Retry sleeps through `time.sleep` of its module: a wait past a minute
    fails the test at once instead of hanging it (the code as it was slept 6 hours)."""
    def sleep(seconds):
        if seconds > 60:
            raise AssertionError(f"urllib3 was about to sleep {seconds} s for a retry")
        time.sleep(seconds)

    monkeypatch.setattr(urllib3.util.retry, "time", types.SimpleNamespace(sleep=sleep, time=time.time))
