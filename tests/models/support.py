"""Shared set-up for the dbt model tests: one generated customer base, loaded into
a DuckDB warehouse without HTTP and built by dbt once per test session (and shared
by the pytest-xdist workers through a file lock); tests that change anything work
on a copy."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from filelock import FileLock

from cs_platform import settings
from cs_platform.resources.warehouse import DuckDBWarehouse
from devkit.sample_warehouse import load_sample_data

AS_OF = dt.date(2026, 3, 2)
ACCOUNTS = 200
DAYS = 120
SEED = 7
DBT_VARS = {"as_of_date": AS_OF.isoformat()}
DBT_DIR = settings.DBT_PROJECT_DIR
# Named like the real one: dbt's relation names carry the DuckDB file's stem.
WAREHOUSE_FILE = "warehouse.duckdb"


@dataclass(frozen=True)
class BuiltWarehouse:
    root: Path
    sample_dir: Path
    warehouse_path: Path
    target_path: Path

    @property
    def truth(self) -> dict:
        return json.loads((self.sample_dir / "ground_truth.json").read_text())

    def query(self, sql: str) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse_path), read_only=True) as con:
            return con.execute(sql).df()

    def copy_to(self, folder: Path) -> Path:
        """A private copy of the built warehouse for a test that changes it."""
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / WAREHOUSE_FILE
        shutil.copy(self.warehouse_path, destination)
        return destination


def dbt(args: list[str], *, duckdb_path: Path, project_dir: Path = DBT_DIR, target_path: Path,
        check: bool = True, reuse_parse_of: BuiltWarehouse | None = None) -> subprocess.CompletedProcess:
    """Run the dbt CLI of this environment against `duckdb_path`.

    dbt runs in the warehouse file's folder with DUCKDB_PATH set to the bare file
    name: every copy then has the same profile, so with `reuse_parse_of` a run
    starts from the built warehouse's partial parse instead of parsing the whole
    project again (dbt re-parses from scratch when the profile changes).
    """
    executable = settings.dbt_executable()
    env = {**os.environ, "DUCKDB_PATH": duckdb_path.name, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if reuse_parse_of is not None:
        target_path.mkdir(parents=True, exist_ok=True)
        shutil.copy(reuse_parse_of.target_path / "partial_parse.msgpack", target_path)
    result = subprocess.run(
        [executable, *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
         "--target-path", str(target_path)],
        env=env, capture_output=True, text=True, cwd=duckdb_path.parent)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    return result


def copy_project(destination: Path) -> Path:
    """A private copy of the dbt project for a test that edits it."""
    shutil.copytree(DBT_DIR, destination, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return destination


def vars_arg(**overrides) -> list[str]:
    return ["--vars", json.dumps({**DBT_VARS, **overrides})]


def build_warehouse(root: Path) -> BuiltWarehouse:
    """Generate, load the raw tables, `dbt build`; reused when already built."""
    from devkit.sample_data import generate

    built = BuiltWarehouse(root=root, sample_dir=root / "sample", warehouse_path=root / WAREHOUSE_FILE,
                           target_path=root / "target")
    done = root / "built.ok"
    with FileLock(str(root) + ".lock"):
        if done.exists():
            return built
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        generate(built.sample_dir, accounts=ACCOUNTS, seed=SEED, days=DAYS, as_of=AS_OF)
        load_sample_data(built.sample_dir, DuckDBWarehouse(path=str(built.warehouse_path)))
        dbt(["build", *vars_arg()], duckdb_path=built.warehouse_path, target_path=built.target_path)
        done.touch()
    return built
