"""Stage 4, activation: reverse ETL from dbt models to Salesforce and HubSpot.

Syncs are declared as a `SyncComponent` (`component.py`) in
`cs_platform/defs/activation/syncs/defs.yaml`; each becomes the asset
`sync/<destination>/<name>` downstream of its model (`assets.py`). The engine
(`engine.py`) plans by payload hash, guards, sends in batches and checkpoints every
batch's record-level results in the warehouse (`activation.sync_state`, `sync_log`,
`sync_runs`); `destinations/` speak each CRM's API and own its rules.
"""
