"""The pages' charts: Plotly figures as plain dicts, drawn by plotly.js in the browser.

A figure here is the JSON plotly.js takes (`{"data": [...], "layout": {...}}`),
built directly rather than through `plotly.graph_objects`, whose validation costs
milliseconds per figure: ~60,000 figures at 10,000 accounts. The shapes are those of
plotly's schema (tests/reports build every figure through `go.Figure` to prove it).
Daily series use `x0` + `dx` (one day in ms) on a date axis instead of a date per point.

plotly.js itself comes from the pinned `plotly` package and is written once beside
the pages (`assets/plotly-<version>.min.js`): the pages work offline, with no CDN.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache

import numpy as np

DAY_MS = 86_400_000
BAND_COLORS = {"green": "#2e9e5b", "yellow": "#e0b100", "red": "#d64545", "insufficient_data": "#9aa0a6"}
SERIES_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#ff9da6", "#9d755d", "#bab0ac")
CONFIG = {"displaylogo": False, "responsive": True}


@cache
def plotly_js() -> tuple[str, bytes]:
    """(file name under assets/, contents) of the plotly.js bundle shipped with the plotly package."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    return f"plotly-{get_plotlyjs_version()}.min.js", get_plotlyjs().encode()


def values(series: np.ndarray, digits: int = 1) -> list:
    """A float array as a JSON list, NaN -> null (a gap in the line)."""
    rounded = np.round(series.astype("float64"), digits)
    return [None if v != v else v for v in rounded.tolist()]


def _layout(title: str, y_title: str = "", **extra) -> dict:
    layout = {
        "title": {"text": title, "font": {"size": 15}},
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 320,
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "hovermode": "x unified", "plot_bgcolor": "#ffffff",
    }
    layout.update(extra)
    return layout


def daily_line(name: str, start: dt.date, series: np.ndarray, *, color: str, width: float = 1.5,
               dash: str | None = None, visible: bool | str = True) -> dict:
    line = {"color": color, "width": width}
    if dash:
        line["dash"] = dash
    return {"type": "scatter", "mode": "lines", "name": name, "x0": start.isoformat(), "dx": DAY_MS,
            "y": values(series), "line": line, "visible": visible}


def score_history(title: str, start: dt.date, score: np.ndarray, components: dict[str, np.ndarray],
                  weights: dict[str, float]) -> dict:
    """The score (bold) and each component's 0-100 score (thin; legend says its weight)."""
    data = [daily_line(title, start, score, color="#202124", width=3)]
    for i, (name, series) in enumerate(components.items()):
        label = f"{name.replace('_', ' ')} ({weights.get(name, 0):.0%})"
        data.append(daily_line(label, start, series, color=SERIES_COLORS[i % len(SERIES_COLORS)], width=1.2))
    layout = _layout(f"{title}: score and components", "0-100",
                     xaxis={"type": "date"}, yaxis={"range": [0, 100], "title": {"text": "0-100"}})
    return {"data": data, "layout": layout}


def usage_trend(start: dt.date, daily_active_users: np.ndarray, features: dict[str, np.ndarray],
                anomalies: list[dict]) -> dict:
    """Daily active users, the users of each key feature, and the anomaly days marked."""
    data = [daily_line("Daily active users", start, daily_active_users, color="#202124", width=2.5)]
    for i, (name, series) in enumerate(features.items()):
        data.append(daily_line(name, start, series, color=SERIES_COLORS[i % len(SERIES_COLORS)]))
    for kind, symbol, color in (("drop", "triangle-down", "#d64545"), ("spike", "triangle-up", "#2e9e5b")):
        marks = [a for a in anomalies if a.get("anomaly_type") == kind]
        if marks:
            data.append({
                "type": "scatter", "mode": "markers", "name": f"anomaly: {kind}",
                "x": [a["anomaly_date"] for a in marks], "y": [a["daily_active_users"] for a in marks],
                "text": [f"{kind}, {a['severity']}: expected {a['expected_daily_active_users']:.0f}"
                         if a.get("expected_daily_active_users") is not None else kind for a in marks],
                "hoverinfo": "x+text", "marker": {"symbol": symbol, "size": 11, "color": color}})
    return {"data": data, "layout": _layout("Usage by key feature", "users a day", xaxis={"type": "date"})}


def band_distribution(title: str, rows: list[dict]) -> dict:
    """Accounts per band per day (stacked areas)."""
    days = sorted({r["score_date"] for r in rows})
    data = []
    for band in ("green", "yellow", "red", "insufficient_data"):
        counts = {r["score_date"]: r["accounts"] for r in rows if r["band"] == band}
        if counts:
            data.append({"type": "scatter", "mode": "lines", "stackgroup": "bands", "name": band.replace("_", " "),
                         "x": days, "y": [counts.get(d, 0) for d in days],
                         "line": {"color": BAND_COLORS[band], "width": 0.5}})
    return {"data": data, "layout": _layout(title, "accounts", xaxis={"type": "date"})}


def bars(title: str, labels: list[str], series: dict[str, list], *, horizontal: bool = False,
         y_title: str = "", barmode: str = "group") -> dict:
    data = []
    for i, (name, ys) in enumerate(series.items()):
        bar = {"type": "bar", "name": name, "marker": {"color": SERIES_COLORS[i % len(SERIES_COLORS)]}}
        bar.update({"y": labels, "x": ys, "orientation": "h"} if horizontal else {"x": labels, "y": ys})
        data.append(bar)
    layout = _layout(title, y_title, barmode=barmode, hovermode="closest")
    if horizontal:
        layout["yaxis"] = {"automargin": True, "autorange": "reversed"}
        layout["height"] = max(320, 28 * len(labels) + 80)
    return {"data": data, "layout": layout}


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]
