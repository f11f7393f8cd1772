"""Salesforce connection: OAuth client-credentials login, then simple-salesforce.

`client()` is what both the raw loaders (SOQL reads) and the reverse-ETL engine
(sObject Collections, Bulk API 2.0 through `sf.bulk2`) use: one login, one
retrying session whose 429/5xx handling and CA trust apply to every call.

Two response hooks on that session apply to every call made through it (the
client's own, and the engine's requests over `sf.session` with `sf.headers`):
- a session that expires mid-run (401 INVALID_SESSION_ID) logs in again once, with
  the resource's credentials, and the call is sent again; a second 401, or a login
  that fails, raises SourceAuthError naming SALESFORCE_CLIENT_ID / _SECRET;
- a failed response's `url` becomes `METHOD /path`: simple-salesforce writes
  `response.url` into every exception it raises, and the query string holds the
  SOQL (`?q=`), which must not reach run logs and alerts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import dagster as dg
import requests

from cs_platform.resources.http import (
    DEFAULT_MAX_RETRY_AFTER_SECONDS,
    RETRY_STATUSES,
    SourceAuthError,
    SourceError,
    check_response,
    describe,
    retrying_session,
)

if TYPE_CHECKING:  # simple-salesforce (with its SOAP client) loads when a client is made
    from simple_salesforce import Salesforce

CREDENTIALS = "SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET"
# OAuth errors (RFC 6749 §5.2) that mean "these credentials are wrong", which
# Salesforce answers with 400 rather than 401.
_OAUTH_CREDENTIAL_ERRORS = {"invalid_client", "invalid_client_id", "unauthorized_client", "invalid_grant"}


class SalesforceResource(dg.ConfigurableResource):
    """A connected app's client-credentials flow against `login_url`
    (https://<my-domain>.my.salesforce.com in production)."""

    login_url: str
    client_id: str
    client_secret: str
    api_version: str = "61.0"
    ca_bundle: str | None = None  # a private CA (the sandbox's); None = system trust store
    retry_backoff_seconds: float = 0.5  # urllib3 backoff factor; tests make it tiny
    timeout_seconds: float = 120.0  # per HTTP call; SOQL pages of 2,000 rows can be slow
    # The longest Retry-After waited out; a longer one fails the call at once.
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS

    def session(self) -> requests.Session:
        # The timeout applies to every call made through the session, including
        # simple-salesforce's own (Collections, queries, Bulk), which pass none.
        return retrying_session(backoff_factor=self.retry_backoff_seconds, ca_bundle=self.ca_bundle,
                                timeout=self.timeout_seconds, max_retry_after_seconds=self.max_retry_after_seconds,
                                source="Salesforce")

    def login(self, session: requests.Session) -> tuple[str, str]:
        """Client-credentials token request; returns (instance_url, access_token).
        Sent without the session's hooks: a login is not one of the run's API calls
        (call counters skip it) and is never itself renewed."""
        request = session.prepare_request(requests.Request(
            "POST", f"{self.login_url.rstrip('/')}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id,
                  "client_secret": self.client_secret}))
        request.hooks = {"response": []}
        settings = session.merge_environment_settings(request.url, {}, None, None, None)
        response = session.send(request, timeout=self.timeout_seconds, **settings)
        if response.status_code == 400 and _oauth_error(response) in _OAUTH_CREDENTIAL_ERRORS:
            raise SourceAuthError(
                f"Salesforce rejected the credentials ({describe(response)}, "
                f"{_oauth_error(response)}): check {CREDENTIALS}.")
        body = check_response(response, source="Salesforce", credential_hint=CREDENTIALS).json()
        return body["instance_url"], body["access_token"]

    def client(self) -> Salesforce:
        """A logged-in simple-salesforce client on a retrying session."""
        from simple_salesforce import Salesforce

        session = self.session()
        instance_url, access_token = self.login(session)
        sf = Salesforce(instance_url=instance_url, session_id=access_token,
                        version=self.api_version, session=session)
        # First in the hook list: call counters attached later see only the final answer.
        session.hooks.setdefault("response", [])[:0] = [SessionRenewal(self, sf), hide_query_in_errors]
        return sf


class SessionRenewal:
    """A response hook: on 401 INVALID_SESSION_ID, log in again (once per refused
    call; concurrent calls share one new login), put the new token on the client
    (`sf.session_id`, `sf.headers`) and send the call again through the adapter
    that sent it (so a single-attempt call stays single-attempt). Refused again, or
    the login failing, raises SourceAuthError naming the credentials."""

    def __init__(self, resource: SalesforceResource, sf: Salesforce):
        self.resource = resource
        self.sf = sf
        self.logins = 0  # new logins made after the first one
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, *args, **kwargs) -> requests.Response:
        if response.status_code != 401 or _error_code(response) != "INVALID_SESSION_ID":
            return response
        refused = describe(response)
        sent = (response.request.headers.get("Authorization") or "").partition(" ")[2]
        response.close()
        with self._lock:
            if sent == self.sf.session_id:  # not renewed yet by another call
                try:
                    _, token = self.resource.login(self.sf.session)
                except SourceAuthError as exc:
                    raise SourceAuthError(f"Salesforce session expired ({refused}) and logging in again "
                                          f"failed: {exc}", exc.status, exc.body) from None
                self.sf.session_id = token
                self.sf.headers["Authorization"] = f"Bearer {token}"
                self.logins += 1
            token = self.sf.session_id
        again = response.request.copy()
        again.headers["Authorization"] = f"Bearer {token}"
        if "X-SFDC-Session" in again.headers:  # Bulk API 1.0
            again.headers["X-SFDC-Session"] = token
        retried = response.connection.send(again, **kwargs)
        if retried.status_code == 401:
            retried.close()
            raise SourceAuthError(
                f"Salesforce refused a new session too ({describe(retried)}, after logging in again): "
                f"check {CREDENTIALS} and the connected app's access (client credentials flow, run-as user).",
                401)
        return retried


def hide_query_in_errors(response: requests.Response, *args, **kwargs) -> requests.Response:
    """A response hook: a failed response's `url` becomes `METHOD /path`, which is
    what simple-salesforce's exceptions then name (never the SOQL in `?q=`)."""
    if response.status_code >= 400 and response.request is not None:
        response.url = f"{response.request.method} {urlsplit(response.url or '').path}"
    return response


def source_error(exc: Exception) -> SourceError:
    """A simple-salesforce exception as a SourceError naming the call (`METHOD /path
    -> status`) and Salesforce's error codes and messages, never the query string."""
    status = getattr(exc, "status", None)
    url = str(getattr(exc, "url", "") or "")
    call = f"{urlsplit(url).path} " if "://" in url else (f"{url} " if url else "")  # hooks made it METHOD /path
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and all(isinstance(e, dict) for e in content):
        detail = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in content)
    else:
        detail = str(content)[:500]
    retried = " after retries" if status in RETRY_STATUSES else ""
    cls = SourceAuthError if status == 401 else SourceError
    hint = f" Check {CREDENTIALS}." if status == 401 else ""
    return cls(f"Salesforce call failed{retried} ({call}-> {status}): {detail}{hint}", status, str(content)[:500])


def _error_code(response: requests.Response) -> str | None:
    """The errorCode of a Salesforce REST error body ([{"errorCode": ..., "message": ...}])."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode")
    return body.get("errorCode") if isinstance(body, dict) else None


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
