"""The pages in a real browser: Debian's chromium, headless, through Playwright, over
HTTP from the devkit report server (as `make demo` serves them). A missing browser
fails these tests: `make test` installs chromium where it is missing."""

from __future__ import annotations

import json
import os
import re

import plotly.graph_objects as go
import pytest
from playwright.sync_api import sync_playwright

from cs_platform.reports import render
from devkit.report_server import ReportServer
from tests.reports.conftest import ARTIFACTS, CHROMIUM, PLANTED_NAME, PLANTED_TICKET, clean_artifacts

# Each page and the charts it must draw (the plotly div ids, without "chart-").
PAGES = {
    "internal": ("{planted}.html", ["usage_health_history", "renewal_likelihood_history", "usage_trend"]),
    "customer": ("customer/{planted}.html", ["usage_health_history", "usage_trend"]),
    "renewals": ("renewals.html", []),
    "portfolio": ("portfolio.html", ["usage_health_bands", "renewal_likelihood_bands", "segments", "workload",
                                     "backtest"]),
}


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make test` does: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served(rendered):
    with ReportServer(rendered.out, "http://127.0.0.1:0/reports") as server:
        yield server.base_url


@pytest.mark.parametrize("page_name", list(PAGES))
def test_page_loads_without_errors_and_its_charts_draw(rendered, served, browser, page_name):
    path, chart_ids = PAGES[page_name]
    path = path.format(planted=rendered.planted)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, dialogs, failed_requests = [], [], []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.on("response", lambda r: failed_requests.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    response = page.goto(f"{served}/{path}", wait_until="networkidle")
    assert response is not None and response.status == 200
    for chart_id in chart_ids:  # plotly draws each chart into an SVG with one group per trace
        page.wait_for_selector(f"#chart-{chart_id} svg.main-svg", timeout=15_000)
        traces = page.eval_on_selector(f"#chart-{chart_id}", "e => e.querySelectorAll('g.trace').length")
        points = page.eval_on_selector(
            f"#chart-{chart_id}", "e => Array.from(e.querySelectorAll('g.trace path')).filter("
                                  "p => (p.getAttribute('d') || '').length > 10).length")
        assert traces > 0 and points > 0, f"{path}: chart {chart_id} drew nothing ({traces} traces)"
    assert page.eval_on_selector_all(".chart", "els => els.length") == len(chart_ids)
    # Every request stayed on the report server: plotly.js comes from assets/, no CDN.
    assert not failed_requests, failed_requests
    assert page.evaluate("() => typeof Plotly") == ("object" if chart_ids else "undefined")
    assert not problems, f"{path}: console errors {problems}"
    assert not dialogs, f"{path}: a script from the data ran ({dialogs})"
    if page_name in ("internal", "customer"):
        assert page.inner_text("#account-name") == PLANTED_NAME
        assert PLANTED_TICKET in page.inner_text("body")
    if page_name == "renewals":
        assert PLANTED_NAME in page.inner_text("body")
    # No element came out of the planted text: it is characters on the page.
    assert page.evaluate("() => document.querySelectorAll('img[src=x]').length") == 0
    assert not [s for s in page.eval_on_selector_all("script", "els => els.map(e => e.textContent)")
                if "alert(1)" in s and "chart-data" not in s and not s.lstrip().startswith("{")]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{page_name}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    page.close()


def test_renewal_board_sorts_by_a_clicked_column(rendered, served, browser):
    page = browser.new_page()
    page.goto(f"{served}/renewals.html", wait_until="networkidle")
    table = page.locator("table.sortable").first
    arr_cells = lambda: [float(v or 0) for v in table.locator("tbody tr td:nth-child(4)").evaluate_all(  # noqa: E731
        "cells => cells.map(c => c.dataset.sort)")]
    table.locator("th", has_text="ARR").click()
    assert arr_cells() == sorted(arr_cells(), reverse=True)
    table.locator("th", has_text="ARR").click()
    assert arr_cells() == sorted(arr_cells())
    page.close()


def test_account_name_with_html_is_escaped_in_the_source(rendered):
    html = rendered.page(f"{rendered.planted}.html")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    # The chart data is JSON in a <script type=application/json>: no "</script>" or "<" inside.
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data
    json.loads(data)


def test_every_chart_is_a_valid_plotly_figure(rendered):
    """The figures are built as plain dicts for speed; plotly's own validator accepts each."""
    html = rendered.page(f"{rendered.planted}.html") + rendered.page("portfolio.html")
    blocks = re.findall(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    figures = [f for block in blocks for f in json.loads(block).values()]
    assert len(figures) == 3 + 5
    for figure in figures:
        go.Figure(figure)  # raises on any property plotly does not know


def test_plotly_js_is_written_once_and_linked_relatively(rendered):
    plotly_name = render.static_files()[0][0]
    assert (rendered.out / plotly_name).stat().st_size > 1_000_000
    assert f'src="{plotly_name}"' in rendered.page(f"{rendered.planted}.html")
    assert f'src="../{plotly_name}"' in rendered.page(f"customer/{rendered.planted}.html")
    assert "cdn" not in rendered.page(f"{rendered.planted}.html").lower()


def setup_module(module):
    clean_artifacts()
