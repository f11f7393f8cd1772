"""Stage 4, activation: reverse ETL from dbt models to Salesforce and HubSpot.

Syncs are declared in `syncs.yaml`; each becomes the asset
`sync/<destination>/<name>` downstream of its model. The engine (`engine.py`)
plans by payload hash, guards, sends in batches and checkpoints every batch's
record-level results in the warehouse (`activation.sync_state`, `sync_log`,
`sync_runs`).

`defs` is built on first access: reading it loads `syncs.yaml` and validates it
against the dbt manifest (when prepared), failing with an error that names the
sync and the field. Importing the engine's modules alone does neither.
"""

from __future__ import annotations

import dagster as dg

__all__ = ["defs", "load_definitions"]


def load_definitions() -> dg.Definitions:
    from cs_platform.activation.assets import build_definitions
    from cs_platform.activation.config import load_syncs

    return build_definitions(load_syncs())


def __getattr__(name: str):
    if name == "defs":
        value = load_definitions()
        globals()["defs"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
