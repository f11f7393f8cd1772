"""Slack emulator: the incoming webhook and the Web API methods the platform calls
(`chat.postMessage`, `users.lookupByEmail`), on one server. Accepted messages are recorded.

Webhook: the URL's path is the secret; any other path answers 404 `no_service`, as
Slack does.

Web API (https://api.slack.com/web): `POST /api/<method>`, token in an
`Authorization: Bearer` header or, for form-encoded bodies and query strings, a
`token` argument (a JSON body's `token` is not read: Slack takes JSON bodies only
with the header, https://api.slack.com/web#posting_json). Failures are HTTP 200
with `{"ok": false, "error": "<code>"}`; throttling is HTTP 429 with Retry-After.

The workspace: one Slack user per Salesforce User of the loaded sample data (same
email; deactivated when the User is inactive), and the channels in `CHANNELS`. Posting
to a user ID opens the app's DM with that user (the answer names the DM, `D...`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from .base import Api, BadRequest, Request, Response, route
from .store import read_jsonl

TEAM_ID = "T00SANDBOX"
BOT_USER_ID = "U0SANDBOT1"
BOT_ID = "B0SANDBOT1"
APP_ID = "A0SANDBOX1"

# name -> (id, the bot is a member, archived). A bot can post only to channels it is in
# (not_in_channel) and to no archived channel (is_archived).
CHANNELS: dict[str, tuple[str, bool, bool]] = {
    "cs-alerts": ("C0CSALERTS", True, False),
    "cs-team": ("C0CSTEAM01", True, False),
    "cs-leads": ("C0CSLEADS1", True, False),
    "cs-archived": ("C0CSARCHIV", True, True),
    "general": ("C0GENERAL1", False, False),
}

# Limits of chat.postMessage (https://api.slack.com/methods/chat.postMessage):
# - text: Slack documents truncating past 40,000 characters
#   (https://api.slack.com/changelog/2018-04-truncating-really-long-messages), but posts
#   that long now come back `msg_too_long` (slackapi maintainer, 2024:
#   https://github.com/seratch/ChatGPT-in-Slack/issues/102); the sandbox refuses them, so a
#   client must not count on truncation.
# - blocks: "up to 50 blocks in each message" (https://api.slack.com/reference/block-kit/blocks);
#   a section's text at most 3,000 characters, a header's 150
#   (https://api.slack.com/reference/block-kit/blocks#section, #header).
# - attachments: at most 100 (`too_many_attachments`).
MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
MAX_ATTACHMENTS = 100
MAX_SECTION_TEXT = 3_000
MAX_HEADER_TEXT = 150
MAX_BLOCK_ID = 255
BLOCK_TYPES = {"actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text",
               "section", "video"}

# Posting: "1 per second [per channel]. Short bursts >1 allowed"
# (https://api.slack.com/docs/rate-limits). Measured from outside it behaves like a
# leaky bucket (https://github.com/RamblingCookieMonster/PSSlack/issues/52) whose 429s
# ask for about 1 s (Retry-After). The sandbox keeps a bucket per channel on its own
# monotonic clock: `burst` messages at once, refilled at `rate` a second; a post that
# finds it empty answers 429 with the whole seconds until the next slot. The default
# burst is small on purpose, so a client that does not honour Retry-After fails here.
DEFAULT_CHANNEL_BURST = 3
DEFAULT_CHANNEL_RATE = 1.0

# The webhook's plain-text error codes (https://api.slack.com/messaging/webhooks#handling_errors).
_WEBHOOK_ERRORS = {400: "invalid_payload", 403: "invalid_token", 404: "no_service", 410: "channel_is_archived",
                   429: "rate_limited"}


class SlackApi(Api):
    name = "slack"

    def __init__(self, control, clock, *, webhook_path: str, bot_token: str,
                 channel_burst: int = DEFAULT_CHANNEL_BURST, channel_rate: float = DEFAULT_CHANNEL_RATE,
                 monotonic: Callable[[], float] = time.monotonic):
        super().__init__(control, clock)
        self.webhook_path = webhook_path
        self.bot_token = bot_token
        if channel_burst < 0 or channel_rate <= 0:
            raise ValueError("slack channel_burst must be >= 0 (0: no limit) and channel_rate > 0")
        self.channel_burst = channel_burst
        self.channel_rate = channel_rate
        self.monotonic = monotonic  # the rate limit's clock; tests may replace it
        self._local = threading.local()
        self.users: dict[str, dict] = {}  # Slack user id -> user object
        self.channels: dict[str, dict] = {}  # channel id -> {id, name, is_member, is_archived}
        self.dms: dict[str, str] = {}  # the app's open DMs: user id -> D... id
        self._buckets: dict[str, tuple[float, float]] = {}  # conversation id -> (tokens, at)
        self._seq = 0

    # ------------------------------------------------------------------ data
    def load(self, data_dir: Path | None) -> None:
        self.users.clear()
        self.dms.clear()
        self._buckets.clear()
        self._seq = 0
        path = data_dir / "salesforce" / "User.jsonl" if data_dir else None
        for n, person in enumerate(read_jsonl(path) if path else (), start=1):
            if not person.get("Email"):
                continue  # no email, no Slack account to match it to
            self._add_user(f"U{n:08d}", person["Email"], person.get("Name") or person["Email"],
                           title=person.get("Title") or "", deleted=person.get("IsActive") is False)
        self.channels = {cid: {"id": cid, "name": name, "is_member": member, "is_archived": archived}
                         for name, (cid, member, archived) in CHANNELS.items()}

    def _add_user(self, user_id: str, email: str, real_name: str, *, title: str = "", deleted: bool = False) -> dict:
        user = {"id": user_id, "team_id": TEAM_ID, "name": email.split("@")[0], "real_name": real_name,
                "deleted": deleted, "is_bot": False, "is_app_user": False,
                "profile": {"email": email, "real_name": real_name, "display_name": real_name, "title": title}}
        self.users[user_id] = user
        return user

    def objects(self) -> list[str]:
        return ["users", "channels"]

    def dump(self, object: str, key: str | None = None) -> list[dict]:
        table = self._table(object)
        rows = list(table.values()) if key is None else [table[key]] if key in table else []
        return json.loads(json.dumps(rows))

    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        """Change the workspace as an admin would: `channels` insert {name, is_member,
        is_archived} or update {id | name, ...}; `users` insert {email, real_name} or
        update {id, deleted}."""
        table = self._table(object)
        changed = []
        for record in records:
            if object == "channels":
                row = self._find_channel(record)
                if op == "insert":
                    if row is not None or not record.get("name"):
                        raise BadRequest(f"slack channel insert needs a new name: {record}")
                    cid = record.get("id") or f"C0NEW{len(self.channels) + 1:05d}"
                    row = table[cid] = {"id": cid, "name": record["name"], "is_member": True, "is_archived": False}
                elif op != "update" or row is None:
                    raise BadRequest(f"slack channels: op {op!r} on {record} (ops: insert, update of a known channel)")
                row.update({k: bool(record[k]) for k in ("is_member", "is_archived") if k in record})
            else:
                if op == "insert":
                    if not record.get("email"):
                        raise BadRequest(f"slack user insert needs an email: {record}")
                    row = self._add_user(record.get("id") or f"U9{len(self.users) + 1:07d}", record["email"],
                                         record.get("real_name") or record["email"])
                elif op == "update" and record.get("id") in table:
                    row = table[record["id"]]
                    if "deleted" in record:
                        row["deleted"] = bool(record["deleted"])
                else:
                    raise BadRequest(f"slack users: op {op!r} on {record} (ops: insert, update by id)")
            changed.append(json.loads(json.dumps(row)))
        return changed

    def _table(self, object: str) -> dict[str, dict]:
        if object == "users":
            return self.users
        if object == "channels":
            return self.channels
        raise BadRequest(f"slack has no object {object!r}; known: {self.objects()}")

    def _find_channel(self, record: dict) -> dict | None:
        if record.get("id") in self.channels:
            return self.channels[record["id"]]
        return next((c for c in self.channels.values() if c["name"] == record.get("name")), None)

    # ------------------------------------------------------------------ wire format
    def handle(self, request: Request) -> Response:
        # The error format depends on the surface: the webhook answers short plain-text
        # codes, the Web API JSON. error() has no request, so the surface is noted here.
        self._local.web_api = request.path.startswith("/api/")
        return super().handle(request)

    def error(self, status, message, code=None, retry_after=None, **extra) -> Response:
        headers = self.retry_after_header(status, retry_after)
        if getattr(self._local, "web_api", False):
            code = code if code and code.islower() else {
                404: "unknown_method", 405: "invalid_request", 429: "ratelimited"}.get(
                status, "internal_error" if status >= 500 else "invalid_request")
            return Response.json({"ok": False, "error": code, **extra}, status, headers)
        text = code or _WEBHOOK_ERRORS.get(status, "internal_error")
        return Response.text(text, status, content_type="text/html", headers=headers)

    def authenticate(self, request: Request) -> Response | None:
        if not request.path.startswith("/api/"):
            return None  # the webhook's secret is its path
        header = request.headers.get("Authorization") or ""
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else None
        if token is None:
            form = self._form(request)
            token = (form or {}).get("token") or request.arg("token")
        if not token:
            return self.refuse("not_authed")
        if token != self.bot_token:
            return self.refuse("invalid_auth")
        return None

    @staticmethod
    def refuse(error: str, **extra: Any) -> Response:
        """A Web API failure: HTTP 200 with ok false, as Slack answers them."""
        return Response.json({"ok": False, "error": error, **extra})

    # ------------------------------------------------------------------ webhook
    @route("POST", r"/services/(?P<hook>.+)", "POST /services/<webhook>")
    def webhook(self, request: Request) -> Response:
        if "/services/" + request.params["hook"] != self.webhook_path:
            return self.error(404, "no_service", "no_service")
        payload = self._payload(request)
        if not isinstance(payload, dict):
            return self.error(400, "invalid_payload", "invalid_payload")
        blocks = payload.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            return self.error(400, "invalid_blocks", "invalid_blocks")
        if not payload.get("text") and not blocks:
            return self.error(400, "no_text", "no_text")
        self.control.record_write(self.name, request, object="webhook", operation="post", records=[payload])
        return Response.text("ok", 200, content_type="text/html")

    @staticmethod
    def _payload(request: Request):
        content_type = (request.headers.get("Content-Type") or "").lower()
        text = request.body.decode("utf-8", "replace")
        if "application/x-www-form-urlencoded" in content_type:
            values = parse_qs(text).get("payload")
            if not values:
                return None
            text = values[0]
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return None

    # ------------------------------------------------------------------ Web API
    @staticmethod
    def _form(request: Request) -> dict[str, str] | None:
        """The arguments of a form-encoded body (None: not a form body)."""
        content_type = (request.headers.get("Content-Type") or "").lower()
        if request.method != "POST" or "application/x-www-form-urlencoded" not in content_type:
            return None
        parsed = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[-1] for name, values in parsed.items()}

    def _arguments(self, request: Request, *, json_allowed: bool) -> tuple[dict[str, Any], list[str]] | Response:
        """(arguments, warnings) from the query string and the body, or the refusal.

        Content types as https://api.slack.com/web#posting: form-encoded always; JSON
        only where the method lists it (its arguments are otherwise not read); a body
        without a Content-Type is `missing_post_type`. JSON without a charset is read
        but warned about (`missing_charset`)."""
        args: dict[str, Any] = {name: values[-1] for name, values in request.query.items()}
        warnings: list[str] = []
        if request.method != "POST" or not request.body:
            return args, warnings
        content_type = (request.headers.get("Content-Type") or "").lower()
        if not content_type:
            return self.refuse("missing_post_type")
        if "application/x-www-form-urlencoded" in content_type:
            args.update(self._form(request) or {})
        elif "application/json" in content_type:
            if json_allowed:
                try:
                    body = json.loads(request.body)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return self.refuse("invalid_json")
                if not isinstance(body, dict):
                    return self.refuse("json_not_object")
                body.pop("token", None)  # never read from a JSON body
                args.update(body)
                if "charset" not in content_type:
                    warnings.append("missing_charset")
        else:
            return self.refuse("invalid_post_type")
        return args, warnings

    @staticmethod
    def _answer(payload: dict, warnings: list[str]) -> Response:
        if warnings:
            payload["warning"] = ",".join(warnings)
            payload["response_metadata"] = {"warnings": warnings}
        return Response.json(payload)

    @route("POST", r"/api/chat\.postMessage", "POST /api/chat.postMessage")
    def post_message(self, request: Request) -> Response:
        parsed = self._arguments(request, json_allowed=True)
        if isinstance(parsed, Response):
            return parsed
        args, warnings = parsed
        target = args.get("channel")
        conversation = self._conversation(target) if isinstance(target, str) else None
        if conversation is None:
            return self.refuse("channel_not_found")

        text = args.get("text")
        if text is not None and not isinstance(text, str):
            if isinstance(text, (dict, list)):
                return self.refuse("invalid_arguments")
            text = str(text)
        blocks = self._json_argument(args.get("blocks"))
        if blocks is _INVALID or (blocks is not None and not isinstance(blocks, list)):
            return self.refuse("invalid_blocks_format")
        attachments = self._json_argument(args.get("attachments"))
        if attachments is _INVALID or (attachments is not None and not isinstance(attachments, list)):
            return self.refuse("invalid_attachments")
        if not text and not blocks and not attachments:
            return self.refuse("no_text")
        if text and len(text) > MAX_TEXT_CHARS:
            return self.refuse("msg_too_long")
        if blocks:
            problems = _block_problems(blocks)
            if problems:
                return self.refuse("invalid_blocks", errors=problems,
                                   response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
        if attachments and len(attachments) > MAX_ATTACHMENTS:
            return self.refuse("too_many_attachments")
        if conversation.get("is_archived"):
            return self.refuse("is_archived")
        if not conversation.get("is_member", True):
            return self.refuse("not_in_channel")

        wait = self._throttle(conversation["id"])
        if wait is not None:
            return self.error(429, "ratelimited", "ratelimited", retry_after=wait)

        self._seq += 1
        ts = f"{int(self.clock.now().timestamp())}.{self._seq:06d}"
        message: dict[str, Any] = {"type": "message", "subtype": "bot_message", "text": text or "",
                                   "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
                                   "ts": ts}
        for name, value in (("blocks", blocks), ("attachments", attachments),
                            ("thread_ts", args.get("thread_ts"))):
            if value:
                message[name] = value
        record = {"channel": conversation["id"], "channel_name": conversation.get("name"),
                  "user": conversation.get("user"), "text": message["text"], "blocks": blocks, "ts": ts}
        self.control.record_write(self.name, request, object="message", operation="chat.postMessage",
                                  records=[record], channel=record["channel"], channel_name=record["channel_name"],
                                  user=record["user"], text=record["text"], ts=ts)
        return self._answer({"ok": True, "channel": conversation["id"], "ts": ts, "message": message}, warnings)

    @route("GET", r"/api/users\.lookupByEmail", "GET /api/users.lookupByEmail")
    def lookup_by_email_get(self, request: Request) -> Response:
        return self.lookup_by_email(request)

    @route("POST", r"/api/users\.lookupByEmail", "POST /api/users.lookupByEmail")
    def lookup_by_email(self, request: Request) -> Response:
        # https://api.slack.com/methods/users.lookupByEmail: form-encoded arguments only.
        parsed = self._arguments(request, json_allowed=False)
        if isinstance(parsed, Response):
            return parsed
        args, warnings = parsed
        email = args.get("email")
        if not email or not isinstance(email, str):
            return self.refuse("invalid_arguments", response_metadata={
                "messages": ["[ERROR] missing required field: email"]})
        wanted = email.strip().lower()
        user = next((u for u in self.users.values() if u["profile"]["email"].lower() == wanted), None)
        if user is None:
            return self.refuse("users_not_found")
        return self._answer({"ok": True, "user": json.loads(json.dumps(user))}, warnings)

    # Shorter than every method's pattern, so routed last (routes are tried longest first).
    @route("POST", r"/api/(?P<method>.*)", "POST /api/<method>")
    def unknown_method(self, request: Request) -> Response:
        return self.refuse("unknown_method", req_method=request.params.get("method", ""))

    # ------------------------------------------------------------------ helpers
    def _conversation(self, target: str) -> dict | None:
        """The conversation a `channel` argument names: a channel by ID, `name` or
        `#name`; a user ID (the app's DM with them, opened on first use); or an open DM's
        ID. Anything else (`@name` was retired) is not found."""
        value = target.strip()
        if value in self.channels:
            return self.channels[value]
        name = value[1:] if value.startswith("#") else value
        for channel in self.channels.values():
            if channel["name"] == name:
                return channel
        if value in self.users:
            user = self.users[value]
            if user["deleted"]:
                return None  # no DM opens with a deactivated account (unverified: Slack's exact code)
            dm = self.dms.setdefault(value, "D" + value[1:])
            return {"id": dm, "name": None, "user": value, "is_member": True, "is_archived": False}
        for user_id, dm in self.dms.items():
            if dm == value:
                return {"id": dm, "name": None, "user": user_id, "is_member": True, "is_archived": False}
        return None

    def _throttle(self, conversation_id: str) -> float | None:
        """None when a message may go to the conversation now (a slot is taken), else
        the seconds until the next slot frees."""
        if not self.channel_burst:
            return None
        now = self.monotonic()
        tokens, at = self._buckets.get(conversation_id, (float(self.channel_burst), now))
        tokens = min(float(self.channel_burst), tokens + (now - at) * self.channel_rate)
        if tokens >= 1.0:
            self._buckets[conversation_id] = (tokens - 1.0, now)
            return None
        self._buckets[conversation_id] = (tokens, now)
        return max(1.0, math.ceil((1.0 - tokens) / self.channel_rate))

    @staticmethod
    def _json_argument(value: Any) -> Any:
        """A structured argument: as given in a JSON body, JSON-decoded from a form field."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return _INVALID
        return value


_INVALID = object()


def _block_problems(blocks: list) -> list[str]:
    """What Slack's Block Kit validation would name, as `invalid_blocks` errors do
    ("... [json-pointer:/blocks/0/text/text]")."""
    if len(blocks) > MAX_BLOCKS:
        return [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    problems: list[str] = []
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            problems.append(f"unsupported type: {block.get('type') if isinstance(block, dict) else block!r} "
                            f"[json-pointer:{where}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID or block_id in block_ids:
                problems.append(f"block_id must be unique and at most {MAX_BLOCK_ID} characters "
                                f"[json-pointer:{where}/block_id]")
            block_ids.add(str(block_id))
        kind = block["type"]
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                problems.append(f"must provide either text or fields [json-pointer:{where}]")
            if text is not None:
                problems += _text_problems(text, f"{where}/text", MAX_SECTION_TEXT)
        elif kind == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                problems.append(f"must be a plain_text text object [json-pointer:{where}/text]")
            else:
                problems += _text_problems(text, f"{where}/text", MAX_HEADER_TEXT)
        elif kind == "context" and not block.get("elements"):
            problems.append(f"must provide elements [json-pointer:{where}/elements]")
    return problems


def _text_problems(text: Any, where: str, limit: int) -> list[str]:
    if not isinstance(text, dict) or text.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a text object of type plain_text or mrkdwn [json-pointer:{where}]"]
    body = text.get("text")
    if not isinstance(body, str) or not body:
        return [f"must be a non-empty string [json-pointer:{where}/text]"]
    if len(body) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []
