"""Slack incoming-webhook connection (the URL is a secret), and the escaping every
message that carries data needs.

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

from cs_platform.resources.http import SourceAuthError, SourceError, retrying_session


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
