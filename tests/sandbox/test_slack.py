"""Slack incoming-webhook emulator over real HTTP with requests."""

from __future__ import annotations


def test_webhook_accepts_and_records_messages(sandbox, http):
    url = sandbox.env()["SLACK_WEBHOOK_URL"]
    message = {"text": "Acme is at risk", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme*"}}]}
    response = http.post(url, json=message)
    assert (response.status_code, response.text) == (200, "ok")
    [write] = sandbox.writes("slack")
    assert write["records"] == [message]


def test_webhook_errors(sandbox, http):
    url = sandbox.env()["SLACK_WEBHOOK_URL"]
    bad_json = http.post(url, data="{not json", headers={"Content-Type": "application/json"})
    assert (bad_json.status_code, bad_json.text) == (400, "invalid_payload")
    no_text = http.post(url, json={"username": "bot"})
    assert (no_text.status_code, no_text.text) == (400, "no_text")
    wrong_secret = http.post(sandbox.urls["slack"] + "/services/T0/B0/guess", json={"text": "hi"})
    assert (wrong_secret.status_code, wrong_secret.text) == (404, "no_service")
    assert sandbox.writes("slack") == []


def test_injected_faults_answer_in_each_surface_s_format(sandbox, http):
    """One server, two surfaces: the webhook's faults are plain-text codes, the Web API's
    JSON with ok false; a 429 carries Retry-After on both."""
    env = sandbox.env()
    sandbox.add_fault(route="/services/", sequence=[429], retry_after=2)
    sandbox.add_fault(route="chat.postMessage", sequence=[429, 503], retry_after=2)
    hook = http.post(env["SLACK_WEBHOOK_URL"], json={"text": "hi"})
    assert (hook.status_code, hook.text, hook.headers["Retry-After"]) == (429, "rate_limited", "2")
    auth = {"Authorization": f"Bearer {env['SLACK_BOT_TOKEN']}"}
    api = http.post(env["SLACK_API_URL"] + "/chat.postMessage", json={"channel": "cs-alerts", "text": "hi"},
                    headers=auth)
    assert (api.status_code, api.json(), api.headers["Retry-After"]) == (429, {"ok": False, "error": "ratelimited"},
                                                                         "2")
    unavailable = http.post(env["SLACK_API_URL"] + "/chat.postMessage", json={"channel": "cs-alerts", "text": "hi"},
                            headers=auth)
    assert unavailable.status_code == 503 and unavailable.json()["ok"] is False
    assert sandbox.writes("slack") == []
    assert http.post(env["SLACK_WEBHOOK_URL"], json={"text": "hi"}).text == "ok"
    assert [w["object"] for w in sandbox.writes("slack")] == ["webhook"]
