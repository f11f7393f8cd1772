"""A generated customer base replayed day by day, as production meets it: the raw
tables loaded without HTTP (devkit.sample_warehouse, as tests/models and bench/ do)
with the product usage of the replayed days held back; then, per day, that day's
usage partition lands the way the loader writes it (new `_load_id` and `_loaded_at`)
and dbt runs its incremental daily build with that day's vars.

Only usage is held back (as bench/dbt_build.py does): the other raw tables are loaded
whole, in their state on the generated as_of. The anomaly model reads usage alone;
what else a segment row carries (scores, lifecycle status, renewal) is computed from
those tables as the models date them."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cs_platform import settings
from cs_platform.resources.warehouse import DuckDBWarehouse
from cs_platform.sources import catalog
from devkit.sample_warehouse import load_sample_data, write_raw
from tests.models.support import WAREHOUSE_FILE, dbt

USAGE = catalog.get("product_db", "feature_usage_daily")
ONE_DAY = dt.timedelta(days=1)


def run_day(data_through: dt.date) -> dt.date:
    """The dbt `as_of_date` of the daily run after `data_through`'s partition landed:
    production leaves the var unset and runs the next morning (current_date)."""
    return data_through + ONE_DAY


@dataclass
class DailyReplay:
    sample_dir: Path
    root: Path
    first_held_day: dt.date  # usage of this day and later lands day by day
    held_back: pd.DataFrame = field(default_factory=pd.DataFrame)  # usage rows not landed yet
    _parsing: dict[dt.date, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def warehouse_path(self) -> Path:
        return self.root / WAREHOUSE_FILE

    @property
    def target_path(self) -> Path:
        return self.root / "target"

    @property
    def warehouse(self) -> DuckDBWarehouse:
        # A fresh resource per use: it opens a connection per call, so dbt can write in between.
        return DuckDBWarehouse(path=str(self.warehouse_path))

    def load(self) -> None:
        """Every raw table of the sample; the usage of `first_held_day` and later taken
        out again (the loader validated and cast it) to land day by day."""
        warehouse = self.warehouse
        load_sample_data(self.sample_dir, warehouse)
        held = warehouse.query(f"select * from {USAGE.table} where usage_date >= ?", [self.first_held_day])
        warehouse.execute(f"delete from {USAGE.table} where usage_date >= ?", [self.first_held_day])
        assert not held.empty, f"no usage on or after {self.first_held_day} in {self.sample_dir}"
        self.held_back = held[list(USAGE.columns)]

    def land(self, day: dt.date) -> int:
        """The day's usage partition lands (what the product-DB loader writes for it)."""
        rows = self.held_back[self.held_back["usage_date"].dt.date == day]
        assert not rows.empty, f"no held-back usage for {day}"
        self.held_back = self.held_back.drop(rows.index)
        return write_raw(self.warehouse, USAGE, rows, f"product_db/feature_usage_daily/{day.isoformat()}")

    @staticmethod
    def _vars(data_through: dt.date) -> list[str]:
        return ["--vars", json.dumps({"as_of_date": run_day(data_through).isoformat()})]

    def _parse_target(self, data_through: dt.date) -> Path:
        return self.root / f"parse_{data_through.isoformat()}"

    def parse_ahead(self, data_through: dt.date) -> None:
        """Start `dbt parse` for the daily run after `data_through`, in the background.

        A new `as_of_date` var makes dbt parse the whole project again (it keys its
        partial parse on the vars): about 4 s of CPU per replayed day that production,
        leaving the var unset, does not spend. Parsing reads no warehouse, so it runs
        beside the previous day's build and play; `dbt()` then starts from its result.
        """
        target = self._parse_target(data_through)
        project = settings.DBT_PROJECT_DIR
        env = {**os.environ, "DUCKDB_PATH": self.warehouse_path.name, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        self._parsing[data_through] = subprocess.Popen(
            [settings.dbt_executable(), "parse", "--project-dir", str(project), "--profiles-dir", str(project),
             "--target-path", str(target), *self._vars(data_through)],
            env=env, cwd=self.warehouse_path.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def dbt(self, *args: str, data_through: dt.date):
        parsing = self._parsing.pop(data_through, None)
        if parsing is not None:
            output, _ = parsing.communicate()
            assert parsing.returncode == 0, f"dbt parse for {data_through} failed:\n{output[-4000:]}"
            self.target_path.mkdir(parents=True, exist_ok=True)
            shutil.copy(self._parse_target(data_through) / "partial_parse.msgpack", self.target_path)
        return dbt([*args, *self._vars(data_through)], duckdb_path=self.warehouse_path,
                   target_path=self.target_path)

    def close(self) -> None:
        """Stop parses started ahead and not used (a failed replay)."""
        for parsing in self._parsing.values():
            parsing.kill()
            parsing.communicate()
        self._parsing.clear()

    @property
    def manifest(self) -> dict:
        return json.loads((self.target_path / "manifest.json").read_text())
