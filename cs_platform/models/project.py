"""The dbt project as Dagster sees it, and how its manifest is prepared.

The manifest (`dbt/target/manifest.json`) is made once at build time by
`python -m cs_platform.models` (a `dbt parse`), never on import: parsing dbt on
every load of the code location makes it slow. Under `dagster dev` it is refreshed
on load (`prepare_if_dev`), so edits to models show up without a separate step.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from cs_platform import settings


# The dbt installed beside this Python (the venv's, the image's), whether or not
# that environment's bin folder is on PATH.
_BESIDE_PYTHON = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else (shutil.which("dbt") or "dbt")


def dbt_environment() -> None:
    """Environment the dbt profile reads (dbt/profiles.yml). Locally the DuckDB file
    is the same one the loaders write (settings.duckdb_path); a DUCKDB_PATH already
    set wins. BigQuery settings are the production variables themselves."""
    if settings.current_env() == "local":
        os.environ.setdefault("DUCKDB_PATH", settings.duckdb_path())


dbt_environment()

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    target=settings.dbt_target(),
)
dbt_project.prepare_if_dev()


def require_manifest() -> None:
    """Fail with the command that fixes it, rather than a bare file-not-found."""
    if not dbt_project.manifest_path.exists():
        from dagster_dbt.errors import DagsterDbtManifestNotFoundError

        raise DagsterDbtManifestNotFoundError(
            f"{dbt_project.manifest_path} does not exist: prepare the dbt manifest first with "
            "`python -m cs_platform.models` (make prepare).")


def prepare() -> None:
    """Write the manifest (`dbt parse`) into dbt/target, as the Makefile's manifest
    step does, before tests, the demo or any `dagster asset materialize`."""
    DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE) \
        .cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    print(f"dbt manifest ready: {dbt_project.manifest_path}")
