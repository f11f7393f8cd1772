"""Stages 1-2, sources -> raw: each tool's raw objects as assets `raw/<tool>/<object>`.

One module per tool, each exposing `defs` (assets, checks, jobs, schedules,
sensors); `cs_platform.sources.definitions` merges them. `catalog.py` is the
contract of every raw table and imports nothing heavy, so the generator and the
sandbox can use it without loading Dagster.
"""
