"""Freshdesk connection: REST v2 with the API key as basic-auth user.

`client()` hands out a `FreshdeskClient` on a retrying session (429 with
Retry-After and 5xx retried). List endpoints page through the `Link: rel="next"`
header, which `pages` follows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import requests

from cs_platform.resources.http import DEFAULT_MAX_RETRY_AFTER_SECONDS, check_response, retrying_session

CREDENTIALS = "FRESHDESK_API_KEY"


class FreshdeskResource(dg.ConfigurableResource):
    base_url: str  # https://<domain>.freshdesk.com
    api_key: str
    retry_backoff_seconds: float = 0.5  # urllib3 backoff factor; tests make it tiny
    timeout_seconds: float = 60.0
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS  # a longer asked wait fails the call
    page_size: int = 100  # the list endpoints' maximum; tests lower it to page on small data

    def client(self) -> FreshdeskClient:
        session = retrying_session(backoff_factor=self.retry_backoff_seconds, timeout=self.timeout_seconds,
                                   max_retry_after_seconds=self.max_retry_after_seconds, source="Freshdesk")
        session.auth = (self.api_key, "X")  # Freshdesk's convention: key as user, any password
        return FreshdeskClient(self, session)


class FreshdeskClient:
    def __init__(self, config: FreshdeskResource, session: requests.Session):
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.session = session

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """One GET (a path under /api/v2, or a full `next` link); raises on failure."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/api/v2/{path_or_url.lstrip('/')}"
        response = self.session.get(url, params=params, timeout=self.config.timeout_seconds)
        return check_response(response, source="Freshdesk", credential_hint=CREDENTIALS)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[dict]]:
        """Pages of a list endpoint, following `Link: <...>; rel="next"`."""
        response = self.get(path, {"per_page": self.config.page_size, **(params or {})})
        while True:
            yield response.json()
            next_link = response.links.get("next", {}).get("url")
            if not next_link:
                return
            response = self.get(next_link)  # the link carries every query parameter
