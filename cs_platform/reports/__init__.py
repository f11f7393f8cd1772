"""The report stage: static HTML pages generated from the marts.

    data.py     what the pages show, read from the warehouse in batch queries
    charts.py   Plotly figures (plotly.js is written beside the pages: no CDN)
    render.py   Jinja2 templates (autoescaped), the customer-facing variant's exclusions
    pages.py    the pages written, account pages incrementally (a hash per account)
    writers.py  where they go: data/reports/ locally, a GCS bucket in production

The assets (`report/account_pages`, `report/renewals`, `report/portfolio`) are in
`cs_platform/defs/reports/`.
"""
