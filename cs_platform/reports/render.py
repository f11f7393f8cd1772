"""Turn report data into HTML: Jinja2 templates (autoescaped), Plotly charts.

Every text from a source (account names, ticket subjects, activity notes, feature
request titles) reaches the HTML through Jinja2's autoescaping, and the chart data
through `htmlsafe_json_dumps`: a name holding `<script>` shows as text.

The customer-facing page is the account page without INTERNAL_FIELDS: its context is
the internal one with those keys removed before rendering (and the template has no
section for them), so an internal value cannot reach it by a template slip: with
StrictUndefined a template that reaches for a removed key fails the render instead.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from functools import cache
from importlib import resources

import jinja2
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from cs_platform.reports import charts
from cs_platform.reports.data import AccountPageData, PortfolioData

# What the customer-facing variant leaves out, by context key (dotted: a key inside a
# section), with the reason. tests/reports check the rendered HTML for each.
INTERNAL_FIELDS: dict[str, str] = {
    "arr": "the contract's revenue figure is a commercial number for the account team",
    "owner_email": "the owner's internal address (the customer page names the CSM only)",
    "salesforce_url": "the link to the CRM record",
    "signals": "risk flag and its reasons, upsell signal, the suggested next step",
    "csm_impression": "the CSM's impression of the account",
    "renewal_likelihood": "our forecast of whether they renew: score, band, trend, what pulled it down",
    "charts.renewal_likelihood_history": "the renewal likelihood history chart",
    "usage_health.band": "the band is the internal risk classification (the customer sees the score)",
    "usage_health.dropping_28d": "which internal score components fell",
    "usage.drop": "the unresolved usage-drop risk flag",
    "support.escalations": "escalation counts are an internal risk signal",
    "nps_comment": "one user's verbatim NPS comment",
    "activities": "the activity timeline: internal notes on calls, meetings, tasks and plays",
}
CUSTOMER_DIR = "customer"
ASSETS_DIR = "assets"
TEMPLATES = ("base.html.j2", "macros.html.j2", "account.html.j2", "renewals.html.j2", "portfolio.html.j2",
             "report.css")
FORMAT_VERSION = "1"  # bump to re-render every page after a change to the page code


def _num(value, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _money(value) -> str:
    return "n/a" if value is None else f"${value:,.0f}"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cs_platform.reports", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, money=_money, pct=_pct)
    return env


@cache
def css() -> tuple[str, bytes]:
    data = resources.files("cs_platform.reports").joinpath("templates/report.css").read_bytes()
    return f"report-{charts.fingerprint(data)}.css", data


@cache
def render_version() -> str:
    """Changes whenever a template, the stylesheet, plotly.js or FORMAT_VERSION does: part of every page hash."""
    digest = hashlib.sha256(FORMAT_VERSION.encode())
    folder = resources.files("cs_platform.reports").joinpath("templates")
    for name in TEMPLATES:
        digest.update(folder.joinpath(name).read_bytes())
    digest.update(charts.plotly_js()[0].encode())
    return digest.hexdigest()[:16]


def static_files() -> list[tuple[str, bytes]]:
    """The files every page links to, written once: plotly.js and the stylesheet (versioned names)."""
    (plotly_name, plotly_data), (css_name, css_data) = charts.plotly_js(), css()
    return [(f"{ASSETS_DIR}/{plotly_name}", plotly_data), (f"{ASSETS_DIR}/{css_name}", css_data)]


def _page_globals(root: str, data_date, charts_dict: dict | None) -> dict:
    return {"root": root, "css_file": css()[0], "plotly_file": charts.plotly_js()[0], "data_date": data_date,
            "charts_json": Markup(htmlsafe_json_dumps(charts_dict, dumps=json.dumps, separators=(",", ":")))
            if charts_dict else None,
            "chart_config": Markup(json.dumps(charts.CONFIG))}


# ----------------------------------------------------------------------------- account pages

def account_context(data: AccountPageData, i: int, salesforce_url) -> dict:
    """Everything account `i`'s internal page shows, as JSON-ready values (the page's inputs, hashed)."""
    a = data.accounts[i]
    account_id = a["account_id"]
    ctx: dict = {
        "account": {k: a[k] for k in (
            "account_id", "account_name", "industry", "lifecycle_status", "plan_name", "seats_used", "seat_limit",
            "renewal_date", "days_until_renewal", "is_auto_renew", "customer_since_date", "owner_name")},
        "data_date": a["score_date"],
        "arr": a["arr"],
        "owner_email": a["owner_email"],
        "salesforce_url": salesforce_url(a["salesforce_account_id"]) if a["salesforce_account_id"] else None,
        "signals": {"has_risk_signal": bool(a["has_risk_signal"]), "risk_reasons": a["risk_reasons"],
                    "has_upsell_signal": bool(a["has_upsell_signal"]), "upsell_reason": a.get("upsell_reason"),
                    "suggested_next_step": a.get("suggested_next_step")},
        "csm_impression": {"impression": a["csm_impression"], "date": a["csm_impression_date"],
                           "stale": bool(a["is_csm_impression_stale"])},
        "usage": {"active_users_28d": a["active_users_28d"], "dau_avg_28d": a["dau_avg_28d"],
                  "key_features_unused_28d": a["key_features_unused_28d"],
                  "drop": {"start_date": a["usage_drop_start_date"], "share": a["usage_drop_share"]}
                  if a["has_unresolved_usage_drop"] else None},
        "setup": {"completed": a["setup_steps_completed"], "total": a["setup_steps_total"],
                  "steps": data.setup.get(account_id, [])},
        "support": {"open_count": a["open_tickets"], "escalations": a["open_escalations"],
                    "tickets_90d": a["tickets_90d"], "open_tickets": data.tickets.get(account_id, [])},
        "nps": {"score": a["latest_nps_score"], "date": a["latest_nps_date"], "responses": a["nps_responses"]},
        "nps_comment": (data.nps.get(account_id) or {}).get("comment"),
        "feature_requests": data.feature_requests.get(account_id, []),
        "activities": data.activities.get(account_id, []),
    }
    for score in ("usage_health", "renewal_likelihood"):
        ctx[score] = {"score": a[f"{score}_score"], "band": a[f"{score}_band"],
                      "change_28d": a[f"{score}_change_28d"], "change_7d": a[f"{score}_change_7d"],
                      "dropping_28d": a[f"{score}_dropping_components_28d"]}
    ctx["charts"] = account_charts(data, i)
    return ctx


def account_charts(data: AccountPageData, i: int) -> dict:
    if data.start is None:
        return {}
    out = {}
    for score in ("usage_health", "renewal_likelihood"):
        total = data.history[i, :, data.history_series.index(score)]
        parts = {c["component_name"]: data.history[i, :, data.history_series.index(f"{score}:{c['component_name']}")]
                 for c in data.components[score]}
        weights = {c["component_name"]: c["weight"] for c in data.components[score]}
        title = score.replace("_", " ").capitalize()
        out[f"{score}_history"] = charts.score_history(title, data.start, total, parts, weights)
    names = {f["feature_key"]: f["feature_name"] for f in data.key_features}
    features = {names.get(key, key): data.usage[i, :, k] for k, key in enumerate(data.usage_series) if k}
    out["usage_trend"] = charts.usage_trend(data.start, data.usage[i, :, 0], features,
                                            data.anomalies.get(data.accounts[i]["account_id"], []))
    return out


def customer_context(ctx: dict) -> dict:
    """The internal context without INTERNAL_FIELDS."""
    out = copy.copy(ctx)
    for path in INTERNAL_FIELDS:
        section, _, key = path.partition(".")
        if not key:
            out.pop(section, None)
        elif section in out:
            out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


def page_hash(ctx: dict) -> str:
    """What an account's pages are made of: its context (both variants derive from it) and the render version."""
    payload = json.dumps(ctx, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{render_version()}\n{payload}".encode()).hexdigest()[:32]


def render_account(ctx: dict, *, internal: bool) -> str:
    template = environment().get_template("account.html.j2")
    context = ctx if internal else customer_context(ctx)
    page = _page_globals("" if internal else "../", context["data_date"], context["charts"])
    return template.render(**{k: v for k, v in context.items() if k not in ("charts", "data_date")}, **page,
                           internal=internal)


def account_paths(account_id: str) -> tuple[str, str]:
    """(internal page, customer-facing page) under the report root: the link the CRM holds is
    <REPORT_BASE_URL>/<account_id>.html (dbt/macros/links.sql)."""
    return f"{account_id}.html", f"{CUSTOMER_DIR}/{account_id}.html"


# ----------------------------------------------------------------------------- boards

def render_renewals(rows: list[dict], data_date=None) -> str:
    months: dict[str, dict] = {}
    for r in rows:
        key = (r["renewal_date"] or "")[:7] or "unknown"
        m = months.setdefault(key, {"key": key, "rows": [], "arr": 0.0, "at_risk": 0})
        m["rows"].append(r)
        m["arr"] += r["arr"] or 0.0
        m["at_risk"] += bool(r["has_risk_signal"])
    for m in months.values():
        m["label"] = (dt.date.fromisoformat(m["key"] + "-01").strftime("%B %Y") if m["key"] != "unknown"
                      else "No renewal date")
    template = environment().get_template("renewals.html.j2")
    return template.render(
        rows=rows, months=[months[k] for k in sorted(months)], total_arr=sum(r["arr"] or 0.0 for r in rows),
        at_risk=sum(bool(r["has_risk_signal"]) for r in rows), upsell=sum(bool(r["has_upsell_signal"]) for r in rows),
        **_page_globals("", data_date, None))


def portfolio_charts(p: PortfolioData) -> dict:
    out = {}
    for score in ("usage_health", "renewal_likelihood"):
        title = f"{score.replace('_', ' ').capitalize()}: accounts per band"
        out[f"{score}_bands"] = charts.band_distribution(title, [r for r in p.bands if r["score_name"] == score])
    out["segments"] = charts.bars("Accounts by segment", [s["segment_name"] for s in p.segments],
                                  {"accounts": [s["accounts"] for s in p.segments]}, horizontal=True)
    out["workload"] = charts.bars(
        "Accounts per CSM", [w["owner_name"] for w in p.workload],
        {"accounts owned": [w["accounts_owned"] for w in p.workload],
         "renewals at risk": [w["renewals_at_risk"] for w in p.workload],
         "no touch in 30 days": [w["accounts_without_recent_activity"] for w in p.workload]}, y_title="accounts")
    score_rows = [b for b in p.backtest if b["measure_kind"] == "score"]
    horizons = sorted({b["horizon_days"] for b in score_rows})
    out["backtest"] = charts.bars(
        "Score backtest: AUC by horizon", [f"{h} days" for h in horizons],
        {s.replace("_", " "): [next((b["auc"] for b in score_rows if b["score_name"] == s and b["horizon_days"] == h),
                                    None) for h in horizons]
         for s in ("usage_health", "renewal_likelihood")}, y_title="AUC")
    return out


def render_portfolio(p: PortfolioData, data_date=None) -> str:
    template = environment().get_template("portfolio.html.j2")
    return template.render(totals=p.totals, workload=p.workload, plays=p.plays, backtest=p.backtest,
                           **_page_globals("", data_date, portfolio_charts(p)))
