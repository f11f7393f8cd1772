"""Where KARTE-style export files (NPS responses, tour views) are dropped."""

from __future__ import annotations

import dagster as dg


class KarteExportsResource(dg.ConfigurableResource):
    # A local folder, or gs://bucket/prefix in production.
    location: str
