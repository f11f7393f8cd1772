"""Airtable connection: REST v0 with a personal access token."""

from __future__ import annotations

import dagster as dg


class AirtableResource(dg.ConfigurableResource):
    base_url: str = "https://api.airtable.com"
    token: str
    base_id: str
