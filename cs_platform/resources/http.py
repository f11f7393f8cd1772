"""HTTP plumbing shared by every API client: retries, error messages, secret hygiene.

Retries are urllib3's `Retry` (backoff, Retry-After honoured on 429/503), not a
hand-rolled loop. A 401/403 is never retried: it fails at once, naming the setting
to check. Error messages carry the method and path, never the query string or
headers, because those can hold tokens.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class SourceError(RuntimeError):
    """A call to a source or destination API failed; the message says which and why."""


class SourceAuthError(SourceError):
    """The API rejected our credentials. Not retried: check the named setting."""


class CallCounter:
    """A `requests` response hook counting the HTTP calls made through a session:
    `responses` (one per page read or write sent), `calls` (with the retries urllib3
    made, which count against the API's limits too), `write_calls`, and the org's
    usage from Salesforce's `Sforce-Limit-Info: api-usage=USED/MAX` header."""

    WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

    def __init__(self):
        self.responses = 0
        self.calls = 0
        self.write_calls = 0
        self.api_used: int | None = None
        self.api_max: int | None = None

    def __call__(self, response: requests.Response, *args, **kwargs):
        retries = getattr(getattr(response.raw, "retries", None), "history", None) or ()
        n = 1 + len(retries)
        self.responses += 1
        self.calls += n
        method = (response.request.method or "").upper() if response.request is not None else ""
        if method in self.WRITE_METHODS:
            self.write_calls += n
        info = response.headers.get("Sforce-Limit-Info")
        if info and (m := _LIMIT_INFO.search(info)):
            self.api_used, self.api_max = int(m.group(1)), int(m.group(2))
        return response

    def attach(self, session: requests.Session) -> CallCounter:
        session.hooks.setdefault("response", []).append(self)
        return self

    def detach(self, session: requests.Session) -> None:
        hooks = session.hooks.get("response", [])
        if self in hooks:
            hooks.remove(self)


def retrying_session(
    *,
    total: int = 6,
    backoff_factor: float = 0.5,
    backoff_max: float = 60.0,
    ca_bundle: str | None = None,
) -> requests.Session:
    """A `requests.Session` that retries 429 and 5xx with exponential backoff and
    honours Retry-After. All methods are retried: the platform's writes are
    upserts keyed by external IDs, so a repeat cannot create a record twice."""
    retry = Retry(
        total=total,
        connect=3,
        read=3,
        status=total,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if ca_bundle:
        # REQUESTS_CA_BUNDLE in the environment would override session.verify; a
        # configured CA (the sandbox's test CA) must win, so ignore the environment.
        session.trust_env = False
        session.verify = ca_bundle
    return session


def describe(response: requests.Response) -> str:
    """`METHOD /path -> status`, without query string (tokens, webhook secrets)."""
    request = response.request
    path = urlsplit(request.url or "").path if request is not None else "?"
    method = request.method if request is not None else "?"
    return f"{method} {path} -> {response.status_code}"


def check_response(response: requests.Response, *, source: str, credential_hint: str) -> requests.Response:
    """Raise a clear error for a failed response; return it when it succeeded.

    `credential_hint` names the setting(s) to check on 401/403, e.g.
    "HUBSPOT_ACCESS_TOKEN".
    """
    if response.ok:
        return response
    body = response.text[:500]
    if response.status_code in (401, 403):
        raise SourceAuthError(
            f"{source} rejected the credentials ({describe(response)}): check {credential_hint}. "
            f"Response: {body}")
    retried = " after retries" if response.status_code in RETRY_STATUSES else ""
    raise SourceError(f"{source} call failed{retried} ({describe(response)}): {body}")
