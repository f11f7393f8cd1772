"""Freshdesk: companies, tickets and satisfaction ratings (API v2, `Link` paging).

Only the ticket list filters by modification (`updated_since`, inclusive, whole
seconds). The company list has no such filter and the ratings list filters only
by creation, which would miss a re-rated survey, so both are listed in full and
`load_changes` keeps what changed.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import chain

import dagster as dg

from cs_platform.resources.freshdesk import FreshdeskClient, FreshdeskResource
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.incremental import api_source_defs, load_changes
from cs_platform.sources.loading import raw_asset_kwargs

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


def freshdesk_asset(obj: SourceObject) -> dg.AssetsDefinition:
    @dg.asset(**raw_asset_kwargs(obj))
    def _object(context: dg.AssetExecutionContext, warehouse: Warehouse,
                freshdesk: FreshdeskResource) -> dg.MaterializeResult:
        client = freshdesk.client()
        return load_changes(context, warehouse, obj, client.session, lambda since: read(client, obj, since))

    return _object


assets = [freshdesk_asset(o) for o in catalog.objects_of("freshdesk")]
defs = api_source_defs("freshdesk", assets, EVERY)
