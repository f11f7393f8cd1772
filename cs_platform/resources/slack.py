"""Slack connections: the incoming webhook (one channel; the URL is a secret) and the
Web API with a bot token (any channel, DM or user the app may reach), and the escaping
every message that carries data needs.

Slack reads `<...>` in message text as markup: `<!channel>` pings everyone in the
channel, `<url|text>` is a link, `<@U123>` a mention. Its rules
(https://api.slack.com/reference/surfaces/formatting#escaping): `&`, `<` and `>`
in text are written `&amp;`, `&lt;` and `&gt;`. The platform's own markup (the
links it builds, `*bold*` labels) is written as is; every value that comes from
data or from the run (asset keys, partition and file names, check descriptions,
error messages) goes through `slack_escape` first, or through `slack_code` /
`slack_link`, which escape what they wrap.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import requests
from pydantic import PrivateAttr

from cs_platform.resources.http import (
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    RETRY_STATUSES,
    SourceAuthError,
    SourceError,
    retrying_session,
)

SLACK_API_URL = "https://slack.com/api"

# Web API errors that are about the token or the app's grants, not about the call
# (https://api.slack.com/web#errors, https://api.slack.com/methods/chat.postMessage#errors):
# the fix is in SLACK_BOT_TOKEN or the app's configuration.
AUTH_ERRORS = frozenset({"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired",
                         "missing_scope", "no_permission", "not_allowed_token_type", "ekm_access_denied"})
# What to do about the refusals a routed message meets.
_HINTS = {
    "channel_not_found": "check the channel name or ID; a private channel must have the app invited",
    "not_in_channel": "invite the app to the channel (/invite @app) or route the play elsewhere",
    "is_archived": "the channel is archived: unarchive it or route the play elsewhere",
    "msg_too_long": "the text is over Slack's 40,000 characters: shorten it or split it (a digest per recipient)",
    "no_text": "the message has neither text nor blocks",
    "invalid_blocks": "Block Kit refused the blocks: at most 50, a section's text up to 3,000 characters",
    "invalid_blocks_format": "blocks must be a JSON array of block objects",
    "too_many_attachments": "at most 100 attachments",
    "users_not_found": "no Slack user has that email",
}


def slack_escape(value: object) -> str:
    """`value` as Slack message text that shows literally: `&`, `<`, `>` escaped
    (`&` first, so the `&` of `&lt;` is not escaped again)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(value: object) -> str:
    """`value` as inline code, escaped as well (so it shows literally whatever Slack
    makes of `<...>` inside code). A backtick in the value would end the code span,
    so it becomes `'`."""
    return "`" + slack_escape(value).replace("`", "'") + "`"


def slack_link(url: str, label: object) -> str:
    """A link the platform builds. The label is escaped; so is the URL, whose `|` or
    `>` would otherwise end it (Slack reads `&amp;` in a URL as `&`)."""
    return f"<{slack_escape(url).replace('|', '%7C')}|{slack_escape(label)}>"


class SlackApiError(SourceError):
    """Slack's Web API refused a call (`{"ok": false, "error": ...}`). `error` is Slack's
    code (channel_not_found, not_in_channel, ...); `channel` the conversation asked for."""

    def __init__(self, message: str, *, error: str, channel: str | None = None, status: int | None = 200,
                 body: str | None = None):
        super().__init__(message, status, body)
        self.error = error
        self.channel = channel


class SlackAuthError(SourceAuthError):
    """Slack refused the bot token or its scopes: `error` is Slack's code."""

    def __init__(self, message: str, *, error: str, status: int | None = 200, body: str | None = None):
        super().__init__(message, status, body)
        self.error = error


class SlackResource(dg.ConfigurableResource):
    """Slack through the incoming webhook (`post`: the platform's own alerts, to the one
    channel the webhook was made for) and the Web API with a bot token (`post_message`:
    a channel by name or ID, or a user's DM; `lookup_user_by_email`: who a CRM owner is
    in Slack), so plays can route each message to its recipient."""

    webhook_url: str = ""
    bot_token: str = ""
    api_url: str = SLACK_API_URL  # the sandbox sets its own
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS  # a longer asked wait fails the call
    timeout_seconds: float = 30.0
    retry_backoff_seconds: float = 0.5  # the first retry's wait after a 5xx (doubling); tests shorten it

    _session: requests.Session | None = PrivateAttr(default=None)
    _users_by_email: dict[str, str | None] = PrivateAttr(default_factory=dict)

    @property
    def has_webhook(self) -> bool:
        """Whether `post` can send (a webhook URL is set)."""
        return bool(self.webhook_url)

    @property
    def has_web_api(self) -> bool:
        """Whether per-recipient routing is possible (a bot token is set)."""
        return bool(self.bot_token)

    def post(self, text: str, blocks: Sequence[dict] | None = None) -> None:
        """Post one message. Slack answers 200 `ok`; anything else raises.

        The webhook URL is the credential, so no error raised here carries it:
        not the URL, not its path (requests and urllib3 put both in their
        exception messages, hence the translation below)."""
        if not self.webhook_url:
            raise SourceError("Slack webhook not configured: set SLACK_WEBHOOK_URL")
        payload: dict[str, object] = {"text": text}
        if blocks:
            payload["blocks"] = list(blocks)
        try:
            # The webhook path is the secret: a refused Retry-After names the API, never the path.
            response = retrying_session(source="Slack", show_path=False).post(self.webhook_url, json=payload,
                                                                              timeout=30)
        except requests.RequestException as error:
            raise SourceError(f"Slack webhook unreachable ({type(error).__name__}); "
                              "check SLACK_WEBHOOK_URL and the network") from None
        if response.status_code == 200 and response.text.strip() == "ok":
            return
        detail = f"Slack webhook answered {response.status_code} {response.text[:200]!r}"
        if response.status_code in (401, 403, 404, 410):
            # 403 forbidden, 404 no_service / channel_not_found, 410 channel_is_archived
            raise SourceAuthError(f"{detail}: check SLACK_WEBHOOK_URL")
        raise SourceError(detail)

    # ------------------------------------------------------------------ Web API
    def post_message(self, channel: str, text: str, blocks: list | None = None) -> dict:
        """Post one message with chat.postMessage (https://api.slack.com/methods/chat.postMessage)
        to `channel`: a channel ID (`C...`), a name (`cs-alerts` or `#cs-alerts`), or a user
        ID (`U...`: the app's DM with that user). `text` is the message, or the notification
        fallback when `blocks` are given. Returns {"channel": the conversation's ID (`D...`
        for a DM), "ts": the message's timestamp}.

        Slack answers refusals with HTTP 200 and ok false: a token or scope problem raises
        SlackAuthError (a SourceAuthError), anything else SlackApiError (a SourceError)
        naming the channel and Slack's code. Throttling (about one message a second per
        channel, https://api.slack.com/docs/rate-limits) is a 429 whose Retry-After the
        session waits out, as it retries 5xx; a 5xx after Slack took the message can make
        that retry post it twice, which Slack offers no idempotency key to prevent."""
        body: dict[str, object] = {"channel": channel, "text": text}
        if blocks:
            body["blocks"] = list(blocks)
        answer = self._call("chat.postMessage", json_body=body, channel=channel)
        return {"channel": answer["channel"], "ts": answer["ts"]}

    def lookup_user_by_email(self, email: str) -> str | None:
        """The Slack user ID of the member with this email (users.lookupByEmail,
        https://api.slack.com/methods/users.lookupByEmail; scope users:read.email), or None
        when there is none (`users_not_found`) or the account is deactivated (it reads no
        DMs). Answers are cached for the life of this resource: a run asks once per owner."""
        key = email.strip().lower()
        if key not in self._users_by_email:
            try:
                answer = self._call("users.lookupByEmail", form={"email": email.strip()})
            except SlackApiError as error:
                if error.error != "users_not_found":
                    raise
                self._users_by_email[key] = None
            else:
                user = answer.get("user") or {}
                self._users_by_email[key] = None if user.get("deleted") else user.get("id")
        return self._users_by_email[key]

    def _call(self, method: str, *, json_body: dict | None = None, form: dict | None = None,
              channel: str | None = None) -> dict:
        """One Web API call; its answer when ok, else the error it deserves. The token
        travels in the Authorization header only, and no message raised here carries it."""
        if not self.bot_token:
            raise SourceAuthError(f"Slack {method} needs a bot token: set SLACK_BOT_TOKEN")
        target = f" to channel {channel!r}" if channel is not None else ""
        url = f"{self.api_url.rstrip('/')}/{method}"
        try:
            if json_body is not None:
                # The charset, or Slack warns `missing_charset` (https://api.slack.com/web#posting_json).
                response = self._web_session().post(url, json=json_body, timeout=self.timeout_seconds,
                                                    headers={"Content-Type": "application/json; charset=utf-8"})
            else:
                response = self._web_session().post(url, data=form, timeout=self.timeout_seconds)
        except requests.RequestException as error:
            raise SourceError(f"Slack {method}{target}: Slack unreachable ({type(error).__name__}); "
                              "check SLACK_API_URL and the network") from None
        text = self._scrub(response.text[:300])
        if response.status_code != 200:
            retried = " after retries" if response.status_code in RETRY_STATUSES else ""
            raise SourceError(f"Slack {method}{target} failed{retried}: HTTP {response.status_code} {text!r}",
                              response.status_code, text)
        try:
            answer = response.json()
        except ValueError:
            raise SourceError(f"Slack {method}{target}: the answer is not JSON: {text!r}", 200, text) from None
        if not isinstance(answer, dict):
            raise SourceError(f"Slack {method}{target}: unexpected answer {text!r}", 200, text)
        warnings = (answer.get("response_metadata") or {}).get("warnings")
        if answer.get("ok") is True:
            if warnings:
                dg.get_dagster_logger().warning("Slack %s%s warned: %s", method, target, ", ".join(warnings))
            return answer
        error = str(answer.get("error") or "unknown_error")
        details = self._details(answer)
        if error in AUTH_ERRORS:
            needed = f" (needs scope {answer['needed']})" if answer.get("needed") else ""
            raise SlackAuthError(f"Slack refused {method}{target}: {error}{needed}{details}; check SLACK_BOT_TOKEN "
                                 "and the app's scopes", error=error, body=text)
        hint = f"; {_HINTS[error]}" if error in _HINTS else ""
        raise SlackApiError(f"Slack refused {method}{target}: {error}{details}{hint}", error=error, channel=channel,
                            body=text)

    def _details(self, answer: dict) -> str:
        """Slack's own explanation of a refusal (Block Kit's `errors`, response_metadata
        messages), shortened."""
        messages = list(answer.get("errors") or []) or list((answer.get("response_metadata") or {}).get("messages")
                                                            or [])
        if not messages:
            return ""
        shown = "; ".join(str(m) for m in messages[:3]) + ("; ..." if len(messages) > 3 else "")
        return f": {self._scrub(shown)[:500]}"

    def _scrub(self, text: str) -> str:
        # Slack does not echo the token, but an intermediary's error page might.
        return text.replace(self.bot_token, "<SLACK_BOT_TOKEN>") if self.bot_token else text

    def _web_session(self) -> requests.Session:
        # One session per resource: its connection pool is reused from message to message.
        if self._session is None:
            session = retrying_session(source="Slack", backoff_factor=self.retry_backoff_seconds,
                                       max_retry_after_seconds=self.max_retry_after_seconds)
            session.headers["Authorization"] = f"Bearer {self.bot_token}"
            self._session = session
        return self._session
