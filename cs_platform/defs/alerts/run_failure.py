"""A Slack message for every failed run in the code location."""

import dagster as dg
from dagster import DagsterEventType

from cs_platform.resources.slack import SlackResource, slack_code, slack_escape, slack_link
from cs_platform.settings import run_url

MAX_ERROR_CHARS = 500  # one step's error in the message; the full trace is in the UI


def assets_not_materialized(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Assets the run planned but did not materialize: the failed ones and those
    skipped because something upstream of them failed."""
    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                         DagsterEventType.ASSET_MATERIALIZATION}).records
    planned, done = set(), set()
    for record in records:
        event = record.event_log_entry.dagster_event
        key = event.asset_key.to_user_string()
        (planned if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED else done).add(key)
    return sorted(planned - done)


def failure_message(context: dg.RunFailureSensorContext) -> str:
    """The message text. Every value from the run (job, partition, asset and step keys,
    error text) is escaped: Slack reads `<!channel>` or `<url|text>` in it as markup."""
    run = context.dagster_run
    lines = [f":red_circle: *Run failed*: job {slack_code(run.job_name)}"
             + (f", partition {slack_code(run.tags['dagster/partition'])}" if "dagster/partition" in run.tags else "")]
    missing = assets_not_materialized(context.instance, run.run_id)
    if missing:
        lines.append("Not materialized: " + ", ".join(slack_code(k) for k in missing))
    step_failures = context.get_step_failure_events()
    for event in step_failures:
        error = _shorten(_root_error(event.step_failure_data.error))
        lines.append(f"Step {slack_code(event.step_key)}: {slack_escape(error)}")
    if not step_failures:  # failed outside any step (launch, resources, run worker)
        lines.append(slack_escape(_shorten(context.failure_event.message or "no error message recorded")))
    lines.append(slack_link(run_url(run.run_id), "Open the run in Dagster"))
    return "\n".join(lines)


def _root_error(error) -> str:
    """`SourceAuthError: Airtable rejected ...`. Dagster wraps the asset's exception
    ("Error occurred while executing op ..."): the innermost cause says what went wrong."""
    if error is None:
        return "(no error recorded)"
    while error.cause is not None:
        error = error.cause
    _, _, message = error.message.strip().partition(": ")  # after "pkg.module.ClassName"
    return f"{error.cls_name}: {message}" if message else error.cls_name


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


@dg.run_failure_sensor(
    name="slack_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts every failed run of this code location to Slack: job, assets not "
                "materialized, each failed step's error and a link to the run.",
)
def slack_on_run_failure(context: dg.RunFailureSensorContext, slack: SlackResource) -> None:
    slack.post(failure_message(context))


defs = dg.Definitions(sensors=[slack_on_run_failure])
