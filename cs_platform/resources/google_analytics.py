"""Google Analytics 4 Data API connection."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import dagster as dg
import requests

from cs_platform.resources.http import (
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    SourceAuthError,
    check_response,
    retrying_session,
)

READONLY_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
CREDENTIAL_HINT = ("GA4_ACCESS_TOKEN, or the Google application-default credentials "
                   "(GOOGLE_APPLICATION_CREDENTIALS) and their access to GA4_PROPERTY_ID")


class GoogleAnalyticsResource(dg.ConfigurableResource):
    base_url: str = "https://analyticsdata.googleapis.com"
    property_id: str
    # A bearer token (the sandbox's); None = Google application-default credentials.
    access_token: str | None = None
    page_size: int = 10_000  # rows per runReport call (the API allows up to 250,000)
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS  # a longer asked wait fails the call

    def report_rows(
        self, start: date, end: date, dimensions: Sequence[str], metrics: Sequence[str]
    ) -> Iterator[dict[str, str]]:
        """Rows of one runReport over [start, end] (both inclusive, as GA4 counts),
        as {dimension or metric name: value string}, paged by offset until rowCount."""
        session = self._session()
        url = f"{self.base_url.rstrip('/')}/v1beta/properties/{self.property_id}:runReport"
        body = {
            "dateRanges": [{"startDate": start.isoformat(), "endDate": end.isoformat()}],
            "dimensions": [{"name": d} for d in dimensions],
            "metrics": [{"name": m} for m in metrics],
            "limit": self.page_size,
            "offset": 0,
        }
        while True:
            response = session.post(url, json=body, timeout=120)
            check_response(response, source=f"GA4 runReport (property {self.property_id})",
                           credential_hint=CREDENTIAL_HINT)
            page = response.json()
            rows = page.get("rows") or []
            for row in rows:
                values = [v.get("value") for v in row.get("dimensionValues", [])]
                values += [v.get("value") for v in row.get("metricValues", [])]
                yield dict(zip([*dimensions, *metrics], values, strict=True))
            body["offset"] += len(rows)
            # rowCount is the total over all pages; an empty page also ends (no endless loop).
            if not rows or body["offset"] >= int(page.get("rowCount") or 0):
                return

    def _session(self) -> requests.Session:
        session = retrying_session(max_retry_after_seconds=self.max_retry_after_seconds, source="GA4")
        session.headers["Authorization"] = f"Bearer {self.access_token or _default_credentials_token()}"
        return session


def _default_credentials_token() -> str:
    """An access token from Google application-default credentials (prod: the
    workload's service account), read-only for Analytics."""
    import google.auth
    import google.auth.transport.requests
    from google.auth.exceptions import GoogleAuthError

    try:
        credentials, _ = google.auth.default(scopes=[READONLY_SCOPE])
        credentials.refresh(google.auth.transport.requests.Request())
    except GoogleAuthError as error:
        raise SourceAuthError(f"GA4: no usable Google credentials ({error}); check {CREDENTIAL_HINT}") from None
    return credentials.token
