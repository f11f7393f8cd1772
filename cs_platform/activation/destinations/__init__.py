"""Destinations of the reverse-ETL engine. Each one logs in through its resource
(`SalesforceResource.client()`, `HubSpotResource.client()`: one retrying session
per run) and answers per record, matched by key. Each also owns its API's rules,
known without a connection: the batch limit, which declarations it refuses, and
the record body exactly as it is sent (and hashed)."""

from __future__ import annotations

from cs_platform.activation.destinations.base import Destination
from cs_platform.activation.destinations.hubspot import HubSpotDestination
from cs_platform.activation.destinations.salesforce import SalesforceDestination
from cs_platform.activation.spec import SyncSpec

DESTINATIONS: dict[str, type[Destination]] = {"salesforce": SalesforceDestination, "hubspot": HubSpotDestination}


def destination_type(name: str) -> type[Destination]:
    try:
        return DESTINATIONS[name]
    except KeyError:
        raise ValueError(f"unknown destination {name!r} (one of {', '.join(DESTINATIONS)})") from None


def connect(spec: SyncSpec, resource) -> Destination:
    """A logged-in destination for `spec`, from the Dagster resource of its API."""
    return destination_type(spec.destination)(spec, resource.client())
