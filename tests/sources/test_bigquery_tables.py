"""How the raw loaders lay out tables on BigQuery (no BigQuery here: the table
definition is checked as the client library would send it to the API)."""

from cs_platform.resources.warehouse import bigquery_table
from cs_platform.sources import catalog
from cs_platform.sources.catalog import LOAD_METADATA_COLUMNS


def test_a_table_loaded_by_the_day_is_partitioned_by_that_day():
    usage = catalog.get("product_db", "feature_usage_daily")
    table = bigquery_table("p.cs_raw_product_db.feature_usage_daily", {**usage.columns, **LOAD_METADATA_COLUMNS},
                           replace_where=(usage.partition_column, ["2026-03-01"]))
    sent = table.to_api_repr()
    assert sent["timePartitioning"] == {"type": "DAY", "field": "usage_date"}
    assert {"name": "usage_date", "type": "DATE", "mode": "NULLABLE"} in sent["schema"]["fields"]


def test_other_tables_are_not_partitioned():
    account = catalog.get("salesforce", "account")
    upserted = bigquery_table("p.cs_raw_salesforce.account", {**account.columns, **LOAD_METADATA_COLUMNS},
                              replace_where=None)
    karte = catalog.get("karte", "nps_responses")
    by_file = bigquery_table("p.cs_raw_karte.nps_responses", {**karte.columns, **LOAD_METADATA_COLUMNS},
                             replace_where=("_load_id", ["nps_20260301.csv"]))  # a string, not a day
    assert "timePartitioning" not in upserted.to_api_repr()
    assert "timePartitioning" not in by_file.to_api_repr()
