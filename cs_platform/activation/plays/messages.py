"""What a play's Slack messages say, who gets them, and how they are posted.

A message names the account (linked to its report page), the segment it entered
and why (the segment's `detail`), both scores with bands and the 28-day change,
the component that fell most, the renewal date, the suggested next step, and a
link to the Salesforce record. Every value from data is escaped (`slack_escape`),
so an account called `<!channel>` pings nobody.

Recipients are recorded as the route asked for them (`#channel`, `owner:<email>`,
`lead:<email>`) and resolved when the message goes: a Slack user found by email
gets a DM (chat.postMessage to the user ID); nobody found, or a workspace with
only an incoming webhook, sends it to the play's channel, saying for whom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cs_platform.activation.plays.component import Play
from cs_platform.resources.slack import slack_escape, slack_link
from cs_platform.values import is_missing

MAX_DIGEST_LINES = 40  # accounts listed in one digest message; the rest are counted


def _v(row: Mapping, *names: str):
    for name in names:
        value = row.get(name)
        if not is_missing(value):
            return value
    return None


def _score(row: Mapping, label: str, score: str, band: str, change: str | None = None) -> str | None:
    value = _v(row, score)
    if value is None:
        return None
    parts = [slack_escape(_v(row, band) or "no band")]
    if change and (delta := _v(row, change)) is not None:
        parts.append(f"{float(delta):+.0f} in 28 days")
    return f"{label} {float(value):.0f} ({', '.join(parts)})"


def account_label(row: Mapping) -> str:
    name = _v(row, "account_name") or _v(row, "account_id")
    url = _v(row, "report_url")
    return slack_link(url, name) if url else f"*{slack_escape(name)}*"


def text_for(play: Play, row: Mapping, event: str) -> str:
    """The message for one account (also what the firing records as sent)."""
    segment = slack_escape(_v(row, "segment_name") or play.segment)
    title = slack_escape(play.name.replace("_", " "))
    if event == "exited":
        since = _v(row, "entered_on")
        return (f"*{title}*: {account_label(row)} left _{segment}_"
                + (f" (in it since {slack_escape(since)})" if since else "") + ".")
    lines = [f"*{title}*: {account_label(row)} entered _{segment}_"]
    if detail := _v(row, "detail"):
        lines.append(slack_escape(detail))
    facts = [_score(row, "Usage health", "usage_health_score", "usage_health_band", "usage_health_change_28d"),
             _score(row, "Renewal likelihood", "renewal_likelihood_score", "renewal_likelihood_band")]
    if falling := _v(row, "usage_health_top_dropping_component", "top_dropping_component"):
        facts.append(f"falling most: {slack_escape(falling)}")
    if renewal := _v(row, "renewal_date"):
        days = _v(row, "days_until_renewal")
        facts.append(f"renews {slack_escape(str(renewal)[:10])}" + (f" (in {int(days)} days)" if days is not None
                                                                   else ""))
    if facts := [f for f in facts if f]:
        lines.append(" · ".join(facts))
    if action := _v(row, "recommended_action"):
        lines.append(f"Next step: {slack_escape(action)}")
    links = []
    if url := _v(row, "salesforce_url"):
        links.append(slack_link(url, "Salesforce record"))
    if owner := _v(row, "owner_name"):
        links.append(f"owner {slack_escape(owner)}")
    if links:
        lines.append(" · ".join(links))
    return "\n".join(lines)


def recipient_of(play: Play, row: Mapping, event: str) -> str:
    """The recipient as the play's route asks for it; resolved when the message goes."""
    route = play.slack.route if play.slack else "channel"
    if route == "owner" and (email := _v(row, "owner_email")):
        return f"owner:{email}"
    if route == "owner_lead" and (email := _v(row, "owner_lead_email")):
        return f"lead:{email}"
    return f"#{play.slack.channel.lstrip('#')}" if play.slack else "#"


def group(play: Play, owed: Sequence[dict]) -> list[tuple[str, list[dict]]]:
    """Messages to post: one per firing, or one per recipient (digest)."""
    if play.slack is None or play.slack.delivery == "single":
        return [(r["recipient"], [r]) for r in owed]
    by_recipient: dict[str, list[dict]] = {}
    for r in owed:
        by_recipient.setdefault(r["recipient"], []).append(r)
    return sorted(by_recipient.items())


def address(slack, play: Play, recipient: str, rows: Sequence[dict]) -> tuple[str | None, str]:
    """(channel or user ID to post to, or None for the webhook; the text)."""
    channel = play.slack.channel if play.slack else None
    note = ""
    target: str | None = channel
    if recipient.startswith(("owner:", "lead:")):
        email = recipient.split(":", 1)[1]
        user = slack.lookup_user_by_email(email) if getattr(slack, "bot_token", "") else None
        if user:
            target = user
        else:
            note = f"_For {slack_escape(email)} (no Slack user found for this email)_\n"
    if not getattr(slack, "bot_token", ""):
        target = None  # an incoming webhook posts to its own channel
    if len(rows) == 1:
        return target, note + rows[0]["message"]
    title = slack_escape(play.name.replace("_", " "))
    lines = [f"{note}*{title}*: {len(rows)} accounts"]
    for r in rows[:MAX_DIGEST_LINES]:
        lines.append("• " + r["message"].replace("\n", "\n   "))
    if len(rows) > MAX_DIGEST_LINES:
        lines.append(f"…and {len(rows) - MAX_DIGEST_LINES} more")
    return target, "\n".join(lines)


def post(slack, target: str | None, text: str) -> dict:
    """Post; returns {"recipient", "ts"} (the webhook answers no ts)."""
    if target is None:
        slack.post(text)
        return {"recipient": "webhook", "ts": None}
    answer = slack.post_message(target, text)
    return {"recipient": answer.get("channel") or target, "ts": answer.get("ts")}
