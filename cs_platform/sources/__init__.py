"""Stages 1-2, sources -> raw: the machinery every raw asset shares.

`catalog.py` is the contract of every raw table (and imports nothing heavy, so the
development kit's generator and sandbox use it without loading Dagster);
`loading.py` validates, quarantines and writes atomically; `incremental.py` reads
the SaaS APIs from a cursor; `partitions.py` loads day-shaped sources by the day.
Each tool's assets, jobs, schedules and sensors are in `cs_platform/defs/sources/`.
"""
