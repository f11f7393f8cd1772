"""Slack incoming-webhook connection (the URL is a secret)."""

from __future__ import annotations

import dagster as dg


class SlackResource(dg.ConfigurableResource):
    webhook_url: str
