"""The report assets. Pages go to the `report_store` resource (data/reports/ locally,
REPORT_BUCKET in production) and are linked at REPORT_BASE_URL."""

import dagster as dg
from pydantic import Field

from cs_platform import settings
from cs_platform.reports import pages, render
from cs_platform.reports.data import ACCOUNT_PAGE_MODELS, PORTFOLIO_MODELS, RENEWAL_BOARD_MODELS
from cs_platform.reports.writers import ReportStore
from cs_platform.resources.warehouse import Warehouse

GROUP = "reports"
ACCOUNT_PAGES = dg.AssetKey(["report", "account_pages"])
RENEWALS = dg.AssetKey(["report", "renewals"])
PORTFOLIO = dg.AssetKey(["report", "portfolio"])


class AccountPagesConfig(dg.Config):
    force: bool = Field(default=False, description="Render every account's pages, changed or not.")


def _automation() -> dg.AutomationCondition:
    return (dg.AutomationCondition.eager()
            & dg.AutomationCondition.all_deps_blocking_checks_passed()).with_label(
        "eager, after the marts' blocking checks passed")


def _url(path: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(f"{settings.report_base_url()}/{path}")


def _common(models) -> dict:
    return {"deps": [dg.AssetKey([m]) for m in models], "group_name": GROUP, "owners": [settings.OWNER],
            "kinds": {"html", settings.warehouse_kind()}, "pool": settings.WAREHOUSE_POOL,
            "automation_condition": _automation()}


@dg.asset(key=ACCOUNT_PAGES, **_common(ACCOUNT_PAGE_MODELS),
          description="One report page per account for its CSM (linked from the Salesforce Account, "
                      "CS_Report_URL__c) and a customer-facing variant to take to meetings; only accounts "
                      "whose data changed are rendered again.")
def account_pages(context: dg.AssetExecutionContext, config: AccountPagesConfig, warehouse: Warehouse,
                  report_store: ReportStore) -> dg.MaterializeResult:
    out = pages.write_account_pages(warehouse, report_store, settings.salesforce_record_url, force=config.force,
                                    log=context.log)
    context.log.info(f"account pages: {out.rendered} rendered, {out.unchanged} unchanged, {out.removed} removed "
                     f"of {out.accounts} accounts in {report_store.describe_location()}")
    sample = (out.rendered_ids or [out.first_account_id])[0]
    metadata = {"accounts": out.accounts, "rendered": out.rendered, "unchanged": out.unchanged,
                "removed": out.removed, "refused_ids": len(out.refused), "data_date": out.data_date or "",
                "location": report_store.describe_location(), "renewal_board": _url(pages.RENEWALS_PAGE),
                "seconds_reading": round(out.seconds_reading, 2),
                "seconds_rendering": round(out.seconds_rendering, 2)}
    if sample:
        internal_path, customer_path = render.account_paths(sample)
        metadata.update(account_page=_url(internal_path), customer_page=_url(customer_path))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(key=RENEWALS, **_common(RENEWAL_BOARD_MODELS),
          description="The renewal board: every renewal in the window by month, sortable, with both scores, "
                      "risk and upsell signals and the owner - what a renewal meeting goes through.")
def renewals(warehouse: Warehouse, report_store: ReportStore) -> dg.MaterializeResult:
    out = pages.write_renewal_board(warehouse, report_store)
    return dg.MaterializeResult(metadata={"renewals": out.rows, **out.detail, "page": _url(out.path)})


@dg.asset(key=PORTFOLIO, **_common(PORTFOLIO_MODELS),
          description="The portfolio overview for CS leads: band distribution over time, accounts by segment, "
                      "CSM workload, play effectiveness and the score backtest.")
def portfolio(warehouse: Warehouse, report_store: ReportStore) -> dg.MaterializeResult:
    out = pages.write_portfolio(warehouse, report_store)
    return dg.MaterializeResult(metadata={"active_accounts": out.rows, **out.detail, "page": _url(out.path)})


reports_job = dg.define_asset_job(
    "reports_job", selection=dg.AssetSelection.assets(account_pages, renewals, portfolio),
    description="Every report page: account pages (changed accounts only), renewal board, portfolio.")

reports_automation_sensor = dg.AutomationConditionSensorDefinition(
    "reports_automation_sensor", target=dg.AssetSelection.assets(account_pages, renewals, portfolio),
    default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=30,
    description="Renders the report pages after the marts they read are rebuilt and their blocking checks "
                "passed. On by default: only accounts whose data changed are rendered again.")

defs = dg.Definitions(assets=[account_pages, renewals, portfolio], jobs=[reports_job],
                      sensors=[reports_automation_sensor])
