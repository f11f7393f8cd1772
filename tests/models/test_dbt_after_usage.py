"""The sensor that runs dbt when the day that just closed has landed (the plays' fast path)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from cs_platform.defs.models.after_usage import USAGE_KEY, dbt_after_usage_landed


def _tick(instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return dbt_after_usage_landed(context), context.cursor


def _land(instance: dg.DagsterInstance, day: date) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(USAGE_KEY, partition=day.isoformat()))


def test_runs_dbt_once_when_the_closed_day_lands_and_not_for_partial_or_old_days():
    today = datetime.now(timezone.utc).date()  # the materializations below are stamped now
    with dg.instance_for_test() as instance:
        _land(instance, today - timedelta(days=3))  # history before the sensor started
        result, cursor = _tick(instance, None)
        assert isinstance(result, dg.SkipReason) and cursor  # starts from now, no replay

        _land(instance, today)  # an hourly refresh of today's partial day
        _land(instance, today - timedelta(days=5))  # a backfill of an old day
        result, cursor = _tick(instance, cursor)
        assert isinstance(result, dg.SkipReason) and "none of a day that just closed" in result.skip_message

        _land(instance, today - timedelta(days=1))  # the day that just closed, loaded twice
        _land(instance, today - timedelta(days=1))
        _land(instance, today)
        result, cursor = _tick(instance, cursor)
        assert isinstance(result, dg.RunRequest)
        assert result.tags["cs_platform/usage_landed"] == (today - timedelta(days=1)).isoformat()
        first_key = result.run_key

        result, cursor = _tick(instance, cursor)  # nothing new: nothing to run
        assert isinstance(result, dg.SkipReason)
        _land(instance, today - timedelta(days=1))  # corrected and loaded again: a new run
        result, _ = _tick(instance, cursor)
        assert isinstance(result, dg.RunRequest) and result.run_key != first_key


def test_the_sensor_targets_the_code_locations_dbt_build_job():
    from cs_platform.definitions import defs

    sensor = defs().resolve_sensor_def("dbt_after_usage_landed")
    assert sensor.job_name == "dbt_build"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_backfill_of_the_history_does_not_start_dbt():
    """A run over a range of days (a first load, a backfill) loads yesterday too; that
    is not the day closing, and dbt is left to its schedule (or whoever backfills)."""
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)

    @dg.asset(key=USAGE_KEY, partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"),
              backfill_policy=dg.BackfillPolicy.single_run())
    def usage_stand_in() -> None:
        pass

    with dg.instance_for_test() as instance:
        _, cursor = _tick(instance, None)
        assert dg.materialize([usage_stand_in], instance=instance, tags={
            "dagster/asset_partition_range_start": (yesterday - timedelta(days=30)).isoformat(),
            "dagster/asset_partition_range_end": yesterday.isoformat()}).success
        result, cursor = _tick(instance, cursor)
        assert isinstance(result, dg.SkipReason), result
        # The next day's closing, loaded on its own, does start dbt.
        assert dg.materialize([usage_stand_in], instance=instance, partition_key=yesterday.isoformat()).success
        result, _ = _tick(instance, cursor)
        assert isinstance(result, dg.RunRequest)
