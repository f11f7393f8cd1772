"""The quarantine (`raw_quarantine.records`): every bad row is kept, with its payload,
until it is resolved; loading the same bad data again does not duplicate it."""

import json

import dagster as dg
import pandas as pd

from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.loading import QUARANTINE_TABLE, load, raw_asset_kwargs

THINGS = SourceObject("testsrc", "things", "things", ("id",), {"id": "string", "size": "integer"})


def things_asset(records, **load_kwargs) -> dg.AssetsDefinition:
    @dg.asset(**raw_asset_kwargs(THINGS))
    def _things(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        return load(context, warehouse, THINGS, records, **load_kwargs)

    return _things


def run(materialize, records, **load_kwargs):
    loaded = materialize([things_asset(records, **load_kwargs)])
    assert loaded.success, loaded.error()
    return loaded


def held(loaded):
    rows = loaded.quarantined(THINGS).sort_values("quarantined_at", kind="stable")
    return [(r["record_key"], json.loads(r["payload"]), pd.notna(r["resolved_at"]))
            for r in rows.to_dict("records")]


def test_null_key_rows_of_two_loads_are_all_kept_with_their_payloads(materialize):
    good = [{"id": f"t{n}", "size": n} for n in range(40)]
    first = [{"id": None, "size": 1}, {"id": None, "size": 2}]
    second = [{"id": None, "size": 3}, {"id": None, "size": 3}]  # two identical rows: both kept
    run(materialize, [*good, *first], load_id="first")
    loaded = run(materialize, [*good, *second], load_id="second")

    rows = loaded.quarantined(THINGS)
    assert sorted(json.loads(p)["size"] for p in rows["payload"]) == [1, 2, 3, 3]
    assert set(rows["record_key"]) == {""} and rows["quarantine_id"].is_unique
    assert set(rows["reason"]) == {"primary key field id is missing"}
    assert rows["resolved_at"].isna().all()

    # The same bad data loaded again is not held twice.
    again = run(materialize, [*good, *second], load_id="second")
    assert len(again.quarantined(THINGS)) == 4


def test_reloading_the_same_bad_file_does_not_duplicate_and_keeps_first_seen(materialize):
    rows = [{"id": "a", "size": 1}, {"id": None, "size": 2}, {"id": "b", "size": "big"}]
    file = {"load_id": "things_20261101.csv", "replace_where": ("_load_id", ["things_20261101.csv"])}
    first = run(materialize, rows, **file)
    before = first.quarantined(THINGS).set_index("quarantine_id")
    assert len(before) == 2 and set(before["scope"]) == {"_load_id=things_20261101.csv"}

    again = run(materialize, rows, **file).quarantined(THINGS).set_index("quarantine_id")
    assert sorted(again.index) == sorted(before.index)
    assert (again["quarantined_at"] == before.loc[again.index, "quarantined_at"]).all()
    assert (again["last_seen_at"] >= before.loc[again.index, "last_seen_at"]).all()


def test_a_row_is_resolved_when_its_key_loads_or_its_file_no_longer_has_it(materialize):
    good = [{"id": f"t{n}", "size": n} for n in range(40)]
    run(materialize, [*good, {"id": "x", "size": "big"}], load_id="run-1")
    fixed = run(materialize, [*good, {"id": "x", "size": 5}], load_id="run-2")
    assert held(fixed) == [("x", {"id": "x", "size": "big"}, True)]
    row = fixed.quarantined(THINGS).iloc[0]
    assert row["resolved_by"].startswith("load run-2")

    # A file loaded again without its bad rows (a corrected file) resolves them.
    file = {"load_id": "f.csv", "replace_where": ("_load_id", ["f.csv"])}
    run(materialize, [*good, {"id": None, "size": 1}], **file)
    corrected = run(materialize, good, **file)
    nulls = [h for h in held(corrected) if h[0] == ""]
    assert nulls == [("", {"id": None, "size": 1}, True)]


def test_the_quarantine_table_says_where_each_row_came_from(materialize, warehouse):
    run(materialize, [{"id": None, "size": 1}], load_id="only")
    row = warehouse.query(f"select * from {QUARANTINE_TABLE}").iloc[0]
    assert (row["source"], row["object"], row["load_id"], row["scope"]) == ("testsrc", "things", "only", "")
    assert row["run_id"] and row["quarantined_at"] is not None
