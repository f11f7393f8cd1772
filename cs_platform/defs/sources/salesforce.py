"""Salesforce: users, accounts, contacts, opportunities, contracts, tasks, events.

Each object is read incrementally with SOQL through `queryAll`, so a deleted
record arrives once more with `IsDeleted = true` and is upserted as such (the
warehouse keeps it, flagged, rather than silently holding a stale live copy).
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from cs_platform.resources.salesforce import SalesforceResource, source_error
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.incremental import ApiConnection, api_multi_asset, api_source_defs

if TYPE_CHECKING:  # simple-salesforce (with its SOAP client) loads when a client is made
    from simple_salesforce import Salesforce

EVERY = timedelta(minutes=15)


def soql_since(obj: SourceObject, since: datetime | None) -> str:
    """`SELECT <catalog fields> FROM <Object> [WHERE <cursor> >= <since>] ORDER BY <cursor>`.

    format_soql writes the datetime literal as SOQL wants it: unquoted, UTC, whole
    seconds (which Salesforce compares at anyway; load_changes handles the overlap)."""
    from simple_salesforce import format_soql

    soql = f"SELECT {', '.join(obj.columns)} FROM {obj.api_name}"
    if since is not None:
        soql += format_soql(f" WHERE {obj.cursor} >= {{}}", since)
    return f"{soql} ORDER BY {obj.cursor}"


def _api_usage(sf: "Salesforce") -> dict[str, object]:
    """The org's API usage from the last response's Sforce-Limit-Info header."""
    usage = sf.api_usage.get("api-usage")
    return {"salesforce_api_usage": f"{usage.used}/{usage.total}"} if usage else {}


def connect(salesforce: SalesforceResource) -> ApiConnection:
    sf = salesforce.client()  # one OAuth login for every object of the run

    def fetch(obj: SourceObject, since: datetime | None) -> Iterable[Mapping]:
        from simple_salesforce.exceptions import SalesforceError

        # queryAll (include_deleted) so deletions arrive with IsDeleted = true.
        try:
            yield from sf.query_all_iter(soql_since(obj, since), include_deleted=True,
                                         timeout=salesforce.timeout_seconds)
        except SalesforceError as exc:  # named by method and path: the SOQL stays out of the error
            raise source_error(exc) from None

    return ApiConnection(sf.session, fetch, lambda: _api_usage(sf))


def salesforce_objects(objects: Sequence[SourceObject]) -> dg.AssetsDefinition:
    return api_multi_asset("salesforce", objects, "salesforce", connect)


objects = salesforce_objects(catalog.objects_of("salesforce"))
defs = api_source_defs("salesforce", objects, EVERY)
