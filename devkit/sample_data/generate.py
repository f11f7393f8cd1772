"""Generate one coherent sample data set for every source object in the catalog.

The customer base is drawn first (customers.py); then accounts are processed in
chunks, each chunk drawn once (chunk.py) and handed to every tool's writer, which
streams its records to files or the product database. Same arguments, same bytes:
all randomness comes from streams seeded by (seed, purpose, chunk), and every date
is derived from `as_of`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from cs_platform.sources import catalog
from devkit.sample_data import chunk as chunks
from devkit.sample_data import customers, renewals, stories, wire
from devkit.sample_data.airtable import AirtableWriter
from devkit.sample_data.freshdesk import FreshdeskWriter
from devkit.sample_data.google_analytics import GoogleAnalyticsWriter
from devkit.sample_data.hubspot import HubspotWriter
from devkit.sample_data.karte import KarteWriter
from devkit.sample_data.product_db import ProductDbWriter
from devkit.sample_data.salesforce import SalesforceWriter
from devkit.sample_data.window import Window

log = logging.getLogger(__name__)

CHUNK_ACCOUNTS = 2_000
MIN_ACCOUNTS = 50  # every story still gets its 3 accounts
MIN_DAYS = 42  # a declining account needs weeks of normal usage before its 4+ weeks of decline
PRODUCT_DB_FILE = "product.db"
MANIFEST_FILE = "manifest.json"
GROUND_TRUTH_FILE = "ground_truth.json"


@dataclass(frozen=True)
class Manifest:
    """What a run wrote: its arguments and the rows of every catalog object."""

    out_dir: Path
    accounts: int
    seed: int
    days: int
    as_of: dt.date
    product_db: str  # PRODUCT_DB_FILE inside out_dir, or the server's URL with the password hidden
    row_counts: dict[str, int]  # "<tool>/<name>" -> rows, for every catalog object
    files: dict[str, dict[str, int]]  # "<tool>/<name>" -> {path relative to out_dir: rows}
    churn_cause: str = renewals.CHURN_CAUSES[0]  # what drives the planted churns (renewals.py)

    def to_json(self) -> dict:
        # No out_dir: the same data set has the same manifest wherever it is.
        return {"args": {"accounts": self.accounts, "seed": self.seed, "days": self.days,
                         "as_of": self.as_of.isoformat(), "product_db": self.product_db,
                         "churn_cause": self.churn_cause},
                "row_counts": self.row_counts, "files": self.files}

    @classmethod
    def read(cls, out_dir: str | Path) -> Manifest:
        data = json.loads((Path(out_dir) / MANIFEST_FILE).read_text())
        args = {**data["args"], "as_of": dt.date.fromisoformat(data["args"]["as_of"])}
        return cls(out_dir=Path(out_dir), **args, row_counts=data["row_counts"], files=data["files"])


def generate(out_dir: str | Path, accounts: int = 500, seed: int = 42, days: int = 120,
             as_of: dt.date | None = None, product_db_url: str | None = None,
             churn_cause: str = renewals.CHURN_CAUSES[0]) -> Manifest:
    """Write a sample data set to `out_dir` (and the product tables to `product_db_url`,
    default a SQLite file in `out_dir`); returns its manifest. `as_of` defaults to today (UTC).
    `churn_cause` picks what drives the planted past churns (renewals.CHURN_CAUSES)."""
    if accounts < MIN_ACCOUNTS:
        raise ValueError(f"accounts must be at least {MIN_ACCOUNTS} (3 per planted story), got {accounts}")
    if days < MIN_DAYS:
        raise ValueError(f"days must be at least {MIN_DAYS} for the planted usage stories, got {days}")
    if churn_cause not in renewals.CHURN_CAUSES:
        raise ValueError(f"churn_cause must be one of {', '.join(renewals.CHURN_CAUSES)}, got {churn_cause!r}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")
    out = Path(out_dir)
    window = Window(as_of or dt.datetime.now(dt.timezone.utc).date(), days)
    _clear_previous_output(out)
    if product_db_url is None:
        product_db_url = f"sqlite:///{(out / PRODUCT_DB_FILE).resolve()}"
        product_db = PRODUCT_DB_FILE
    else:
        product_db = sa.make_url(product_db_url).render_as_string(hide_password=True)

    base = customers.build(seed, accounts, window, churn_cause)
    outputs = wire.Outputs(out, [f"{o.tool}/{o.name}" for o in catalog.SOURCE_OBJECTS.values()])
    database = ProductDbWriter(product_db_url, outputs, base)
    try:
        writers = [database, SalesforceWriter(outputs, base), HubspotWriter(outputs, base),
                   FreshdeskWriter(outputs, base), KarteWriter(outputs, base),
                   AirtableWriter(outputs, base), GoogleAnalyticsWriter(outputs, base)]
        n_chunks = -(-accounts // CHUNK_ACCOUNTS)
        for index in range(n_chunks):
            lo = index * CHUNK_ACCOUNTS
            piece = chunks.build(base, index, lo, min(lo + CHUNK_ACCOUNTS, accounts))
            for writer in writers:
                writer.write(piece)
            log.info("accounts %d-%d of %d written", lo + 1, piece.hi, accounts)
    finally:
        outputs.close()
        database.close()

    manifest = Manifest(out_dir=out, accounts=accounts, seed=seed, days=days, as_of=window.as_of,
                        product_db=product_db, row_counts=outputs.row_counts, files=outputs.files,
                        churn_cause=churn_cause)
    _write_json(out / MANIFEST_FILE, manifest.to_json())
    _write_json(out / GROUND_TRUTH_FILE, {
        **stories.ground_truth(base.account_ids, base.story, base.drop_day, window),
        **renewals.ground_truth(base.account_ids, base.renewals)})
    return manifest


def _clear_previous_output(out: Path) -> None:
    """Remove what an earlier run wrote here (only that), so no stale weekly file survives."""
    for tool in catalog.TOOLS:
        if tool != "product_db":
            shutil.rmtree(out / tool, ignore_errors=True)
    for name in (PRODUCT_DB_FILE, MANIFEST_FILE, GROUND_TRUTH_FILE):
        (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
