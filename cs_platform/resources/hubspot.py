"""HubSpot connection: CRM v3 REST with a private-app access token.

`client()` hands out a `HubSpotClient` on a retrying session (429 `RATE_LIMITS`
and 5xx retried, Retry-After honoured). The raw loaders page through the search
and email-events endpoints; the reverse-ETL engine calls `request` for batch
upserts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import dagster as dg
import requests

from cs_platform.resources.http import (
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    SourceError,
    check_response,
    retrying_session,
    single_attempt,
)

CREDENTIALS = "HUBSPOT_ACCESS_TOKEN"
MODIFIED_PROPERTY = "hs_lastmodifieddate"


class HubSpotResource(dg.ConfigurableResource):
    base_url: str = "https://api.hubapi.com"
    access_token: str
    retry_backoff_seconds: float = 0.5  # urllib3 backoff factor; tests make it tiny
    timeout_seconds: float = 60.0
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS  # a longer asked wait fails the call
    # The API's limits; tests lower them to page (and restart searches) on small data.
    search_page_size: int = 100
    events_page_size: int = 1000
    search_result_cap: int = 10_000  # a search query answers at most this many results

    def client(self) -> HubSpotClient:
        session = retrying_session(backoff_factor=self.retry_backoff_seconds, timeout=self.timeout_seconds,
                                   max_retry_after_seconds=self.max_retry_after_seconds, source="HubSpot")
        session.headers["Authorization"] = f"Bearer {self.access_token}"
        return HubSpotClient(self, session)


class HubSpotClient:
    """CRM v3 calls through one retrying session (and, for creates, one that never retries)."""

    def __init__(self, config: HubSpotResource, session: requests.Session):
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.session = session
        self._single_attempt: requests.Session | None = None

    def request(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        """One call; the decoded JSON body, or a SourceError/SourceAuthError.
        `retry=False` for calls that are not idempotent (batch/create): sent once."""
        session = self.session
        if not retry:
            if self._single_attempt is None:
                self._single_attempt = single_attempt(self.session)
            session = self._single_attempt
        response = session.request(method, self.base_url + path, timeout=self.config.timeout_seconds, **kwargs)
        check_response(response, source="HubSpot", credential_hint=CREDENTIALS)
        return response.json() if response.content else None

    def search_pages(self, object_type: str, properties: Sequence[str],
                     modified_since: datetime | None = None) -> Iterator[list[dict]]:
        """Pages of `object_type` records modified at or after `modified_since`
        (all records when None), oldest change first, with `properties` (HubSpot
        adds a few of its own).

        A search answers at most `search_result_cap` results, so when paging reaches
        the cap the search starts again from the newest modified date seen. That
        restart is inclusive (GTE) so records sharing the date are not skipped;
        the ones already returned are dropped."""
        since_ms = _epoch_ms(modified_since) if modified_since else None
        newest_ms, newest_ids = since_ms, set()  # latest modified date seen, ids carrying it
        skip: set[str] = set()
        after: str | None = None
        while True:
            body: dict[str, Any] = {
                "sorts": [{"propertyName": MODIFIED_PROPERTY, "direction": "ASCENDING"}],
                # The restart below needs each record's modified date.
                "properties": list(dict.fromkeys([*properties, MODIFIED_PROPERTY])),
                "limit": self.config.search_page_size,
            }
            if since_ms is not None:
                body["filterGroups"] = [{"filters": [
                    {"propertyName": MODIFIED_PROPERTY, "operator": "GTE", "value": str(since_ms)}]}]
            if after:
                body["after"] = after
            page = self.request("POST", f"/crm/v3/objects/{object_type}/search", json=body)
            results = [r for r in page.get("results", []) if r["id"] not in skip]
            for record in results:
                modified_ms = _epoch_ms(record["properties"][MODIFIED_PROPERTY])
                if modified_ms != newest_ms:  # sorted ascending: a later date starts a new group
                    newest_ms, newest_ids = modified_ms, set()
                newest_ids.add(record["id"])
            yield results
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            if int(after) >= self.config.search_result_cap:
                if newest_ms == since_ms and skip:
                    raise SourceError(
                        f"HubSpot: more than {self.config.search_result_cap} {object_type} share "
                        f"{MODIFIED_PROPERTY} {since_ms}; the search API cannot page past them.")
                since_ms, skip, after = newest_ms, set(newest_ids), None

    def email_event_pages(self, start_ms: int | None = None) -> Iterator[list[dict]]:
        """Pages of marketing email events created at or after `start_ms`
        (epoch milliseconds; all events when None), following `offset`."""
        params: dict[str, Any] = {"limit": self.config.events_page_size}
        if start_ms is not None:
            params["startTimestamp"] = start_ms
        while True:
            page = self.request("GET", "/email/public/v1/events", params=params)
            yield page.get("events", [])
            if not page.get("hasMore"):
                return
            params["offset"] = page["offset"]


def _epoch_ms(value: datetime | str) -> int:
    """Epoch milliseconds of a datetime (naive = UTC) or HubSpot's ISO string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)
