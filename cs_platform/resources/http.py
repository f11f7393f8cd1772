"""HTTP plumbing shared by every API client: retries, error messages, secret hygiene.

Retries are urllib3's `Retry` (backoff, Retry-After honoured on 429/503), not a
hand-rolled loop. A Retry-After is honoured up to `max_retry_after_seconds`
(default 5 minutes; urllib3 alone would sleep up to 6 hours per retry): past it
the call fails at once, naming the API, the call and the asked wait. A 401/403 is
never retried: it fails at once, naming the setting to check. Error messages carry
the method and path, never the query string or headers, because those can hold tokens.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
DEFAULT_MAX_RETRY_AFTER_SECONDS = 300.0  # the longest Retry-After a call waits out
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class SourceError(RuntimeError):
    """A call to a source or destination API failed; the message says which and why.
    `status` is the HTTP status of the answer (None when there was none)."""

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class SourceAuthError(SourceError):
    """The API rejected our credentials. Not retried: check the named setting."""


class RetryAfterTooLong(SourceError):
    """The API asked (Retry-After) for a longer wait than `max_retry_after_seconds`:
    the call fails at once rather than holding the run (and its slot) for hours."""

    def __init__(self, message: str, status: int | None, retry_after: float):
        super().__init__(message, status)
        self.retry_after = retry_after


class CappedRetry(Retry):
    """urllib3's Retry, with a Retry-After past `retry_after_max` refused instead of
    slept (urllib3 clamps it to that and sleeps; its default is 6 hours). `source`
    names the API in the error ("HubSpot"); None names the host. The path is named
    only when `show_path` (default: when `source` is given): a caller that has not
    said which API it calls may hold a secret in its path (Slack's webhook URL)."""

    def __init__(self, *args, source: str | None = None, show_path: bool | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source
        self.show_path = source is not None if show_path is None else show_path

    def new(self, **kw):
        kw.setdefault("source", self.source)
        kw.setdefault("show_path", self.show_path)
        return super().new(**kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        asked = self._asked_wait(response)
        if asked is not None and asked > self.retry_after_max:
            if response is not None:
                response.drain_conn()  # the connection goes back to the pool
            source = self.source or (getattr(_pool, "host", None) or "The API")
            call = f"{method} {urlsplit(url or '').path or '/'}" if self.show_path else f"a {method} call"
            raise RetryAfterTooLong(
                f"{source} asked to wait {asked:.0f} s (Retry-After) on {call}; the cap is "
                f"{self.retry_after_max:.0f} s (max_retry_after_seconds). Not waiting: run again later, "
                "or raise the setting if such waits are expected.",
                getattr(response, "status", None), asked)
        return super().increment(method, url, response=response, error=error, _pool=_pool,
                                 _stacktrace=_stacktrace)

    def _asked_wait(self, response) -> float | None:
        """The Retry-After of a response that is to be retried, uncapped (None: none)."""
        if response is None or not self.respect_retry_after_header or response.get_redirect_location():
            return None
        header = response.headers.get("Retry-After")
        if header is None:
            return None
        try:
            return _UNCAPPED.parse_retry_after(header)
        except InvalidHeader:
            return None  # urllib3 reports it when it sleeps, as before


_UNCAPPED = Retry(retry_after_max=2**62)


class CallCounter:
    """A `requests` response hook counting the HTTP calls made through a session:
    `responses` (one per page read or write sent), `calls` (with the retries urllib3
    made, which count against the API's limits too), `write_calls`, and the org's
    usage of the daily API budget: Salesforce's `Sforce-Limit-Info: api-usage=USED/MAX`
    header, HubSpot's `X-HubSpot-RateLimit-Daily` / `-Daily-Remaining`
    (https://developers.hubspot.com/docs/api/usage-details). Thread-safe: HubSpot
    batches are sent concurrently through one session."""

    WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

    def __init__(self):
        self.responses = 0
        self.calls = 0
        self.write_calls = 0
        self.api_used: int | None = None
        self.api_max: int | None = None
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, *args, **kwargs):
        retries = getattr(getattr(response.raw, "retries", None), "history", None) or ()
        n = 1 + len(retries)
        method = (response.request.method or "").upper() if response.request is not None else ""
        usage = _daily_usage(response.headers)
        with self._lock:
            self.responses += 1
            self.calls += n
            if method in self.WRITE_METHODS:
                self.write_calls += n
            if usage is not None:
                self.api_used, self.api_max = usage
        return response

    def attach(self, session: requests.Session) -> CallCounter:
        session.hooks.setdefault("response", []).append(self)
        return self

    def detach(self, session: requests.Session) -> None:
        hooks = session.hooks.get("response", [])
        if self in hooks:
            hooks.remove(self)


def _daily_usage(headers) -> tuple[int, int] | None:
    """(used, max) of the daily API budget a response reports, or None."""
    info = headers.get("Sforce-Limit-Info")
    if info and (m := _LIMIT_INFO.search(info)):
        return int(m.group(1)), int(m.group(2))
    daily, remaining = headers.get("X-HubSpot-RateLimit-Daily"), headers.get("X-HubSpot-RateLimit-Daily-Remaining")
    if daily and remaining and daily.isdigit() and remaining.isdigit():
        return int(daily) - int(remaining), int(daily)
    return None


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that gives every call a timeout when its caller set none:
    libraries (simple-salesforce's Collections, query and Bulk calls) pass
    `timeout=None`, which waits on a held connection forever."""

    def __init__(self, *args, timeout: float | None = None, **kwargs):
        self.default_timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request, timeout=None, **kwargs):
        return super().send(request, timeout=self.default_timeout if timeout is None else timeout, **kwargs)


def retrying_session(
    *,
    total: int = 6,
    backoff_factor: float = 0.5,
    backoff_max: float = 60.0,
    ca_bundle: str | None = None,
    timeout: float | None = None,
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS,
    source: str | None = None,
    show_path: bool | None = None,
) -> requests.Session:
    """A `requests.Session` that retries 429 and 5xx with exponential backoff and
    honours Retry-After up to `max_retry_after_seconds` (a longer asked wait raises
    `RetryAfterTooLong`, naming `source`, e.g. "HubSpot", or else the host, and the
    call's method and path; the path only with `source` unless `show_path`), and
    (with `timeout`) never waits on a call longer than that. All methods are
    retried: the platform's writes are upserts keyed by external IDs, so a repeat
    cannot create a record twice. The one kind of call that is not idempotent (a
    plain create) goes through `single_attempt(session)`."""
    retry = CappedRetry(
        total=total,
        connect=3,
        read=3,
        status=total,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,
        respect_retry_after_header=True,
        retry_after_max=max_retry_after_seconds,
        raise_on_status=False,
        source=source,
        show_path=show_path,
    )
    session = requests.Session()
    adapter = TimeoutHTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=8, timeout=timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if ca_bundle:
        # REQUESTS_CA_BUNDLE in the environment would override session.verify; a
        # configured CA (the sandbox's test CA) must win, so ignore the environment.
        session.trust_env = False
        session.verify = ca_bundle
    return session


def single_attempt(session: requests.Session) -> requests.Session:
    """A session like `session` (headers, CA trust, hooks, timeout) that never
    retries: for calls that create records (sObject Collections POST, HubSpot
    batch/create), where a retry after a lost answer would create them twice."""
    plain = requests.Session()
    plain.headers.update(session.headers)
    plain.verify, plain.trust_env, plain.auth = session.verify, session.trust_env, session.auth
    plain.hooks = {name: list(hooks) for name, hooks in session.hooks.items()}
    timeout = getattr(session.get_adapter("https://"), "default_timeout", None)
    adapter = TimeoutHTTPAdapter(max_retries=Retry(total=0, connect=0, read=0, status=0, redirect=0,
                                                   raise_on_status=False), timeout=timeout)
    plain.mount("https://", adapter)
    plain.mount("http://", adapter)
    return plain


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
            f"Response: {body}", response.status_code, body)
    retried = " after retries" if response.status_code in RETRY_STATUSES else ""
    raise SourceError(f"{source} call failed{retried} ({describe(response)}): {body}", response.status_code, body)
