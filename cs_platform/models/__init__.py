"""Stage 3, models: the dbt project under `dbt/`, run by dagster-dbt.

Every dbt model and seed is an asset (`account_360`, `health_score_history`,
`activation_salesforce_accounts`, ...), grouped by layer; every dbt test is an
asset check, and tests on the raw tables are checks on `raw/<tool>/<table>`.

`defs` (assets, the daily dbt job and schedule, the `dbt` resource) is built on
first access from the prepared manifest: run `python -m cs_platform.models` (a
`dbt parse` into dbt/target) before loading it outside `dagster dev`. Importing a
submodule (e.g. `cs_platform.models.sample_warehouse`) needs no manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        from cs_platform.models.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
