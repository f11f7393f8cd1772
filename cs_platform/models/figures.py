"""The figures a CS-ops person reads off a mart in the Dagster UI, on each of its
materializations: how many accounts are in each band, how many renewals are at
risk or show an upsell, how many anomalies of each kind, and a short markdown
preview (the red accounts, the next renewals).

Read after dbt has exited (DuckDB admits one process at a time), only for the
marts this run built: one query for every count, one per preview, on tables of
one row per account. Counts are integers, so the UI plots them over time.
"""

from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg
import pandas as pd

PREVIEW_ROWS = 10


@dataclass(frozen=True)
class Count:
    """`<prefix>_<value>`: how many rows have each value of `by` (a SQL expression);
    the `known` values are reported as 0 when no row has them."""

    prefix: str
    by: str
    known: tuple[str, ...] = ()

    def sql(self, model: str, relation: str) -> str:
        return (f"select '{model}' as model, concat('{self.prefix}_', {self.by}) as figure, count(*) as n "
                f"from {relation} group by 1, 2")


@dataclass(frozen=True)
class Flagged:
    """`<name>`: how many rows satisfy `condition`."""

    name: str
    condition: str

    def sql(self, model: str, relation: str) -> str:
        return (f"select '{model}' as model, '{self.name}' as figure, "
                f"coalesce(sum(case when {self.condition} then 1 else 0 end), 0) as n from {relation}")


@dataclass(frozen=True)
class Preview:
    """A markdown table of the first PREVIEW_ROWS rows (`select ... from <mart> <rest>`)."""

    name: str
    columns: tuple[str, ...]
    rest: str


BANDS = ("green", "yellow", "red", "insufficient_data")
COUNTS: dict[str, tuple[Count | Flagged, ...]] = {
    "usage_health": (Count("accounts", "coalesce(usage_health_band, 'none')", BANDS),),
    "renewal_likelihood": (Count("accounts", "coalesce(renewal_likelihood_band, 'none')", BANDS),),
    "account_360": (Flagged("active_accounts", "lifecycle_status = 'active'"),
                    Flagged("red_accounts", "lifecycle_status = 'active' and usage_health_band = 'red'"),
                    Flagged("at_risk_accounts", "lifecycle_status = 'active' and has_risk_signal"),
                    Flagged("upsell_accounts", "lifecycle_status = 'active' and has_upsell_signal")),
    "renewal_list": (Flagged("at_risk_accounts", "has_risk_signal"), Flagged("upsell_accounts", "has_upsell_signal"),
                     Count("usage_health", "coalesce(usage_health_band, 'none')", BANDS)),
    "usage_anomalies": (Count("anomalies", "anomaly_type", ("drop", "spike")),),
}

PREVIEWS: dict[str, Preview] = {
    "account_360": Preview(
        "top_red_accounts",
        ("account_name", "owner_name", "usage_health_score", "usage_health_change_28d",
         "usage_health_top_dropping_component", "renewal_likelihood_band", "arr", "renewal_date"),
        "where usage_health_band = 'red' and lifecycle_status = 'active' "
        "order by usage_health_score, arr desc, account_id"),
    "usage_health": Preview(
        "top_red_accounts",
        ("account_id", "usage_health_score", "change_28d", "top_dropping_component", "missing_components"),
        "where usage_health_band = 'red' order by usage_health_score, change_28d, account_id"),
    "renewal_list": Preview(
        "next_renewals",
        ("renewal_date", "account_name", "owner_name", "arr", "usage_health_band", "renewal_likelihood_band",
         "has_risk_signal", "has_upsell_signal", "suggested_next_step"),
        "order by renewal_date, arr desc, account_id"),
}


def mart_figures(relations: Mapping[str, str], query, log) -> dict[str, dict[str, object]]:
    """The figures of each mart in `relations` (model name -> relation name), by model
    name. `query(sql) -> DataFrame` runs on the warehouse; a failing query costs
    only its figures (they are a nicety) and is logged."""
    figures: dict[str, dict[str, object]] = {}
    counted = [(name, figure) for name, figures_ in COUNTS.items() if name in relations for figure in figures_]
    if counted:
        sql = " union all ".join(figure.sql(name, relations[name]) for name, figure in counted)
        try:
            for row in query(sql).itertuples(index=False):
                figures.setdefault(row.model, {})[row.figure] = int(row.n)
        except Exception as exc:
            log.warning(f"could not count the figures of the marts: {exc}")
        else:
            # A value no row has is a zero, not a missing figure (e.g. no red account today).
            for name, figure in counted:
                for value in getattr(figure, "known", ()):
                    figures.setdefault(name, {}).setdefault(f"{figure.prefix}_{value}", 0)
    for name, preview in PREVIEWS.items():
        if name not in relations:
            continue
        try:
            rows = query(f"select {', '.join(preview.columns)} from {relations[name]} {preview.rest} "
                         f"limit {PREVIEW_ROWS}")
        except Exception as exc:
            log.warning(f"could not read the preview of {name}: {exc}")
            continue
        figures.setdefault(name, {})[preview.name] = dg.MetadataValue.md(preview_markdown(rows))
    return figures


def preview_markdown(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "_none_"
    from cs_platform.models.results import markdown_table

    return markdown_table(rows)
