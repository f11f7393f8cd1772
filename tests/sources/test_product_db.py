"""Product DB loaders against the generated database: SQLite, and the real PostgreSQL."""


import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from cs_platform.defs.sources.product_db import feature_usage_daily, table_assets, usage_hourly
from cs_platform.resources.product_db import ProductDBResource
from cs_platform.sources import catalog
from devkit.sample_data import generate
from tests.conftest import postgres_url as pg_url

USAGE = catalog.get("product_db", "feature_usage_daily")
ACCOUNTS_OBJ = catalog.get("product_db", "accounts")


def load_everything(materialize, url: str, days: list[str]):
    product_db = ProductDBResource(url=url, chunk_rows=500)  # several chunks per table
    tables = materialize(table_assets, product_db=product_db)
    usage = materialize([feature_usage_daily], days=(days[0], days[-1]), product_db=product_db)
    assert tables.success and usage.success
    return tables, usage


def assert_counts_match_manifest(loaded, manifest):
    for obj in catalog.objects_of("product_db"):
        assert loaded.warehouse.row_count(obj.table) == manifest.row_counts[f"product_db/{obj.name}"], obj.name


def test_every_table_matches_the_generated_counts(materialize, product_db_url, source_data, data_days):
    tables, _ = load_everything(materialize, product_db_url, data_days)
    assert_counts_match_manifest(tables, source_data)
    assert all(tables.checks(ACCOUNTS_OBJ).values())
    assert tables.metadata(ACCOUNTS_OBJ)["load_id"] == "full"


@pytest.fixture
def postgres_url(postgres_database):
    return pg_url(postgres_database, driver="psycopg2")


def test_postgresql_loads_the_same_rows(materialize, postgres_url, source_data, tmp_path, data_days):
    manifest = generate(tmp_path / "sample", accounts=source_data.accounts, seed=source_data.seed,
                        days=source_data.days, as_of=source_data.as_of, product_db_url=postgres_url)
    tables, _ = load_everything(materialize, postgres_url, data_days)
    assert_counts_match_manifest(tables, manifest)


def test_second_run_reads_only_rows_changed_since_the_cursor(materialize, product_db_url, warehouse, source_data):
    accounts = next(a for a in table_assets if a.key.path[-1] == "accounts")
    product_db = ProductDBResource(url=product_db_url)
    assert materialize([accounts], product_db=product_db).success
    cursor = warehouse.scalar(f"select max(updated_at) from {ACCOUNTS_OBJ.table}")

    engine = sa.create_engine(product_db_url)
    accounts_table = sa.Table("accounts", sa.MetaData(), autoload_with=engine)
    changed = ["A000003", "A000007"]
    later = pd.Timestamp(cursor).to_pydatetime() + pd.Timedelta(minutes=5)
    with engine.begin() as connection:
        connection.execute(sa.update(accounts_table).where(accounts_table.c.account_id.in_(changed))
                           .values(name="Renamed Ltd", updated_at=later))
        # `>=` cursor: rows stamped exactly at the previous maximum are read again (and upserted).
        expected = connection.execute(sa.select(sa.func.count()).select_from(accounts_table)
                                      .where(accounts_table.c.updated_at >= cursor)).scalar()
    engine.dispose()

    second = materialize([accounts], product_db=product_db)
    meta = second.metadata(ACCOUNTS_OBJ)
    assert meta["fetched"] == expected < source_data.accounts
    assert meta["load_id"].startswith("updated_at>=")
    table = second.table(ACCOUNTS_OBJ)
    assert len(table) == source_data.accounts  # upserted, not appended
    assert set(table.loc[table.name == "Renamed Ltd", "account_id"]) == set(changed)


def usage_rows(loaded, day: str) -> pd.DataFrame:
    rows = loaded.warehouse.query(f"select * from {USAGE.table} where usage_date = cast(? as date)", [day])
    return rows.drop(columns=["_loaded_at"]).sort_values(list(USAGE.primary_key)).reset_index(drop=True)


def test_a_partition_materialized_twice_holds_the_same_rows(materialize, product_db_url, data_days):
    day = data_days[-5]
    product_db = ProductDBResource(url=product_db_url)
    first = materialize([feature_usage_daily], partition_key=day, product_db=product_db)
    rows_first = usage_rows(first, day)
    second = materialize([feature_usage_daily], partition_key=day, product_db=product_db)
    rows_second = usage_rows(second, day)
    assert len(rows_first) > 0
    pd.testing.assert_frame_equal(rows_first, rows_second)
    assert second.warehouse.row_count(USAGE.table) == len(rows_second)  # only that day


def test_a_range_backfill_is_one_query_and_one_write(materialize, product_db_url, data_days):
    week = data_days[7:14]
    loaded = materialize([feature_usage_daily], days=(week[0], week[-1]),
                         product_db=ProductDBResource(url=product_db_url))
    assert loaded.success
    # One step ran; it reported every day of the range.
    step_starts = [e for e in loaded.result.all_events if e.event_type_value == "STEP_START"]
    assert len(step_starts) == 1
    partitions = {e.partition for e in loaded.result.get_asset_materialization_events()}
    assert partitions == set(week)
    meta = loaded.metadata(USAGE)
    assert (meta["load_id"], meta["days"]) == (f"{week[0]}..{week[-1]}", 7)

    engine = sa.create_engine(product_db_url)
    with engine.connect() as connection:
        in_source = connection.execute(
            sa.text("select count(*) from feature_usage_daily where usage_date between :a and :b"),
            {"a": week[0], "b": week[-1]}).scalar()
    engine.dispose()
    assert loaded.warehouse.row_count(USAGE.table) == in_source > 0


def test_hourly_usage_schedule_refreshes_today_and_closes_yesterday_at_midnight():
    def requested(at: str) -> list[str]:
        context = dg.build_schedule_context(scheduled_execution_time=pd.Timestamp(at, tz="UTC").to_pydatetime())
        return [r.partition_key for r in usage_hourly(context)]

    assert requested("2026-11-02 14:10") == ["2026-11-02"]
    assert requested("2026-11-02 00:10") == ["2026-11-01", "2026-11-02"]
