"""Write the report pages: per account (internal and customer-facing), the renewal
board, the portfolio overview.

Account pages are incremental. Each account's page inputs (its context: every value
either page shows, the chart data, and the render version of templates and
plotly.js) are hashed; the hashes live in a manifest beside the pages
(`_manifest/account_pages.json`, in the same folder or bucket), so deleting the
output deletes the hashes with it and everything is rendered again. An account
whose hash is unchanged is skipped; an account that left the warehouse has its two
pages deleted.

A run that fails part-way cannot leave a page that the manifest vouches for: before
any page is written, the manifest is rewritten without the accounts about to change,
and each page is written whole (writers.py). The next run renders those again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cs_platform.reports import render
from cs_platform.reports.data import load_account_page_data, load_portfolio, load_renewal_board
from cs_platform.reports.writers import ReportStore

MANIFEST = "_manifest/account_pages.json"
RENEWALS_PAGE = "renewals.html"
PORTFOLIO_PAGE = "portfolio.html"
WRITE_BATCH = 500  # pages held in memory before they are written
ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class AccountPagesOutcome:
    accounts: int = 0
    rendered: int = 0
    unchanged: int = 0
    removed: int = 0
    refused: list[str] = field(default_factory=list)  # account ids that cannot name a file
    rendered_ids: list[str] = field(default_factory=list)
    first_account_id: str | None = None
    data_date: str | None = None
    seconds_reading: float = 0.0
    seconds_rendering: float = 0.0


def write_static(store: ReportStore) -> int:
    """plotly.js and the stylesheet, once per version (their names carry it)."""
    missing = [(path, data) for path, data in render.static_files() if not store.exists(path)]
    return store.write_files(missing)


def read_manifest(store: ReportStore) -> dict[str, str]:
    raw = store.read(MANIFEST)
    if not raw:
        return {}
    try:
        return dict(json.loads(raw)["pages"])
    except (ValueError, KeyError, TypeError):
        return {}  # unreadable: render everything again


def _write_manifest(store: ReportStore, pages: dict[str, str]) -> None:
    body = {"render_version": render.render_version(), "pages": dict(sorted(pages.items()))}
    store.write_files([(MANIFEST, json.dumps(body, separators=(",", ":")).encode())])


def write_account_pages(warehouse, store: ReportStore, salesforce_url: Callable[[str], str], *,
                        force: bool = False, log=None) -> AccountPagesOutcome:
    """Render the pages of every account whose inputs changed (all with `force`)."""
    out = AccountPagesOutcome()
    started = time.perf_counter()
    data = load_account_page_data(warehouse)
    out.seconds_reading = time.perf_counter() - started
    started = time.perf_counter()
    write_static(store)
    previous = {} if force else read_manifest(store)

    hashes: dict[str, str] = {}
    contexts: dict[str, dict] = {}
    for i, account in enumerate(data.accounts):
        account_id = account["account_id"]
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            out.refused.append(str(account_id))
            continue
        ctx = render.account_context(data, i, salesforce_url)
        digest = render.page_hash(ctx)
        hashes[account_id] = digest
        if previous.get(account_id) == digest:
            out.unchanged += 1
        else:
            contexts[account_id] = ctx
    out.accounts = len(hashes)
    out.first_account_id = next(iter(hashes), None)
    out.data_date = next((a["score_date"] for a in data.accounts if a.get("score_date")), None)
    if out.refused and log is not None:
        log.warning(f"{len(out.refused)} account(s) have an id that cannot name a page, no page written: "
                    f"{out.refused[:10]}")

    removed = sorted(set(previous) - set(hashes))
    if contexts or removed:
        # Accounts about to change are out of the manifest before any of their pages is touched.
        _write_manifest(store, {a: h for a, h in previous.items() if a in hashes and a not in contexts})
    batch: list[tuple[str, bytes]] = []
    for account_id, ctx in contexts.items():
        internal_path, customer_path = render.account_paths(account_id)
        batch.append((internal_path, render.render_account(ctx, internal=True).encode()))
        batch.append((customer_path, render.render_account(ctx, internal=False).encode()))
        out.rendered += 1
        out.rendered_ids.append(account_id)
        if len(batch) >= WRITE_BATCH:
            store.write_files(batch)
            batch = []
    store.write_files(batch)
    for account_id in removed:
        if ACCOUNT_ID.match(account_id):
            store.delete(list(render.account_paths(account_id)))
    out.removed = len(removed)
    if contexts or removed or previous != hashes:
        _write_manifest(store, hashes)
    out.seconds_rendering = time.perf_counter() - started
    return out


@dataclass
class BoardOutcome:
    path: str
    rows: int
    detail: dict


def write_renewal_board(warehouse, store: ReportStore) -> BoardOutcome:
    rows = load_renewal_board(warehouse)
    write_static(store)
    store.write_files([(RENEWALS_PAGE, render.render_renewals(rows).encode())])
    months = sorted({(r["renewal_date"] or "")[:7] for r in rows})
    return BoardOutcome(RENEWALS_PAGE, len(rows), {
        "months": len(months), "at_risk": sum(bool(r["has_risk_signal"]) for r in rows),
        "upsell": sum(bool(r["has_upsell_signal"]) for r in rows),
        "arr": round(sum(r["arr"] or 0.0 for r in rows), 2)})


def write_portfolio(warehouse, store: ReportStore) -> BoardOutcome:
    portfolio = load_portfolio(warehouse)
    data_date = max((r["score_date"] for r in portfolio.bands), default=None)
    write_static(store)
    store.write_files([(PORTFOLIO_PAGE, render.render_portfolio(portfolio, data_date).encode())])
    return BoardOutcome(PORTFOLIO_PAGE, portfolio.totals.get("accounts") or 0, {
        "segments": len(portfolio.segments), "csms": len(portfolio.workload), "plays": len(portfolio.plays),
        "backtest_rows": len(portfolio.backtest)})
