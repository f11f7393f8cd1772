"""Airtable connection: REST v0 with a personal access token."""

from __future__ import annotations

import inspect
from urllib.parse import quote

import dagster as dg
import requests
from urllib3.util.retry import Retry

from cs_platform.resources.http import DEFAULT_MAX_RETRY_AFTER_SECONDS, CappedRetry, check_response, retrying_session

# Airtable documents a 30 s penalty after a 429 and sends no Retry-After
# (https://airtable.com/developers/web/api/rate-limits).
AIRTABLE_RATE_LIMIT_WAIT_SECONDS = 30.0


class AirtableResource(dg.ConfigurableResource):
    base_url: str = "https://api.airtable.com"
    token: str
    base_id: str
    page_size: int = 100  # Airtable's maximum
    # Wait after a 429 that carries no Retry-After; tests shorten it.
    rate_limit_wait_seconds: float = AIRTABLE_RATE_LIMIT_WAIT_SECONDS
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS  # a longer asked wait fails the call

    def list_records(self, table: str) -> list[dict]:
        """Every record of one table, following `offset` from page to page.

        An offset points into a snapshot that Airtable expires; when it has (422
        LIST_RECORDS_ITERATOR_NOT_AVAILABLE) the listing starts over once, so the
        result is always one consistent snapshot, never two glued together."""
        session = self._session()
        url = f"{self.base_url.rstrip('/')}/v0/{quote(self.base_id, safe='')}/{quote(table, safe='')}"
        records = self._snapshot(session, url, table, start_over_allowed=True)
        return records if records is not None else self._snapshot(session, url, table)

    def _snapshot(self, session: requests.Session, url: str, table: str, *,
                  start_over_allowed: bool = False) -> list[dict] | None:
        """One listing from the first page; None when the snapshot expired and may be retried."""
        records: list[dict] = []
        params: dict[str, object] = {"pageSize": self.page_size}
        while True:
            response = session.get(url, params=params, timeout=60)
            if (start_over_allowed and response.status_code == 422
                    and "ITERATOR_NOT_AVAILABLE" in response.text):
                return None
            check_response(response, source=f"Airtable table {table!r}",
                           credential_hint="AIRTABLE_TOKEN (and AIRTABLE_BASE_ID)")
            page = response.json()
            records.extend(page.get("records", []))
            if not page.get("offset"):
                return records
            params["offset"] = page["offset"]

    def _session(self) -> requests.Session:
        session = retrying_session(max_retry_after_seconds=self.max_retry_after_seconds, source="Airtable")
        session.headers["Authorization"] = f"Bearer {self.token}"
        for adapter in session.adapters.values():
            adapter.max_retries = RateLimitPenaltyRetry.like(
                adapter.max_retries, penalty_seconds=self.rate_limit_wait_seconds)
        return session


class RateLimitPenaltyRetry(CappedRetry):
    """The shared CappedRetry, except that a 429 without Retry-After waits the vendor's
    fixed penalty instead of the short exponential backoff, which would only spend
    more requests inside the penalty window."""

    def __init__(self, *args, penalty_seconds: float = AIRTABLE_RATE_LIMIT_WAIT_SECONDS, **kwargs):
        super().__init__(*args, **kwargs)
        self.penalty_seconds = penalty_seconds

    @classmethod
    def like(cls, retry: Retry, *, penalty_seconds: float) -> RateLimitPenaltyRetry:
        """The same retry settings as `retry` (the shared session's), plus the penalty."""
        settings = {name: getattr(retry, name)
                    for name in inspect.signature(Retry.__init__).parameters if name != "self"}
        return cls(**settings, penalty_seconds=penalty_seconds, source=getattr(retry, "source", None),
                   show_path=getattr(retry, "show_path", None))

    def new(self, **kw) -> RateLimitPenaltyRetry:
        # urllib3 copies the Retry on every attempt through new(); keep the penalty.
        kw.setdefault("penalty_seconds", self.penalty_seconds)
        return super().new(**kw)

    def get_retry_after(self, response) -> float | None:
        retry_after = super().get_retry_after(response)
        if retry_after is None and response.status == 429:
            return self.penalty_seconds
        return retry_after
