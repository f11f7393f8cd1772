"""Google Analytics 4 Data API connection."""

from __future__ import annotations

import dagster as dg


class GoogleAnalyticsResource(dg.ConfigurableResource):
    base_url: str = "https://analyticsdata.googleapis.com"
    property_id: str
    # A bearer token (the sandbox's); None = Google application-default credentials.
    access_token: str | None = None
