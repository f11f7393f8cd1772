"""Deterministic sample data: one coherent customer base across every source tool,
with planted stories whose ground truth is written beside the data.

    python -m devkit.sample_data --out data/sample --accounts 500 --seed 42 --days 120 \\
        --as-of 2026-11-22 [--product-db-url postgresql://postgres@127.0.0.1:5432/somedb]

    from devkit.sample_data import generate
    manifest = generate("data/sample", accounts=500, seed=42, days=120, as_of=date(2026, 11, 22))

Output folder (the record shapes are the vendors' wire formats; fields as in the catalog):

    product.db                      plans, accounts, users, feature_usage_daily, setup_steps
                                    (SQLite; with --product-db-url the tables go to that server)
    salesforce/<ApiName>.jsonl      User, Account, Contact, Opportunity, Contract, Task, Event
    hubspot/companies.jsonl, contacts.jsonl, email_events.jsonl
    freshdesk/companies.jsonl, tickets.jsonl, satisfaction_ratings.jsonl
    karte/nps_responses_YYYYMMDD.csv, tour_views_YYYYMMDD.csv      one file per week
    airtable/feature_requests.jsonl
    google_analytics/page_views_daily.jsonl
    manifest.json                   arguments, rows per `<tool>/<name>` and per file
    ground_truth.json               the accounts of each planted story (see stories.py)
"""

from devkit.sample_data.generate import Manifest, generate

__all__ = ["Manifest", "generate"]
