"""Stage 4, activation: reverse ETL from dbt models to Salesforce and HubSpot.

Each declared sync becomes the asset `sync/<destination>/<name>` downstream of its
model. The engine (`engine.py`) plans by payload hash, guards, sends in batches and
checkpoints every batch's record-level results in the warehouse
(`activation.sync_state`, `sync_log`, `sync_runs`); `destinations/` speak each CRM's
API.
"""


def load_definitions():
    """The syncs of `syncs.yaml` as Definitions (validated against the dbt manifest when prepared)."""
    from cs_platform.activation.assets import build_definitions
    from cs_platform.activation.config import load_syncs

    return build_definitions(load_syncs())
