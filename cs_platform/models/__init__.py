"""Stage 3, models: how the dbt project under `dbt/` becomes Dagster assets.

`project.py` locates the project and prepares its manifest (`python -m
cs_platform.models`, a `dbt parse`; never on import), `translator.py` maps dbt
nodes to asset keys, groups and kinds, and `results.py` adds row counts and
failing rows to what a build reports. The assets themselves, the daily build job
and its schedule are in `cs_platform/defs/models/dbt.py`.
"""
