"""Every record carries exactly the catalog's fields, in the vendor's wire format."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from cs_platform.sources import catalog
from tests.sample_data.conftest import AS_OF, file_objects, flatten, product_tables

NOW = dt.datetime.combine(AS_OF, dt.time(), dt.timezone.utc)
TIMESTAMP_FORMATS = {  # each vendor's spelling
    "salesforce": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000",
    "hubspot": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "airtable": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "freshdesk": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
    "karte": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
}
# Due dates lie ahead; every other timestamp is history, before as_of 00:00 UTC.
FUTURE_ALLOWED = {"due_by", "fr_due_by"}


def _check_value(obj: catalog.SourceObject, column: str, value) -> None:
    logical = obj.columns[column]
    where = f"{obj.tool}/{obj.name}.{column}={value!r}"
    if obj.tool == "karte":  # CSV: everything is text, empty for null
        if value == "":
            return
        if logical == "integer":
            value = int(value)
        elif logical == "boolean":
            assert value in ("true", "false"), where
            return
    if value is None:
        assert column not in obj.primary_key, where
        return
    if logical == "string":
        assert isinstance(value, str), where
    elif logical == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif logical == "float":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif logical == "boolean":
        assert isinstance(value, bool), where
    elif logical == "json":
        assert isinstance(value, (list, dict)), where
    elif logical == "date":
        pattern = r"\d{8}" if obj.tool == "google_analytics" else r"\d{4}-\d\d-\d\d"
        assert re.fullmatch(pattern, value), where
    elif logical == "timestamp":
        if obj.tool == "hubspot" and column == "created":  # email events: epoch milliseconds
            assert isinstance(value, int), where
            moment = dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc)
        else:
            assert re.fullmatch(TIMESTAMP_FORMATS[obj.tool], value), where
            moment = dt.datetime.fromisoformat(value.replace("+0000", "+00:00"))
        assert column in FUTURE_ALLOWED or moment < NOW, where
    else:
        raise AssertionError(f"unknown logical type {logical}")


@pytest.mark.parametrize("key", file_objects())
def test_records_have_exactly_the_catalog_fields(sample, key):
    obj = catalog.get(*key.split("/"))
    records = sample.records(key)
    assert records, f"{key}: no records"
    expected = set(obj.columns)
    for record in records:
        flat = flatten(record)
        assert set(flat) == expected, f"{key}: {sorted(set(flat) ^ expected)}"
        for column, value in flat.items():
            _check_value(obj, column, value)


@pytest.mark.parametrize("key", file_objects())
def test_primary_keys_are_unique(sample, key):
    obj = catalog.get(*key.split("/"))
    keys = [tuple(flatten(r)[c] for c in obj.primary_key) for r in sample.records(key)]
    assert len(keys) == len(set(keys))


def test_salesforce_records_have_no_attributes_and_are_not_deleted(sample):
    for key in file_objects():
        if key.startswith("salesforce/") and key != "salesforce/user":
            assert all(r["IsDeleted"] is False and "attributes" not in r for r in sample.records(key)), key


def test_karte_files_are_weekly_with_the_catalog_header(sample):
    for name in ("nps_responses", "tour_views"):
        paths = sorted(sample.manifest.files[f"karte/{name}"])
        assert len(paths) == -(-sample.manifest.days // 7)
        days = [dt.date.fromisoformat(re.search(r"_(\d{8})\.csv$", p)[1]) for p in paths]
        assert days[-1] == AS_OF - dt.timedelta(days=1)
        assert all((b - a).days == 7 for a, b in zip(days, days[1:]))
        for path in paths:
            header = (sample.out / path).read_text().splitlines()[0]
            assert header == ",".join(catalog.get("karte", name).columns)


@pytest.mark.parametrize("name", product_tables())
def test_product_tables_have_the_catalog_columns_and_key(sample, name):
    obj = catalog.get("product_db", name)
    inspector = sa.inspect(sample.engine)
    assert [c["name"] for c in inspector.get_columns(obj.api_name)] == list(obj.columns)
    assert tuple(inspector.get_pk_constraint(obj.api_name)["constrained_columns"]) == obj.primary_key
    table = sample.table(obj.api_name)  # SQLAlchemy parses every date and timestamp
    assert len(table) > 0
    for column, logical in obj.columns.items():
        if logical in ("date", "timestamp"):
            values = table[column].dropna()
            assert (values < NOW.replace(tzinfo=None)).all(), column
