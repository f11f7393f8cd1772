"""The manifest's row counts are what the files and tables hold: the loaders' tests rely on it."""

import json

import pytest
import sqlalchemy as sa

from cs_platform.sources import catalog
from devkit.sample_data import Manifest
from tests.sample_data.conftest import ACCOUNTS, AS_OF, DAYS, SEED, file_objects, product_tables


def test_manifest_records_the_arguments(sample):
    args = json.loads((sample.out / "manifest.json").read_text())["args"]
    assert args == {"accounts": ACCOUNTS, "seed": SEED, "days": DAYS, "as_of": AS_OF.isoformat(),
                    "product_db": "product.db", "churn_cause": "relationship"}
    assert Manifest.read(sample.out) == sample.manifest


def test_every_catalog_object_is_counted(sample):
    assert set(sample.manifest.row_counts) == {f"{o.tool}/{o.name}" for o in catalog.SOURCE_OBJECTS.values()}
    assert all(count > 0 for count in sample.manifest.row_counts.values())


@pytest.mark.parametrize("key", file_objects())
def test_file_counts_match_the_files(sample, key):
    per_file = sample.manifest.files[key]
    for relpath, rows in per_file.items():
        lines = (sample.out / relpath).read_text().splitlines()
        assert len(lines) - relpath.endswith(".csv") == rows, relpath  # CSV: minus the header
    assert sum(per_file.values()) == sample.manifest.row_counts[key] == len(sample.records(key))


@pytest.mark.parametrize("name", product_tables())
def test_table_counts_match_the_database(sample, name):
    with sample.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
    assert rows == sample.manifest.row_counts[f"product_db/{name}"]


def test_one_record_per_account_where_the_tool_knows_every_customer(sample):
    for key in ("salesforce/account", "hubspot/companies", "freshdesk/companies", "product_db/accounts"):
        assert sample.manifest.row_counts[key] == ACCOUNTS, key
    assert sample.manifest.row_counts["product_db/setup_steps"] == ACCOUNTS * len(catalog.SETUP_STEPS)
