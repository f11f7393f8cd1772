"""Freshdesk connection: REST v2 with the API key as basic-auth user."""

from __future__ import annotations

import dagster as dg


class FreshdeskResource(dg.ConfigurableResource):
    base_url: str  # https://<domain>.freshdesk.com
    api_key: str
