"""Slack incoming-webhook connection (the URL is a secret)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import requests

from cs_platform.resources.http import SourceAuthError, SourceError, retrying_session


class SlackResource(dg.ConfigurableResource):
    webhook_url: str

    def post(self, text: str, blocks: Sequence[dict] | None = None) -> None:
        """Post one message. Slack answers 200 `ok`; anything else raises.

        The webhook URL is the credential, so no error raised here carries it:
        not the URL, not its path (requests and urllib3 put both in their
        exception messages, hence the translation below)."""
        payload: dict[str, object] = {"text": text}
        if blocks:
            payload["blocks"] = list(blocks)
        try:
            response = retrying_session().post(self.webhook_url, json=payload, timeout=30)
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
