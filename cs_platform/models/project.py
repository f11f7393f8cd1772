"""The dbt project as Dagster sees it, and how its manifest is prepared.

The manifest (`dbt/target/manifest.json`) is made once at build time by
`python -m cs_platform.models` (a `dbt parse`), never on import: parsing dbt on
every load of the code location makes it slow. Under `dagster dev` it is refreshed
on load, so edits to models show up without a separate step.
"""

from __future__ import annotations

import os
import warnings
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

    def cli(self, args, *, context=None, **kwargs):
        """dagster-dbt's `cli`, given the run's assets definition with the bookkeeping
        metadata the translator keeps out of the UI put back (see DbtRunContext)."""
        if context is not None and context.has_assets_def:
            context = DbtRunContext(context)
        return super().cli(args, context=context, **kwargs)

    @cached_property
    def _cli_version(self) -> Version:
        environment = Path(self.dbt_executable).parent.parent
        for dist_info in environment.glob("lib/python*/site-packages/dbt_core-*.dist-info"):
            return Version(dist_info.name.removeprefix("dbt_core-").removesuffix(".dist-info"))
        return super()._cli_version


class DbtRunContext:
    """The asset execution context of a dbt run, whose assets definition carries
    each dbt node's unique_id and the DbtProject again: dagster-dbt selects the
    models of a subset run by the unique_id on each selected spec, and finds the
    project beside the manifest. The code location's definitions do not carry them
    (cs_platform.models.translator), so that the UI does not show them. Everything
    else is the context itself."""

    def __init__(self, context) -> None:
        self._context = context
        self.assets_def = with_dbt_bookkeeping(context.assets_def)

    def __getattr__(self, name: str):
        # dagster-dbt reads some deprecated properties (`op`); the warning belongs to it, not here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(self._context, name)


def with_dbt_bookkeeping(assets_def):
    """`assets_def` (a dbt assets definition, subset or not) with each spec's
    `dagster_dbt/unique_id` and `dagster_dbt/project` metadata."""
    from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

    from cs_platform.models.translator import PROJECT_KEY, UNIQUE_ID_KEY

    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([assets_def])
    unique_ids = {}
    for unique_id, props in [*manifest.get("nodes", {}).items(), *manifest.get("sources", {}).items()]:
        if props.get("resource_type") in ("model", "seed", "snapshot", "source"):
            unique_ids.setdefault(translator.get_asset_key(props), unique_id)

    def restore(spec):
        if spec.key not in unique_ids or UNIQUE_ID_KEY in spec.metadata:
            return spec
        return spec.merge_attributes(metadata={UNIQUE_ID_KEY: unique_ids[spec.key], PROJECT_KEY: dbt_project})

    return assets_def.map_asset_specs(restore)


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
