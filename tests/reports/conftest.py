"""Report pages rendered from the dbt tests' built sample warehouse (tests/models:
generated data, loaded and built by dbt once per session), on a private copy in which
one account's name and one of its open tickets carry HTML, as a source could deliver them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cs_platform.defs.reports.assets import account_pages, portfolio, renewals
from cs_platform.reports.writers import LocalReportStore
from cs_platform.resources.warehouse import DuckDBWarehouse
from tests.models.conftest import built  # noqa: F401 - the session's built warehouse
from tests.models.support import BuiltWarehouse

PLANTED_NAME = "Acme <script>alert(1)</script> & Sons"
PLANTED_COMMENT = "Reporting is slow since the last release; we are looking at alternatives."
PLANTED_TICKET = "Export fails with <img src=x onerror=alert(2)>"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "reports"


@dataclass
class ReportSetup:
    warehouse_path: Path
    out: Path
    planted: str  # account id with the HTML name: in the renewal list, at risk, with an impression,
    # an open ticket, activities and an NPS answer (its latest given PLANTED_COMMENT)

    @property
    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(path=str(self.warehouse_path))

    @property
    def store(self) -> LocalReportStore:
        return LocalReportStore(root=str(self.out))

    def page(self, path: str) -> str:
        return (self.out / path).read_text()


def plant(warehouse_path: Path) -> str:
    with duckdb.connect(str(warehouse_path)) as con:
        planted = con.execute("""
            select a.account_id from marts.account_360 a join marts.renewal_list r using (account_id)
            where a.open_tickets > 0 and a.csm_impression is not null and a.has_risk_signal
              and exists (select 1 from marts.account_activities x where x.account_id = a.account_id)
              and exists (select 1 from staging.stg_karte__nps_responses n where n.account_id = a.account_id)
            order by a.account_id limit 1""").fetchone()[0]
        for table in ("marts.account_360", "marts.renewal_list", "marts.account_activities"):
            con.execute(f"update {table} set account_name = ? where account_id = ?", [PLANTED_NAME, planted])
        # The latest NPS answer carries a comment (staging is a view on the raw table).
        con.execute("""update raw_karte.nps_responses set comment = ? where response_id =
                       (select nps_response_id from staging.stg_karte__nps_responses where account_id = ?
                        order by responded_at desc, nps_response_id limit 1)""", [PLANTED_COMMENT, planted])
        con.execute("""update intermediate.int_support_tickets_joined set subject = ? where ticket_id =
                       (select min(ticket_id) from intermediate.int_support_tickets_joined
                        where account_id = ? and is_open)""", [PLANTED_TICKET, planted])
    return planted


def materialize(assets, setup: ReportSetup, **config) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {"report__account_pages": {"config": config}}} if config else None
    return dg.materialize(assets, resources={"warehouse": setup.warehouse, "report_store": setup.store},
                          run_config=run_config)


def materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = result.asset_materializations_for_node(key.to_python_identifier())
    return {k: v.value for k, v in events[-1].metadata.items()}


def new_setup(built: BuiltWarehouse, folder: Path) -> ReportSetup:
    folder.mkdir(parents=True, exist_ok=True)
    path = built.copy_to(folder)
    return ReportSetup(path, folder / "reports", plant(path))


@pytest.fixture(scope="module")
def rendered(built, tmp_path_factory) -> ReportSetup:  # noqa: F811
    """Every report page of the planted copy, written by the three assets."""
    setup = new_setup(built, tmp_path_factory.mktemp("reports"))
    result = materialize([account_pages, renewals, portfolio], setup)
    assert result.success
    return setup


def clean_artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
