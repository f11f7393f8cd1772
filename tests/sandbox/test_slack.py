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
