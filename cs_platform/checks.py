"""Blocking checks across runs. Dagster stops what is downstream of a failed
blocking check within the run that evaluated it; a later run (the daily dbt build,
a scheduled sync) must ask the instance for the latest result itself."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg


def failing(instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey]) -> list[dg.AssetCheckKey]:
    """Of `check_keys`, those whose latest evaluation failed with severity ERROR."""
    keys = list(check_keys)
    if not keys:
        return []
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    failed = []
    for key, record in latest.items():
        evaluation = record.evaluation
        if (evaluation is not None and hasattr(evaluation, "passed") and not evaluation.passed
                and evaluation.severity == dg.AssetCheckSeverity.ERROR):
            failed.append(key)
    return sorted(failed, key=lambda k: k.to_user_string())
