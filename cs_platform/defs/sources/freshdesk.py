"""Freshdesk: companies, tickets and satisfaction ratings (API v2, `Link` paging).

Only the ticket list filters by modification (`updated_since`, inclusive, whole
seconds). The company list has no such filter and the ratings list filters only
by creation, which would miss a re-rated survey, so both are listed in full and
`load_changes` keeps what changed.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import chain

import dagster as dg

from cs_platform.resources.freshdesk import FreshdeskClient, FreshdeskResource
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.incremental import ApiConnection, api_multi_asset, api_source_defs

EVERY = timedelta(minutes=30)
# Without `updated_since` the ticket list answers only tickets created in the last
# 30 days, so a first load asks for everything updated since long ago.
FIRST_LOAD_SINCE = datetime(2000, 1, 1)


def read(client: FreshdeskClient, obj: SourceObject, since: datetime | None) -> Iterable[dict]:
    params = {}
    if obj.name == "tickets":
        params = {"updated_since": f"{since or FIRST_LOAD_SINCE:%Y-%m-%dT%H:%M:%SZ}",
                  "order_by": "updated_at", "order_type": "asc"}
    return chain.from_iterable(client.pages(obj.api_name, params))


def connect(freshdesk: FreshdeskResource) -> ApiConnection:
    client = freshdesk.client()  # one session for every object of the run
    return ApiConnection(client.session, lambda obj, since: read(client, obj, since))


def freshdesk_objects(objects: Sequence[SourceObject]) -> dg.AssetsDefinition:
    return api_multi_asset("freshdesk", objects, "freshdesk", connect)


objects = freshdesk_objects(catalog.objects_of("freshdesk"))
defs = api_source_defs("freshdesk", objects, EVERY)
