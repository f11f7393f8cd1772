"""Destinations of the reverse-ETL engine. Each one logs in through its resource
(`SalesforceResource.client()`, `HubSpotResource.client()`: one retrying session
per run) and answers per record, matched by key."""

from __future__ import annotations

from cs_platform.activation.config import SyncSpec
from cs_platform.activation.destinations.base import Destination


def connect(spec: SyncSpec, resource) -> Destination:
    """A logged-in destination for `spec`, from the Dagster resource of its API."""
    if spec.destination == "salesforce":
        from cs_platform.activation.destinations.salesforce import SalesforceDestination

        return SalesforceDestination(spec, resource.client())
    if spec.destination == "hubspot":
        from cs_platform.activation.destinations.hubspot import HubSpotDestination

        return HubSpotDestination(spec, resource.client())
    raise ValueError(f"sync '{spec.name}': unknown destination {spec.destination!r}")
