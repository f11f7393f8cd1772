"""Schema drift: a catalog column (one the dbt sources declare, so the models read it)
missing from a source that always names its columns is a blocking ERROR, and what is
downstream in the run does not run; a column the catalog lacks is a warning."""

import csv
import shutil

import dagster as dg
import pytest
import sqlalchemy as sa

from cs_platform.defs.sources import karte
from cs_platform.defs.sources.product_db import table_assets
from cs_platform.resources.product_db import ProductDBResource
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.loading import CHECK_COLUMNS, CHECK_NEW_COLUMNS, load, raw_asset_kwargs

ACCOUNTS = catalog.get("product_db", "accounts")
NPS = catalog.get("karte", "nps_responses")
HUBSPOT_COMPANIES = catalog.get("hubspot", "companies")
accounts_asset = next(a for a in table_assets if a.key == dg.AssetKey(ACCOUNTS.asset_key_path))
nps_asset = next(a for a in karte.assets if a.key == dg.AssetKey(NPS.asset_key_path))


def downstream_of(obj) -> dg.AssetsDefinition:
    """A stand-in for the dbt models reading the raw table."""

    @dg.asset(name="downstream_model", deps=[dg.AssetKey(obj.asset_key_path)])
    def _model() -> None:
        return None

    return _model


def evaluation(loaded, obj, check_name) -> dg.AssetCheckEvaluation:
    [found] = [e for e in loaded.result.get_asset_check_evaluations()
               if e.asset_key == dg.AssetKey(obj.asset_key_path) and e.check_name == check_name]
    return found


def downstream_ran(loaded) -> bool:
    return any(e.asset_key == dg.AssetKey("downstream_model")
               for e in loaded.result.get_asset_materialization_events())


def downstream_blocked(loaded) -> bool:
    """The model's step did not start: its upstream failed on the blocking check."""
    return not any(e.step_key == "downstream_model" for e in loaded.result.all_events
                   if e.event_type_value in ("STEP_START", "STEP_SUCCESS", "ASSET_MATERIALIZATION"))


@pytest.fixture
def instance():
    """Persistent: KARTE runs add dynamic partitions."""
    with dg.instance_for_test() as instance:
        yield instance


# ---------------------------------------------------------------- product DB


def test_a_renamed_product_db_column_blocks_downstream(materialize, product_db_url):
    engine = sa.create_engine(product_db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("alter table accounts rename column industry to sector"))
    engine.dispose()

    loaded = materialize([accounts_asset, downstream_of(ACCOUNTS)], product_db=ProductDBResource(url=product_db_url))

    assert not loaded.success
    check = evaluation(loaded, ACCOUNTS, CHECK_COLUMNS)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR and check.blocking
    assert check.metadata["missing_columns"].value == ["industry"]
    assert "product_db/accounts" in check.description and "industry" in check.description
    assert "load full" in check.description  # the load (for a partition: the day; KARTE: the file)
    assert downstream_blocked(loaded)
    # The product DB selects only catalog columns (no PII leaves it): `sector` is never read.
    assert evaluation(loaded, ACCOUNTS, CHECK_NEW_COLUMNS).passed


def test_product_db_without_drift_runs_downstream(materialize, product_db_url):
    loaded = materialize([accounts_asset, downstream_of(ACCOUNTS)], product_db=ProductDBResource(url=product_db_url))
    assert loaded.success and downstream_ran(loaded)
    assert evaluation(loaded, ACCOUNTS, CHECK_COLUMNS).passed


# ---------------------------------------------------------------- KARTE


def export_with_header(source_data, inbox, rename: dict[str, str] | None = None,
                       add: dict[str, str] | None = None) -> str:
    """The first generated NPS file, its header changed."""
    name = sorted(p.name for p in (source_data.out_dir / "karte").glob("nps_responses_*.csv"))[0]
    with open(source_data.out_dir / "karte" / name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rename, add = rename or {}, add or {}
    rows = [{**{rename.get(k, k): v for k, v in row.items()}, **add} for row in rows]
    with open(inbox / name, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return name


def load_file(materialize, instance, karte_exports, name):
    instance.add_dynamic_partitions(karte.file_partitions(NPS).name, [name])
    return materialize([nps_asset, downstream_of(NPS)], partition_key=name, karte_exports=karte_exports)


def test_a_renamed_karte_column_blocks_downstream(materialize, instance, source_data, karte_inbox,
                                                  karte_exports):
    """KARTE names its columns in the header: a file lacking a catalog column fails
    before anything of it is loaded (karte.check_header), naming the file and the
    column; nothing downstream runs."""
    name = export_with_header(source_data, karte_inbox, rename={"score": "nps_score"})
    loaded = load_file(materialize, instance, karte_exports, name)

    assert not loaded.success
    assert all(part in loaded.error() for part in ("nps_responses", name, "missing score"))
    assert downstream_blocked(loaded)
    assert loaded.warehouse.columns(NPS.table) is None  # nothing of the file was written


def test_an_added_karte_column_only_warns(materialize, instance, source_data, karte_inbox, karte_exports):
    name = export_with_header(source_data, karte_inbox, add={"channel": "email"})
    loaded = load_file(materialize, instance, karte_exports, name)

    assert loaded.success and downstream_ran(loaded)
    assert evaluation(loaded, NPS, CHECK_COLUMNS).passed
    added = evaluation(loaded, NPS, CHECK_NEW_COLUMNS)
    assert not added.passed and added.severity == dg.AssetCheckSeverity.WARN
    assert "channel" in added.description and name in added.description
    assert set(loaded.table(NPS)["channel"]) == {"email"}  # kept, as text


def test_an_unchanged_karte_file_passes(materialize, instance, source_data, karte_inbox, karte_exports):
    name = sorted(p.name for p in (source_data.out_dir / "karte").glob("nps_responses_*.csv"))[0]
    shutil.copyfile(source_data.out_dir / "karte" / name, karte_inbox / name)
    loaded = load_file(materialize, instance, karte_exports, name)
    assert loaded.success and downstream_ran(loaded)
    assert evaluation(loaded, NPS, CHECK_COLUMNS).passed and evaluation(loaded, NPS, CHECK_NEW_COLUMNS).passed


# ---------------------------------------------------------------- APIs that omit null fields


def test_a_column_missing_from_a_json_api_only_warns(materialize):
    """HubSpot may leave out a property that is null in every record: not proof of drift."""
    obj = HUBSPOT_COMPANIES

    @dg.asset(**raw_asset_kwargs(obj))
    def companies(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        records = [{"id": "1", "properties": {"name": "Acme", "product_account_id": "A000001",
                                              "lifecyclestage": "customer",
                                              "hs_lastmodifieddate": "2026-11-01T00:00:00Z"},
                    "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z",
                    "archived": False}]  # no properties.domain
        return load(context, warehouse, obj, records, load_id="test")

    loaded = materialize([companies, downstream_of(obj)])
    assert loaded.success and downstream_ran(loaded)
    check = evaluation(loaded, obj, CHECK_COLUMNS)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["missing_columns"].value == ["properties__domain"]
