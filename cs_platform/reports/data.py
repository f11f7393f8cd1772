"""What the report pages show, read from the warehouse in a few batch queries.

Every query reads all accounts at once (a dozen queries per run whether there are
200 accounts or 10,000, never one per account); the daily series (score history,
usage) are bounded to the last HISTORY_DAYS days and laid out as dense arrays
(account x day x series), so one account's slice is an index, not a filter.

Which model holds which piece of a page:

| piece | model |
|---|---|
| header, both scores and bands, signals, setup / NPS / ticket counts | account_360 |
| what to do next, the upsell reason | renewal_list (accounts renewing in the window) |
| what pulled a score down, 7-day change | health_score_trends |
| score history split by component | health_score_history, seeds health_score_components |
| usage by key feature | stg_product_db__feature_usage_daily, seed product_features |
| daily active users | int_feature_usage_pivoted_to_account_days |
| anomalies | usage_anomalies |
| setup checklist | int_setup_steps_joined_to_definitions |
| open tickets | int_support_tickets_joined |
| latest NPS answer and comment | stg_karte__nps_responses |
| feature requests | stg_airtable__feature_requests |
| activity timeline (manual and automated) | account_activities |
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cs_platform.resources.warehouse import Warehouse

HISTORY_DAYS = 90  # days of score history and usage a page charts
ACTIVITIES_PER_ACCOUNT = 25  # the latest activities on a page's timeline
SCORES = ("usage_health", "renewal_likelihood")

# The dbt models (asset keys) the account pages read; the asset depends on each.
ACCOUNT_PAGE_MODELS = (
    "account_360", "renewal_list", "health_score_trends", "health_score_history", "health_score_components",
    "product_features", "stg_product_db__feature_usage_daily", "int_feature_usage_pivoted_to_account_days",
    "usage_anomalies", "int_setup_steps_joined_to_definitions", "int_support_tickets_joined",
    "stg_karte__nps_responses", "stg_airtable__feature_requests", "account_activities",
)
RENEWAL_BOARD_MODELS = ("renewal_list",)
PORTFOLIO_MODELS = ("account_360", "health_score_history", "account_segments", "csm_workload",
                    "play_effectiveness", "score_backtest")

ACCOUNT_COLUMNS = (
    "account_id", "account_name", "industry", "lifecycle_status", "plan_name", "seat_limit", "seats_used",
    "seat_utilization", "salesforce_account_id", "owner_name", "owner_email", "arr", "contract_start_date",
    "renewal_date", "days_until_renewal", "is_auto_renew", "customer_since_date", "active_users_28d",
    "dau_avg_28d", "key_features_used_28d", "key_features_unused_28d", "open_tickets", "open_escalations",
    "tickets_90d", "latest_nps_score", "latest_nps_date", "nps_responses", "setup_steps_completed",
    "setup_steps_total", "setup_completion_ratio", "is_setup_incomplete", "next_setup_step",
    "feature_requests_total", "feature_requests_open", "last_csm_activity_date", "days_since_last_csm_activity",
    "csm_impression", "csm_impression_date", "is_csm_impression_stale", "score_date", "usage_health_score",
    "usage_health_band", "usage_health_change_28d", "usage_health_top_dropping_component",
    "usage_health_missing_components", "renewal_likelihood_score", "renewal_likelihood_band",
    "renewal_likelihood_change_28d", "renewal_likelihood_top_dropping_component",
    "renewal_likelihood_missing_components", "has_unresolved_usage_drop", "usage_drop_start_date",
    "usage_drop_share", "has_upsell_signal", "has_risk_signal", "risk_reasons",
)


def plain(value):
    """A JSON-ready value: NaN/NaT/NA -> None, numpy scalars -> Python, dates -> ISO text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes") if (value.hour or value.minute) \
            else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def records(df: pd.DataFrame) -> list[dict]:
    return [{k: plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def by_account(df: pd.DataFrame) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in records(df):
        grouped[row.pop("account_id")].append(row)
    return grouped


@dataclass
class AccountPageData:
    """Everything the account pages show, for all accounts."""

    accounts: list[dict]  # one per account (account_360 + renewal_list + trends), in account_id order
    start: dt.date | None  # first day of the charted window
    days: int  # its length
    components: dict[str, list[dict]]  # score -> [{component_name, weight, description}]
    key_features: list[dict]  # [{feature_key, feature_name}]
    history: np.ndarray  # account x day x (score, its components..., per score)
    history_series: list[str]  # names of the last axis: "usage_health", "usage_health:active_user_ratio", ...
    usage: np.ndarray  # account x day x (daily_active_users, key features...)
    usage_series: list[str]
    anomalies: dict[str, list[dict]] = field(default_factory=dict)
    setup: dict[str, list[dict]] = field(default_factory=dict)
    tickets: dict[str, list[dict]] = field(default_factory=dict)
    nps: dict[str, dict] = field(default_factory=dict)
    feature_requests: dict[str, list[dict]] = field(default_factory=dict)
    activities: dict[str, list[dict]] = field(default_factory=dict)


def load_account_page_data(warehouse: Warehouse, history_days: int = HISTORY_DAYS) -> AccountPageData:
    ref = warehouse.table_ref
    accounts = warehouse.query(f"select {', '.join(ACCOUNT_COLUMNS)} from {ref('marts.account_360')} "
                               "order by account_id")
    renewals = warehouse.query(f"select account_id, suggested_next_step, upsell_reason "
                               f"from {ref('marts.renewal_list')}")
    trends = warehouse.query(f"select account_id, score_name, change_7d, dropping_components_28d "
                             f"from {ref('marts.health_score_trends')}")
    components = warehouse.query(f"select score_name, component_name, weight, description "
                                 f"from {ref('seeds.health_score_components')} order by score_name, weight desc, "
                                 "component_name")
    features = warehouse.query(f"select feature_key, feature_name from {ref('seeds.product_features')} "
                               "where is_key_feature order by feature_key")

    rows = records(accounts)
    extra = {r["account_id"]: r for r in records(renewals)}
    trend = {(r["account_id"], r["score_name"]): r for r in records(trends)}
    for row in rows:
        row.update({k: v for k, v in extra.get(row["account_id"], {}).items() if k != "account_id"})
        for score in SCORES:
            t = trend.get((row["account_id"], score), {})
            row[f"{score}_change_7d"] = t.get("change_7d")
            row[f"{score}_dropping_components_28d"] = t.get("dropping_components_28d")
    ids = [r["account_id"] for r in rows]
    index = pd.Index(ids)

    component_lists = {s: records(components[components.score_name == s].drop(columns="score_name"))
                       for s in SCORES}
    history_series = [name for s in SCORES for name in (s, *(f"{s}:{c['component_name']}"
                                                             for c in component_lists[s]))]
    last_day = warehouse.scalar(f"select max(score_date) from {ref('marts.health_score_history')}")
    if last_day is None or pd.isna(last_day) or not ids:
        empty = np.zeros((len(ids), 0, 0))
        return AccountPageData(rows, None, 0, component_lists, records(features), empty, history_series,
                               empty, ["daily_active_users"])
    last_day = pd.Timestamp(last_day).date()
    start = last_day - dt.timedelta(days=history_days - 1)

    # "usage_health" -> usage_health_score; "usage_health:usage_trend" -> usage_trend_score
    columns = [f"{name.rpartition(':')[2]}_score" for name in history_series]
    history = warehouse.query(
        f"select account_id, score_date, {', '.join(columns)} from {ref('marts.health_score_history')} "
        "where score_date >= ?", [start])
    history_grid = _grid(history, "score_date", columns, index, start, history_days)

    key_keys = [f["feature_key"] for f in records(features)]
    dau = warehouse.query(
        f"select account_id, usage_date, daily_active_users from "
        f"{ref('intermediate.int_feature_usage_pivoted_to_account_days')} where usage_date >= ? "
        "and usage_date <= ?", [start, last_day])
    usage_series = ["daily_active_users", *key_keys]
    usage_grid = _grid(dau, "usage_date", ["daily_active_users"], index, start, history_days, extra=len(key_keys))
    if key_keys:
        placeholders = ", ".join("?" for _ in key_keys)
        by_feature = warehouse.query(
            f"select account_id, usage_date, feature_key, active_users from "
            f"{ref('staging.stg_product_db__feature_usage_daily')} where usage_date >= ? and usage_date <= ? "
            f"and feature_key in ({placeholders})", [start, last_day, *key_keys])
        for k, key in enumerate(key_keys, start=1):
            part = by_feature[by_feature.feature_key == key]
            usage_grid[:, :, k] = _grid(part, "usage_date", ["active_users"], index, start, history_days)[:, :, 0]
    # The usage tables hold days with use only: from an account's first day with use in the
    # window on, a day without a row had no active users.
    started = np.maximum.accumulate(~np.isnan(usage_grid[:, :, 0]), axis=1)[:, :, None]
    usage_grid = np.where(started & np.isnan(usage_grid), 0.0, usage_grid)

    anomalies = warehouse.query(
        f"select account_id, anomaly_date, anomaly_type, severity, daily_active_users, expected_daily_active_users "
        f"from {ref('marts.usage_anomalies')} where anomaly_date >= ? order by account_id, anomaly_date", [start])
    setup = warehouse.query(
        f"select account_id, step_order, step_name, is_completed, completed_at "
        f"from {ref('intermediate.int_setup_steps_joined_to_definitions')} order by account_id, step_order")
    tickets = warehouse.query(
        f"select account_id, ticket_id, subject, ticket_type, ticket_status, priority, is_escalation, created_date "
        f"from {ref('intermediate.int_support_tickets_joined')} where is_open "
        "order by account_id, created_date desc, ticket_id")
    nps = warehouse.query(
        f"select account_id, nps_score, comment, responded_at from (select account_id, nps_score, comment, "
        f"responded_at, row_number() over (partition by account_id order by responded_at desc, nps_response_id) "
        f"as position from {ref('staging.stg_karte__nps_responses')}) as ranked where position = 1")
    requests = warehouse.query(
        f"select account_id, title, category, request_status, priority, votes, requested_date "
        f"from {ref('staging.stg_airtable__feature_requests')} order by account_id, requested_date desc, title")
    activities = warehouse.query(
        f"select account_id, activity_date, activity_source, activity_type, origin, play, subject, description, "
        f"activity_status, owner_name, recipient from (select *, row_number() over (partition by account_id "
        f"order by activity_date desc, created_at desc, activity_id) as position "
        f"from {ref('marts.account_activities')}) as ranked where position <= {ACTIVITIES_PER_ACCOUNT} "
        "order by account_id, activity_date desc, position")

    return AccountPageData(
        accounts=rows, start=start, days=history_days, components=component_lists,
        key_features=records(features), history=history_grid, history_series=history_series,
        usage=usage_grid, usage_series=usage_series, anomalies=by_account(anomalies), setup=by_account(setup),
        tickets=by_account(tickets), nps={a: r[0] for a, r in by_account(nps).items()},
        feature_requests=by_account(requests), activities=by_account(activities))


def _grid(df: pd.DataFrame, day_column: str, columns: list[str], index: pd.Index, start: dt.date, days: int,
          extra: int = 0) -> np.ndarray:
    """account x day x column array of `df`'s values (NaN where there is no row)."""
    grid = np.full((len(index), days, len(columns) + extra), np.nan)
    if df.empty:
        return grid
    rows = index.get_indexer(df["account_id"])
    offsets = (pd.to_datetime(df[day_column]) - pd.Timestamp(start)).dt.days.to_numpy()
    keep = (rows >= 0) & (offsets >= 0) & (offsets < days)
    values = df[columns].astype("float64").to_numpy()
    grid[rows[keep], offsets[keep], :len(columns)] = values[keep]
    return grid


def load_renewal_board(warehouse: Warehouse) -> list[dict]:
    ref = warehouse.table_ref
    return records(warehouse.query(
        f"select account_id, account_name, owner_name, plan_name, arr, renewal_date, days_until_renewal, "
        f"is_auto_renew, usage_health_score, usage_health_band, usage_health_change_28d, renewal_likelihood_score, "
        f"renewal_likelihood_band, seats_used, seat_limit, seat_utilization, has_upsell_signal, upsell_reason, "
        f"has_risk_signal, risk_reasons, suggested_next_step from {ref('marts.renewal_list')} "
        "order by renewal_date, account_name, account_id"))


@dataclass
class PortfolioData:
    bands: list[dict]  # score_date, score_name, band, accounts
    segments: list[dict]
    workload: list[dict]
    plays: list[dict]
    backtest: list[dict]
    totals: dict


def load_portfolio(warehouse: Warehouse, history_days: int = 180) -> PortfolioData:
    ref = warehouse.table_ref
    last_day = warehouse.scalar(f"select max(score_date) from {ref('marts.health_score_history')}")
    bands: list[dict] = []
    if last_day is not None and not pd.isna(last_day):
        start = pd.Timestamp(last_day).date() - dt.timedelta(days=history_days - 1)
        bands = records(warehouse.query(
            f"select score_date, 'usage_health' as score_name, usage_health_band as band, count(*) as accounts "
            f"from {ref('marts.health_score_history')} where score_date >= ? group by 1, 2, 3 "
            f"union all select score_date, 'renewal_likelihood', renewal_likelihood_band, count(*) "
            f"from {ref('marts.health_score_history')} where score_date >= ? group by 1, 2, 3 "
            "order by 1, 2, 3", [start, start]))
    segments = records(warehouse.query(
        f"select segment_key, segment_name, count(*) as accounts from {ref('marts.account_segments')} "
        "group by 1, 2 order by 3 desc, 1"))
    workload = records(warehouse.query(
        f"select owner_name, title, accounts_owned, arr_owned, red_usage_health_accounts, "
        f"low_renewal_likelihood_accounts, renewals_at_risk, accounts_without_recent_activity, tasks_open, "
        f"touches_30d from {ref('marts.csm_workload')} where accounts_owned > 0 order by accounts_owned desc, "
        "owner_name"))
    plays = records(warehouse.query(f"select * from {ref('marts.play_effectiveness')} order by play"))
    backtest = records(warehouse.query(
        f"select score_name, horizon_days, measure_name, measure_kind, weight, decisions, churned, churn_rate, "
        f"auc, green_churn_rate, yellow_churn_rate, red_churn_rate, lift_red_over_green, component_auc_rank "
        f"from {ref('marts.score_backtest')} order by score_name, horizon_days, measure_kind desc, auc desc"))
    totals = records(warehouse.query(
        f"select count(*) as accounts, sum(arr) as arr, sum(case when has_risk_signal then 1 else 0 end) as at_risk, "
        f"sum(case when has_upsell_signal then 1 else 0 end) as upsell from {ref('marts.account_360')} "
        "where lifecycle_status = 'active'"))[0]
    return PortfolioData(bands, segments, workload, plays, backtest, totals)
