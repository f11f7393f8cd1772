"""The one code location: everything under `cs_platform/defs/`, with the resources
of the environment (`cs_platform.settings`).

The defs folder is loaded as `dg.load_from_defs_folder` loads it (a module's `defs`,
or its assets, jobs, schedules and sensors; a component's `defs.yaml`), but from the
folder itself rather than the project root: the root adds a listing of every
component type installed in the environment, which imports each integration's
components (dagster-gcp's alone is ~0.7 s) on every load of the code location, in
the webserver, the daemon and every run, for a registry panel this project does not use.
The resources come first, so that missing production settings stop the load with
one message naming them all. Freshness policies are applied here, to every asset at
once (`cs_platform/freshness.py`), not declared asset by asset; so are what the
Catalog shows of each asset: its one-line description, owners, the tool / layer /
pii tags and the link to its code (`cs_platform/catalog.py`).
"""

import warnings
from pathlib import Path

import dagster as dg

from cs_platform import settings
from cs_platform.catalog import apply_catalog
from cs_platform.freshness import apply_freshness_policies


@dg.definitions
def defs() -> dg.Definitions:
    resources = settings.resources_for()
    import cs_platform.defs

    tree = dg.ComponentTree.from_module(defs_module=cs_platform.defs, project_root=settings.PROJECT_ROOT)
    with warnings.catch_warnings():  # the loader's own preview/beta warnings, as load_from_defs_folder hides them
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        loaded = tree.build_defs(Path(cs_platform.defs.__file__).parent)
    return dg.Definitions.merge(apply_catalog(apply_freshness_policies(loaded)),
                                dg.Definitions(resources=resources, executor=executor()))


def executor() -> dg.ExecutorDefinition:
    """Locally a run's steps run in its run worker: DuckDB admits one writing process, so
    the "warehouse" pool runs one step at a time anyway, and a process per step would
    only add its start-up (~5 s each). In production (BigQuery, one container per run)
    steps run in processes of their own, in parallel where the pool allows."""
    return dg.in_process_executor if settings.current_env() == "local" else dg.multiprocess_executor
