"""One small generated data set shared by the sample-data tests, and ways to read it back."""

from __future__ import annotations

import csv
import datetime as dt
import json
from functools import cached_property
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cs_platform.sources import catalog
from devkit.sample_data import Manifest, generate

AS_OF = dt.date(2026, 11, 22)
ACCOUNTS, DAYS, SEED = 60, 70, 7  # 70 days: the declining story is compared with weeks 8-10 ago


def flatten(record: dict) -> dict:
    """Nested objects one level deep, joined with `__`, as the catalog names them."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update({f"{key}__{inner}": v for inner, v in value.items()})
        else:
            flat[key] = value
    return flat


class Sample:
    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self.out = manifest.out_dir
        self.truth = json.loads((self.out / "ground_truth.json").read_text())
        self._cache: dict[str, list[dict]] = {}

    def records(self, key: str) -> list[dict]:
        """The wire records (JSONL) or rows (CSV) of a file-based object, all files."""
        if key not in self._cache:
            rows: list[dict] = []
            for relpath in sorted(self.manifest.files[key]):
                path = self.out / relpath
                if path.suffix == ".csv":
                    with open(path, newline="", encoding="utf-8") as handle:
                        rows.extend(csv.DictReader(handle))
                else:
                    rows.extend(json.loads(line) for line in path.read_text().splitlines())
            self._cache[key] = rows
        return self._cache[key]

    def frame(self, key: str) -> pd.DataFrame:
        return pd.DataFrame([flatten(r) for r in self.records(key)], columns=list(catalog.get(*key.split("/")).columns))

    @cached_property
    def engine(self) -> sa.Engine:
        return sa.create_engine(f"sqlite:///{self.out / self.manifest.product_db}")

    def table(self, name: str) -> pd.DataFrame:
        # Through SQLAlchemy's types, as a loader reads it: dates and timestamps come back parsed.
        return pd.read_sql_table(name, self.engine)


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    out = tmp_path_factory.mktemp("sample")
    return Sample(generate(out, accounts=ACCOUNTS, seed=SEED, days=DAYS, as_of=AS_OF))


def file_objects() -> list[str]:
    return [f"{o.tool}/{o.name}" for o in catalog.SOURCE_OBJECTS.values() if o.tool != "product_db"]


def product_tables() -> list[str]:
    return [o.name for o in catalog.objects_of("product_db")]


def out_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())
