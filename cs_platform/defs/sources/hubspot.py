"""HubSpot: companies and contacts (CRM v3 search) and marketing email events.

Companies and contacts are read through the search endpoint, filtered on
`hs_lastmodifieddate` and sorted by it, asking for exactly the catalog's
properties. Email events are immutable and read by creation time.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import chain

import dagster as dg

from cs_platform.resources.hubspot import HubSpotClient, HubSpotResource
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.incremental import ApiConnection, api_multi_asset, api_source_defs

EVERY = timedelta(minutes=15)
PROPERTY_PREFIX = "properties__"


def crm_properties(obj: SourceObject) -> list[str]:
    """The HubSpot properties behind the catalog's `properties__<name>` columns."""
    return [c.removeprefix(PROPERTY_PREFIX) for c in obj.columns if c.startswith(PROPERTY_PREFIX)]


def read_crm_objects(client: HubSpotClient, obj: SourceObject, since: datetime | None) -> Iterator[dict]:
    properties = crm_properties(obj)
    for record in chain.from_iterable(client.search_pages(obj.api_name, properties, since)):
        # HubSpot adds a few default properties (hs_object_id, createdate, ...) to
        # what was asked for; they are not data we track, nor schema drift.
        props = record.get("properties") or {}
        yield {**record, "properties": {p: props.get(p) for p in properties if p in props}}


def read_email_events(client: HubSpotClient, obj: SourceObject, since: datetime | None) -> Iterable[dict]:
    start_ms = None if since is None else int(since.timestamp() * 1000)
    return chain.from_iterable(client.email_event_pages(start_ms))


Reader = Callable[[HubSpotClient, SourceObject, datetime | None], Iterable[Mapping]]
READERS: dict[str, Reader] = {
    "companies": read_crm_objects,
    "contacts": read_crm_objects,
    "email_events": read_email_events,
}


def connect(hubspot: HubSpotResource) -> ApiConnection:
    client = hubspot.client()  # one session for every object of the run
    return ApiConnection(client.session, lambda obj, since: READERS[obj.name](client, obj, since))


def hubspot_objects(objects: Sequence[SourceObject]) -> dg.AssetsDefinition:
    return api_multi_asset("hubspot", objects, "hubspot", connect)


objects = hubspot_objects(catalog.objects_of("hubspot"))
defs = api_source_defs("hubspot", objects, EVERY)
