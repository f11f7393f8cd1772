"""Salesforce connection: OAuth client-credentials login, then simple-salesforce."""

from __future__ import annotations

import dagster as dg


class SalesforceResource(dg.ConfigurableResource):
    """A connected app's client-credentials flow against `login_url`
    (https://<my-domain>.my.salesforce.com in production)."""

    login_url: str
    client_id: str
    client_secret: str
    api_version: str = "61.0"
    ca_bundle: str | None = None  # a private CA (the sandbox's); None = system trust store
