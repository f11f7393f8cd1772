"""HubSpot connection: CRM v3 REST with a private-app access token."""

from __future__ import annotations

import dagster as dg


class HubSpotResource(dg.ConfigurableResource):
    base_url: str = "https://api.hubapi.com"
    access_token: str
