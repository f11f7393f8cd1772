"""The freshness and check sensor: one Slack message when an asset turns stale or a raw
table's ERROR check fails, one when it recovers, nothing in between. Staleness is
Dagster's own: the freshness daemon evaluates the policies (run here in-process, on
a moved clock) and the sensor reads the state it recorded."""

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

# Private: the daemon and an in-process workspace are how Dagster's own tests drive it.
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon import freshness as freshness_daemon

from cs_platform.defs.alerts import stale_assets as freshness
from cs_platform.defs.alerts.stale_assets import slack_on_stale_assets_and_failed_checks as sensor
from cs_platform.defs.models import dbt
from cs_platform.defs.sources.airtable import feature_requests
from cs_platform.freshness import apply_freshness_policies
from cs_platform.resources.slack import SlackResource
from devkit.sandbox import SLACK_WEBHOOK_PATH
from tests.alerts.test_run_failure import ESCAPED, EVIL, assert_no_slack_markup_from_data

AIRTABLE_FAIL_WINDOW = timedelta(hours=12, minutes=30)


DBT_DAILY_FAIL_WINDOW = timedelta(hours=48, minutes=30)
LOCATION = Path(__file__).with_name("freshness_location.py")


# A partitioned raw table of export files whose ERROR check the test decides, like a
# KARTE export's primary-key check (the loader's own rules are tested in tests/sources).
EXPORT_FILES_KEY = dg.AssetKey(["raw", "test", "export_files"])
EXPORT_FILES = dg.DynamicPartitionsDefinition(name="test_export_files")


class LoadConfig(dg.Config):
    problem: str = ""  # the failed check's description; empty: the check passes
    severity: str = "ERROR"


@dg.asset(key=EXPORT_FILES_KEY, partitions_def=EXPORT_FILES,
          check_specs=[dg.AssetCheckSpec("primary_key_unique", asset=EXPORT_FILES_KEY)])
def export_files(config: LoadConfig) -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(
        check_name="primary_key_unique", passed=not config.problem,
        severity=dg.AssetCheckSeverity[config.severity], description=config.problem or None)])


def load_export_file(instance: dg.DagsterInstance, name: str, problem: str = "",
                     severity: str = "ERROR") -> dg.ExecuteInProcessResult:
    """One run loading the file `name` (its partition); `problem` fails its check."""
    if not instance.has_dynamic_partition(EXPORT_FILES.name, name):
        instance.add_dynamic_partitions(EXPORT_FILES.name, [name])
    config = dg.RunConfig({"raw__test__export_files": LoadConfig(problem=problem, severity=severity)})
    result = dg.materialize([export_files], instance=instance, partition_key=name, run_config=config)
    assert result.success
    return result


@pytest.fixture
def defs(resources):
    return apply_freshness_policies(dg.Definitions.merge(
        dg.Definitions(assets=[feature_requests, export_files], sensors=[sensor], resources=resources),
        dbt.defs))


def run_freshness_daemon(instance: dg.DagsterInstance, at: float, monkeypatch) -> None:
    """One iteration of Dagster's freshness daemon over freshness_location.py, at time `at`."""
    import dagster._core.definitions.freshness_evaluator as evaluator

    monkeypatch.setattr(evaluator, "get_current_timestamp", lambda: at)
    monkeypatch.setattr(freshness_daemon, "get_current_timestamp", lambda: at)
    origin = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file=str(LOCATION), attribute="defs"))
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        asyncio.run(freshness_daemon.FreshnessDaemon()._evaluate_assets(workspace_process_context=workspace))


@pytest.fixture
def evaluate(defs, instance, resources, monkeypatch):
    """Runs the freshness daemon, then the sensor, `hours_later` after now; returns the sensor's cursor."""

    def _evaluate(cursor: str | None, hours_later: float = 0) -> str | None:
        at = time.time() + hours_later * 3600
        run_freshness_daemon(instance, at, monkeypatch)
        monkeypatch.setattr(freshness, "now", lambda: at)
        # Direct invocation takes resources from the context, not from `definitions`.
        with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                     resources={"slack": resources["slack"]}) as context:
            return sensor(context).cursor

    return _evaluate


def test_stale_then_fresh_again_is_posted_once_each(defs, instance, resources, evaluate, slack_messages, sandbox):
    cursor = evaluate(None)
    assert slack_messages() == []  # never materialized: freshness unknown, nothing to say

    assert dg.materialize([feature_requests], instance=instance, resources=resources).success
    cursor = evaluate(cursor)
    assert slack_messages() == []

    late = AIRTABLE_FAIL_WINDOW.total_seconds() / 3600 + 1
    cursor = evaluate(cursor, hours_later=late)
    cursor = evaluate(cursor, hours_later=late + 1)  # still stale: no second message
    [stale] = slack_messages()
    assert stale.startswith(":hourglass_flowing_sand: *Stale*: `raw/airtable/feature_requests`")
    assert "expected at least every 12h 30m" in stale

    assert dg.materialize([feature_requests], instance=instance, resources=resources).success
    evaluate(cursor)
    assert len(slack_messages()) == 2 and "*Fresh again*: `raw/airtable/feature_requests`" in slack_messages()[1]
    assert SLACK_WEBHOOK_PATH not in str([w["records"] for w in sandbox.writes("slack")])


def test_a_failed_error_check_on_a_raw_table_is_posted_once(defs, instance, evaluate, slack_messages):
    """Per file: the bad file's failure is posted once; another file loading clean says
    nothing about it; the bad file loaded again, fixed, is its recovery."""
    bad = load_export_file(instance, "files_20261101.csv", problem="2 key(s) appeared more than once, e.g. r1")
    cursor = evaluate(evaluate(None))
    [failed] = slack_messages()
    assert failed == (":warning: *Check failed*: `primary_key_unique` on `raw/test/export_files`, partition "
                      "`files_20261101.csv`: 2 key(s) appeared more than once, e.g. r1\n"
                      f"<http://127.0.0.1:3000/runs/{bad.run_id}|Open the run in Dagster>")

    load_export_file(instance, "files_20261108.csv")
    cursor = evaluate(cursor)
    assert len(slack_messages()) == 1  # the clean file is not the bad one's recovery

    load_export_file(instance, "files_20261101.csv")  # the file, re-exported fixed
    cursor = evaluate(evaluate(cursor))
    assert len(slack_messages()) == 2
    assert slack_messages()[-1] == (":white_check_mark: *Check passes again*: `primary_key_unique` on "
                                    "`raw/test/export_files`, partition `files_20261101.csv`.")
    assert json.loads(cursor)["failing_checks"] == []


def test_a_clean_file_loaded_after_a_bad_one_does_not_hide_its_failed_check(defs, instance, evaluate,
                                                                              slack_messages):
    """Both files load before the sensor's next tick: the latest execution of the check
    (the clean file's) passes, yet the bad file's failure is still posted, naming it."""
    cursor = evaluate(None)
    bad = load_export_file(instance, "files_20261101.csv", problem="2 key(s) appeared more than once")
    load_export_file(instance, "files_20261108.csv")
    cursor = evaluate(cursor)
    [failed] = slack_messages()
    assert failed.startswith(":warning: *Check failed*: `primary_key_unique` on `raw/test/export_files`, "
                             "partition `files_20261101.csv`: 2 key(s) appeared more than once")
    assert f"/runs/{bad.run_id}" in failed
    assert json.loads(cursor)["failing_checks"] == [["raw/test/export_files:primary_key_unique",
                                                     "files_20261101.csv"]]

    evaluate(cursor)  # nothing new: no second message
    assert len(slack_messages()) == 1


def test_a_check_still_running_at_a_tick_is_read_when_it_completes(defs, instance, evaluate, slack_messages):
    """Dagster writes a check's execution row when the check is planned and completes that
    same row: a tick in between must not move the cursor past it, or its failure would
    never be read."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    name = "files_20261101.csv"
    run = instance.add_run(DagsterRun(job_name="export_files_job", status=DagsterRunStatus.STARTED,
                                      tags={"dagster/partition": name}))

    def report(event_type: DagsterEventType, data) -> None:
        instance.report_dagster_event(DagsterEvent(event_type.value, "export_files_job", event_specific_data=data),
                                      run_id=run.run_id)

    report(DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
           AssetCheckEvaluationPlanned(asset_key=EXPORT_FILES_KEY, check_name="primary_key_unique"))
    cursor = evaluate(None)
    assert slack_messages() == []

    report(DagsterEventType.ASSET_CHECK_EVALUATION, dg.AssetCheckEvaluation(
        asset_key=EXPORT_FILES_KEY, check_name="primary_key_unique", passed=False, description="r1 twice"))
    evaluate(cursor)
    assert slack_messages() == [":warning: *Check failed*: `primary_key_unique` on `raw/test/export_files`, "
                                f"partition `{name}`: r1 twice\n"
                                f"<http://127.0.0.1:3000/runs/{run.run_id}|Open the run in Dagster>"]


def test_a_cursor_from_before_partitions_were_told_apart_is_carried_over(defs, instance, evaluate, slack_messages):
    """The old cursor named failing checks without a partition: the first read of every
    execution announces each failing file and lets the partition-less entry go."""
    load_export_file(instance, "files_20261101.csv", problem="r1 twice")
    old = json.dumps({"stale_assets": [], "failing_checks": ["raw/test/export_files:primary_key_unique"]})
    cursor = json.loads(evaluate(old))
    assert len(slack_messages()) == 1 and "partition `files_20261101.csv`" in slack_messages()[0]
    assert cursor["failing_checks"] == [["raw/test/export_files:primary_key_unique", "files_20261101.csv"]]


def test_a_warn_check_failing_is_not_posted(defs, instance, evaluate, slack_messages):
    load_export_file(instance, "files_20261101.csv", problem="an unexpected column", severity="WARN")
    evaluate(None)
    assert slack_messages() == []


def test_check_alerts_escape_the_data_they_carry(defs, instance, evaluate, slack_messages, monkeypatch):
    """A file name or a duplicated key such as `<!channel>` is shown, not acted on: Slack
    would ping the channel for `<!channel>` and make `<url|text>` a link. The run link
    stays a link."""
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "https://dagster.example.com")
    run = load_export_file(instance, EVIL, problem=f"1 key(s) appeared more than once, e.g. {EVIL}")
    cursor = evaluate(None)
    [failed] = slack_messages()
    assert failed.startswith(":warning: *Check failed*: `primary_key_unique` on `raw/test/export_files`, "
                             f"partition `{ESCAPED}`: 1 key(s) appeared more than once, e.g. {ESCAPED}\n")
    assert_no_slack_markup_from_data(failed)
    assert failed.endswith(f"\n<https://dagster.example.com/runs/{run.run_id}|Open the run in Dagster>")

    load_export_file(instance, EVIL)
    evaluate(cursor)
    assert slack_messages()[-1] == (":white_check_mark: *Check passes again*: `primary_key_unique` on "
                                    f"`raw/test/export_files`, partition `{ESCAPED}`.")


def test_alerts_slack_did_not_take_are_sent_on_the_next_tick(defs, instance, resources, slack_messages,
                                                             sandbox, monkeypatch):
    assert dg.materialize([feature_requests], instance=instance, resources=resources).success
    at = time.time() + 24 * 3600
    run_freshness_daemon(instance, at, monkeypatch)
    monkeypatch.setattr(freshness, "now", lambda: at)
    broken = SlackResource(webhook_url=sandbox.env()["SLACK_WEBHOOK_URL"].replace("Secret", "Wrong"))
    with dg.build_sensor_context(instance=instance, definitions=defs, resources={"slack": broken}) as context:
        result = sensor(context)
    assert "Slack failed" in result.skip_reason.skip_message and "404" in result.skip_reason.skip_message
    assert slack_messages() == []

    with dg.build_sensor_context(instance=instance, cursor=result.cursor, definitions=defs,
                                 resources={"slack": resources["slack"]}) as context:
        sensor(context)
    assert len(slack_messages()) == 1


def test_a_stale_mart_raises_the_same_alert_as_a_stale_raw_table(defs, instance, evaluate, slack_messages):
    """renewal_list is built by the daily dbt job: past its window it is stale in Dagster's
    own freshness state (what the UI shows) and in Slack, in the same words as a raw table."""
    instance.report_runless_asset_event(dg.AssetMaterialization("renewal_list"))
    cursor = evaluate(None)
    assert instance.get_freshness_state_records([dg.AssetKey("renewal_list")])[
        dg.AssetKey("renewal_list")].freshness_state.value == "PASS"
    assert slack_messages() == []

    cursor = evaluate(cursor, hours_later=DBT_DAILY_FAIL_WINDOW.total_seconds() / 3600 + 1)
    record = instance.get_freshness_state_records([dg.AssetKey("renewal_list")])[dg.AssetKey("renewal_list")]
    assert record.freshness_state.value == "FAIL"
    [stale] = slack_messages()
    assert stale.startswith(":hourglass_flowing_sand: *Stale*: `renewal_list` was last materialized")
    assert "expected at least every 2d 30m" in stale


def test_every_asset_but_the_seeds_has_a_policy():
    from cs_platform.definitions import defs as code_location

    graph = code_location().resolve_asset_graph()
    without = sorted(k.to_user_string() for k in graph.get_all_asset_keys()
                     if graph.get(k).is_materializable and graph.get(k).freshness_policy is None)
    seeds = sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "score_config")
    assert without == seeds
