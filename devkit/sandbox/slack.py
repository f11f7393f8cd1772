"""Slack incoming-webhook emulator. The webhook URL's path is the secret: any other
path answers 404 `no_service`, as Slack does. Accepted messages are recorded."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

from .base import Api, Request, Response, route


class SlackApi(Api):
    name = "slack"

    def __init__(self, control, clock, *, webhook_path: str):
        super().__init__(control, clock)
        self.webhook_path = webhook_path

    def load(self, data_dir: Path | None) -> None:
        pass  # nothing to serve: Slack is write-only for the platform

    def error(self, status, message, code=None, retry_after=None, **extra) -> Response:
        # Webhook errors are short plain-text codes.
        text = code or {400: "invalid_payload", 403: "invalid_token", 404: "no_service", 410: "channel_is_archived",
                        429: "rate_limited"}.get(status, "internal_error")
        return Response.text(text, status, content_type="text/html",
                             headers=self.retry_after_header(status, retry_after))

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

    def objects(self) -> list[str]:
        return []
