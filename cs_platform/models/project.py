"""The dbt project as Dagster sees it, and how its manifest is prepared.

The manifest (`dbt/target/manifest.json`) is made once at build time by
`python -m cs_platform.models` (a `dbt parse`), never on import: parsing dbt on
every load of the code location makes it slow. Under `dagster dev` it is refreshed
on load (`prepare_if_dev`), so edits to models show up without a separate step.
"""

from __future__ import annotations

import os

from dagster_dbt import DbtProject

from cs_platform import settings


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
    """Write the manifest (`dbt parse`) into dbt/target; the Makefile runs this
    before tests, the demo and any `dagster asset materialize`."""
    dbt_project.preparer.prepare(dbt_project)
    print(f"dbt manifest ready: {dbt_project.manifest_path}")
