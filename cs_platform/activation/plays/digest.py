"""The morning digest: one Slack message for the CS team channel with what changed
since the previous day of data, so the team's morning review needs one message:

- accounts that entered or left each segment,
- scores whose band got worse that day (`health_score_changes`),
- new usage anomalies (`usage_anomalies`, first day of the anomaly),
- renewals entering the 90-day window (`account_360`).

Segment membership has no history in the marts (they hold the current state), so
the digest keeps one itself: `plays.segment_membership`, the members of every
segment per day of data, and compares the day with the latest earlier one. A digest
is posted once per day of data (`plays.digest_runs`); a rerun the same day posts
nothing new, and a failed post is tried again on the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from cs_platform.activation.plays.engine import SCHEMA, data_day
from cs_platform.activation.state import utcnow
from cs_platform.resources.slack import slack_escape
from cs_platform.resources.warehouse import Warehouse, Write

MEMBERSHIP_TABLE = f"{SCHEMA}.segment_membership"
DIGEST_RUNS_TABLE = f"{SCHEMA}.digest_runs"
MEMBERSHIP_COLUMNS = {"as_of_date": "date", "segment_key": "string", "account_id": "string",
                      "account_name": "string"}
DIGEST_COLUMNS = {"as_of_date": "date", "posted_at": "timestamp", "channel": "string", "ts": "string",
                  "text": "string"}
RENEWAL_WINDOW_DAYS = 90
MAX_NAMES = 8  # accounts named per line; the rest are counted


@dataclass
class Digest:
    as_of: date
    compared_with: date | None
    entered: dict[str, list[str]] = field(default_factory=dict)  # segment -> account names
    left: dict[str, list[str]] = field(default_factory=dict)
    worse_bands: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    renewals: list[str] = field(default_factory=list)
    posted: bool = False
    already_posted: bool = False
    text: str = ""


def _names(names: list[str]) -> str:
    shown = ", ".join(slack_escape(n) for n in names[:MAX_NAMES])
    return shown + (f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")


def render(d: Digest) -> str:
    since = f"since {d.compared_with}" if d.compared_with else "(first digest: no earlier day to compare)"
    lines = [f"*Customer success, {d.as_of}*: what changed {since}"]
    for label, by_segment in (("entered", d.entered), ("left", d.left)):
        for segment, names in sorted(by_segment.items()):
            lines.append(f"• {len(names)} {label} _{slack_escape(segment)}_: {_names(names)}")
    for label, items in (("band got worse", d.worse_bands), ("new usage anomaly", d.anomalies),
                         (f"renewal now within {RENEWAL_WINDOW_DAYS} days", d.renewals)):
        if items:
            lines.append(f"• {len(items)} {label}: {_names(items)}")
    if len(lines) == 1:
        lines.append("Nothing changed.")
    return "\n".join(lines)


def build_digest(warehouse: Warehouse, tables: Mapping[str, str]) -> tuple[Digest, pd.DataFrame]:
    """Today's digest and today's segment membership (recorded once the digest is posted)."""
    ref = warehouse.table_ref
    segments = warehouse.query(f"select segment_key, account_id, account_name, as_of_date "
                               f"from {ref(tables['account_segments'])}")
    as_of = data_day(warehouse, tables["account_segments"], {})
    today = segments.assign(as_of_date=as_of)[list(MEMBERSHIP_COLUMNS)]
    earlier = None
    if warehouse.columns(MEMBERSHIP_TABLE):
        earlier = warehouse.scalar(f"select max(as_of_date) from {ref(MEMBERSHIP_TABLE)} where as_of_date < ?",
                                   [as_of])
    digest = Digest(as_of=as_of, compared_with=pd.Timestamp(earlier).date() if earlier is not None else None)
    if digest.compared_with is not None:
        before = warehouse.query(f"select segment_key, account_id, account_name from {ref(MEMBERSHIP_TABLE)} "
                                 f"where as_of_date = ?", [digest.compared_with])
        now_keys = set(zip(today["segment_key"], today["account_id"]))
        before_keys = set(zip(before["segment_key"], before["account_id"]))
        for frame, keys, target in ((today, now_keys - before_keys, digest.entered),
                                    (before, before_keys - now_keys, digest.left)):
            for row in frame.itertuples():
                if (row.segment_key, row.account_id) in keys:
                    target.setdefault(row.segment_key, []).append(row.account_name or row.account_id)
    changes = warehouse.query(f"select account_name, score_name, band_before, band_now "
                              f"from {ref(tables['health_score_changes'])} where worse_since_date = ? "
                              f"order by account_name, score_name", [as_of])
    digest.worse_bands = [f"{r.account_name} ({r.score_name.replace('_', ' ')} {r.band_before} → {r.band_now})"
                          for r in changes.itertuples()]
    anomalies = warehouse.query(
        f"select a.account_id, coalesce(c.account_name, a.account_id) as account_name, a.anomaly_type "
        f"from {ref(tables['usage_anomalies'])} as a left join {ref(tables['account_360'])} as c "
        f"on a.account_id = c.account_id where a.anomaly_date = ? and a.is_first_day order by 2", [as_of])
    digest.anomalies = [f"{r.account_name} ({r.anomaly_type})" for r in anomalies.itertuples()]
    renewals = warehouse.query(
        f"select account_name, renewal_date from {ref(tables['account_360'])} "
        f"where days_until_renewal = ? and lifecycle_status = 'active' order by account_name",
        [RENEWAL_WINDOW_DAYS - 1])
    digest.renewals = [f"{r.account_name} (renews {pd.Timestamp(r.renewal_date).date()})"
                       for r in renewals.itertuples()]
    digest.text = render(digest)
    return digest, today


def run_digest(warehouse: Warehouse, slack, channel: str, tables: Mapping[str, str], *,
               dry_run: bool = False) -> Digest:
    digest, today = build_digest(warehouse, tables)
    if warehouse.columns(DIGEST_RUNS_TABLE) and warehouse.scalar(
            f"select count(*) from {warehouse.table_ref(DIGEST_RUNS_TABLE)} where as_of_date = ?", [digest.as_of]):
        digest.already_posted = True
        return digest
    if dry_run:
        return digest
    target = channel if getattr(slack, "has_web_api", False) else None
    answer = slack.post_message(channel, digest.text) if target else (slack.post(digest.text) or {})
    digest.posted = True
    # Today's members become the next digest's "before"; recorded only once the message went.
    warehouse.write_many([
        Write(MEMBERSHIP_TABLE, today, MEMBERSHIP_COLUMNS, replace_where=("as_of_date", [digest.as_of])),
        Write(DIGEST_RUNS_TABLE, pd.DataFrame([{"as_of_date": digest.as_of, "posted_at": utcnow(),
                                                 "channel": channel, "ts": answer.get("ts"),
                                                 "text": digest.text}]), DIGEST_COLUMNS,
              key_columns=("as_of_date",)),
    ])
    return digest

