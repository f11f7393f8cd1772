"""The dbt project as Dagster sees it, and how its manifest is prepared.

The manifest (`dbt/target/manifest.json`) is made once at build time by
`python -m cs_platform.models` (a `dbt parse`), never on import: parsing dbt on
every load of the code location makes it slow. Under `dagster dev` it is refreshed
on load, so edits to models show up without a separate step.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from cs_platform import settings

# dbt runs from its own environment (see settings.dbt_executable).
DBT_EXECUTABLE = settings.dbt_executable()


def dbt_environment() -> None:
    """Environment the dbt profile reads (dbt/profiles.yml). Locally the DuckDB file
    is the same one the loaders write (settings.duckdb_path); a DUCKDB_PATH already
    set wins. BigQuery settings are the production variables themselves."""
    if settings.current_env() == "local":
        os.environ.setdefault("DUCKDB_PATH", settings.duckdb_path())


dbt_environment()

dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, target=settings.dbt_target())


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt resource, for a dbt CLI that lives in its own environment.

    Two things dagster-dbt does before each command assume dbt-core beside Dagster:
    - it opens an in-process dbt-core adapter, used only to fetch row counts and
      column metadata from inside the asset. dbt-core is not importable here by
      design and row counts are read separately (assets.with_row_counts), so skip
      it instead of logging an ImportError on every run;
    - it runs `dbt --version` (~3 s: dbt's imports and a PyPI lookup) to tell dbt
      Core from Fusion. Read the installed dbt-core's version from the dbt
      environment instead, when the executable lives in a Python venv.
    """

    def _initialize_dbt_core_adapter(self, args):
        return None

    @cached_property
    def _cli_version(self) -> Version:
        environment = Path(self.dbt_executable).parent.parent
        for dist_info in environment.glob("lib/python*/site-packages/dbt_core-*.dist-info"):
            return Version(dist_info.name.removeprefix("dbt_core-").removesuffix(".dist-info"))
        return super()._cli_version


def dbt_cli() -> DbtCli:
    return DbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def prepare() -> None:
    """Write the manifest (`dbt parse`) into dbt/target with this project's dbt CLI,
    as the Makefile's manifest step does, before tests, the demo or any
    `dagster asset materialize`. (DbtProject's own preparer would call whichever
    `dbt` is first on PATH, not settings.dbt_executable.)"""
    # Under `dagster dev` several processes may load the code at once; one parses.
    run_with_concurrent_update_guard(dbt_project.manifest_path, _parse)


def _parse() -> None:
    dbt_cli().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


# Under `dagster dev`, edits to the models show up on reload without a separate step.
if os.environ.get("DAGSTER_IS_DEV_CLI"):
    prepare()


def require_manifest() -> None:
    """Fail with the command that fixes it, rather than a bare file-not-found."""
    if not dbt_project.manifest_path.exists():
        from dagster_dbt.errors import DagsterDbtManifestNotFoundError

        raise DagsterDbtManifestNotFoundError(
            f"{dbt_project.manifest_path} does not exist: prepare the dbt manifest first with "
            "`python -m cs_platform.models` (`make manifest`).")
