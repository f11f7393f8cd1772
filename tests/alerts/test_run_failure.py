"""The run-failure sensor posts to the sandbox's Slack webhook; the webhook URL never leaks."""

import traceback

import dagster as dg
import pytest

from cs_platform.defs.alerts.run_failure import slack_on_run_failure
from cs_platform.defs.sources.airtable import airtable_job, feature_requests
from cs_platform.resources.http import SourceError
from cs_platform.resources.slack import SlackResource, slack_code, slack_escape, slack_link
from devkit.sandbox import SLACK_WEBHOOK_PATH

# A value from data that Slack would act on if posted as is: a channel ping, markup, a link.
EVIL = "<!channel> <script>x</script> & *bold* <http://evil|click>"
ESCAPED = "&lt;!channel&gt; &lt;script&gt;x&lt;/script&gt; &amp; *bold* &lt;http://evil|click&gt;"


def assert_no_slack_markup_from_data(text: str) -> None:
    assert "&lt;!channel&gt;" in text and "&amp;" in text
    for raw in ("<!channel>", "<script>", "</script>", "<http://evil", " & "):
        assert raw not in text



def failed_airtable_run(resources, instance, monkeypatch) -> dg.ExecuteInProcessResult:
    monkeypatch.setenv("AIRTABLE_TOKEN", "patRevoked.token")
    defs = dg.Definitions(assets=[feature_requests], jobs=[airtable_job], resources=resources)
    result = defs.resolve_job_def("airtable_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result


def post_run_failure(result, instance, resources) -> None:
    """Evaluate the run-failure sensor on `result`'s failure, posting to the sandbox's Slack."""
    with dg.build_run_status_sensor_context(
            sensor_name="slack_on_run_failure", dagster_event=result.get_run_failure_event(),
            dagster_instance=instance, dagster_run=result.dagster_run,
            resources={"slack": resources["slack"]}) as context:
        slack_on_run_failure(context)


def test_a_failed_run_is_posted_with_job_assets_error_and_link(resources, instance, sandbox, slack_messages,
                                                              monkeypatch):
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "https://dagster.example.com")
    result = failed_airtable_run(resources, instance, monkeypatch)
    post_run_failure(result, instance, resources)

    [text] = slack_messages()
    assert "`airtable_job`" in text
    assert "Not materialized: `raw/airtable/feature_requests`" in text
    assert "Step `raw__airtable__feature_requests`" in text
    assert "Airtable table 'Feature Requests' rejected the credentials" in text and "AIRTABLE_TOKEN" in text
    assert f"https://dagster.example.com/runs/{result.run_id}" in text
    assert "patRevoked" not in text
    assert SLACK_WEBHOOK_PATH not in str([w["records"] for w in sandbox.writes("slack")])


def test_run_failure_messages_escape_the_data_they_carry(resources, instance, slack_messages, monkeypatch):
    """Partition key and error text come from data: escaped, so Slack neither pings the
    channel nor makes a link of them. The link to the run stays a link."""
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "https://dagster.example.com")
    partitions = dg.DynamicPartitionsDefinition(name="evil_files")

    @dg.asset(key=["raw", "evil"], partitions_def=partitions)
    def evil_load(context: dg.AssetExecutionContext) -> None:
        raise SourceError(f"bad file {context.partition_key}: {EVIL}")

    instance.add_dynamic_partitions(partitions.name, [EVIL])
    result = dg.materialize([evil_load], instance=instance, partition_key=EVIL, raise_on_error=False)
    assert not result.success
    post_run_failure(result, instance, resources)

    [text] = slack_messages()
    assert f"partition `{ESCAPED}`" in text
    assert f"SourceError: bad file {ESCAPED}: {ESCAPED}" in text
    assert_no_slack_markup_from_data(text)
    assert text.endswith(f"\n<https://dagster.example.com/runs/{result.run_id}|Open the run in Dagster>")


def test_slack_text_helpers():
    assert slack_escape(EVIL) == ESCAPED
    assert slack_escape("a &lt; b") == "a &amp;lt; b"  # shown as typed, not as `<`
    assert slack_code("x`y <z>") == "`x'y &lt;z&gt;`"
    assert slack_link("https://h/runs/1?a=1&b=2", "Open <it>") == "<https://h/runs/1?a=1&amp;b=2|Open &lt;it&gt;>"


def test_slack_errors_never_carry_the_webhook_url(sandbox):
    secret = "/services/T0WRONG/B0WRONG/notTheRightSecret"
    with pytest.raises(SourceError) as rejected:
        SlackResource(webhook_url=sandbox.env()["SLACK_WEBHOOK_URL"].replace(SLACK_WEBHOOK_PATH, secret)).post("hi")
    assert "404" in str(rejected.value) and "SLACK_WEBHOOK_URL" in str(rejected.value)

    with pytest.raises(SourceError) as unreachable:
        SlackResource(webhook_url=f"http://127.0.0.1:9{secret}").post("hi")  # nothing listens on port 9
    for error in (rejected.value, unreachable.value):
        # Not in the message, nor in the traceback Dagster records (chained errors included).
        assert "notTheRightSecret" not in "".join(traceback.format_exception(error))
