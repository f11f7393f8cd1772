"""`Sandbox`: all API emulators in one process, one server thread per API, plus the
admin API (`/__sandbox/...` on every server, mirrored by Python methods).

    with Sandbox("data/sample") as sandbox:
        os.environ.update(sandbox.env())
        ...
        sandbox.add_fault(route="composite/sobjects", sequence=[429, 500], retry_after=0)
        assert sandbox.calls()["routes"]["PATCH /composite/sobjects/Account/Product_Account_Id__c"] == 3
"""

from __future__ import annotations

import json
import logging
import shutil
import ssl
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import trustme

from .airtable import AirtableApi
from .base import Api, ApiError, ApiHttpServer, BadRequest, Control, Request, Response
from .freshdesk import FreshdeskApi
from .google_analytics import GoogleAnalyticsApi
from .hubspot import HubSpotApi
from .salesforce import SalesforceApi
from .slack import DEFAULT_CHANNEL_BURST, DEFAULT_CHANNEL_RATE, SlackApi
from .store import Clock

log = logging.getLogger("devkit.sandbox")

APIS = ("salesforce", "hubspot", "freshdesk", "airtable", "google_analytics", "slack")
DEFAULT_PORTS = {"salesforce": 8443, "hubspot": 8701, "freshdesk": 8702, "airtable": 8703,
                 "google_analytics": 8704, "slack": 8705}

# Fixed local test credentials. The sandbox checks them and answers each vendor's 401
# on a wrong one, so a client that drops or garbles a credential fails here as in production.
CREDENTIALS = {
    "SALESFORCE_CLIENT_ID": "sandbox-salesforce-client-id",
    "SALESFORCE_CLIENT_SECRET": "sandbox-salesforce-client-secret",
    "HUBSPOT_ACCESS_TOKEN": "pat-na1-sandbox-hubspot-token",
    "FRESHDESK_API_KEY": "sandbox-freshdesk-api-key",
    "AIRTABLE_TOKEN": "patSandboxAirtableToken.sandbox",
    "AIRTABLE_BASE_ID": "appSandboxBase001",
    "GA4_PROPERTY_ID": "123456789",
    "GA4_ACCESS_TOKEN": "ya29.sandbox-ga4-access-token",
    "SLACK_BOT_TOKEN": "sandbox-slack-bot-token-not-a-secret",  # the sandbox only; not the xoxb- shape of a real one
}
SLACK_WEBHOOK_PATH = "/services/T00SANDBOX/B00SANDBOX/sandboxWebhookSecret0001"
# The CRM-side custom fields / properties an admin creates for the shipped syncs.
DEFAULT_CRM_SETUP = Path(__file__).with_name("crm_setup.yaml")


class Sandbox:
    """Local emulators of the SaaS APIs, serving `data_dir` (the sample-data layout:
    salesforce/<ApiName>.jsonl, hubspot/*.jsonl, freshdesk/*.jsonl, airtable/*.jsonl,
    google_analytics/*.jsonl; missing files are empty objects; None serves nothing).

    ports: API name -> port; missing or 0 = an ephemeral port (what tests want).
    state_dir: where ca.pem and writes.jsonl go (default: a temporary directory).
    seed: seeds fault error rates and the shuffling of unordered results.
    salesforce_page_size: SOQL page size (Salesforce: 2000; tests use small ones).
    salesforce_api_limit: the org's request limit in Sforce-Limit-Info (403 past it).
    bulk_processing_seconds: how long a closed Bulk API 2.0 job runs, on the wall clock, before
        it is JobComplete (or Failed) and its records applied, polled or not; a small
        per-record cost is added (x(1 + rows/10,000)); 0 completes jobs at once.
    hubspot_rate_limit: calls per 10 s advertised in X-HubSpot-RateLimit-*; enforced with
        429 RATE_LIMITS only when enforce_hubspot_rate_limit is true.
    hubspot_daily_limit: HubSpot calls per day (X-HubSpot-RateLimit-Daily); past it every
        call is a 429 with policyName DAILY until reset().
    slack_channel_burst / slack_channel_rate: Slack's posting limit per conversation, a leaky
        bucket of `burst` messages refilled at `rate` a second (devkit/sandbox/slack.py);
        past it chat.postMessage answers 429 with Retry-After. Burst 0: no limit.
    crm_setup: the CRM setup YAML (custom Salesforce fields, custom HubSpot properties)
        the emulators declare on top of the vendors' standard ones; default
        devkit/sandbox/crm_setup.yaml; None declares no custom fields or properties.
    now: a clock for modification stamps (default: the wall clock).
    """

    def __init__(self, data_dir: str | Path | None = None, host: str = "127.0.0.1",
                 ports: dict[str, int] | None = None, state_dir: str | Path | None = None, *,
                 seed: int = 0, salesforce_page_size: int = 2000, salesforce_api_limit: int = 100_000,
                 bulk_processing_seconds: float = 0.2, hubspot_rate_limit: int = 190,
                 enforce_hubspot_rate_limit: bool = False, hubspot_daily_limit: int = 250_000,
                 slack_channel_burst: int = DEFAULT_CHANNEL_BURST, slack_channel_rate: float = DEFAULT_CHANNEL_RATE,
                 crm_setup: str | Path | None = DEFAULT_CRM_SETUP, now: Callable[[], datetime] | None = None):
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise FileNotFoundError(f"sandbox data directory {self.data_dir} does not exist; generate the sample "
                                    "data first (python -m devkit.sample_data)")
        unknown = set(ports or {}) - set(APIS)
        if unknown:
            raise ValueError(f"unknown APIs in ports: {sorted(unknown)}; known: {list(APIS)}")
        self.host = host
        self.crm_setup = Path(crm_setup) if crm_setup is not None else None
        self.ports = {api: int((ports or {}).get(api, 0)) for api in APIS}
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="cs-sandbox-"))
        self.clock = Clock(now)
        self.control = Control(self.state_dir / "writes.jsonl", seed)
        c = CREDENTIALS
        self.apis: dict[str, Api] = {
            "salesforce": SalesforceApi(self.control, self.clock, client_id=c["SALESFORCE_CLIENT_ID"],
                                        client_secret=c["SALESFORCE_CLIENT_SECRET"], page_size=salesforce_page_size,
                                        api_limit=salesforce_api_limit,
                                        bulk_processing_seconds=bulk_processing_seconds, crm_setup=self.crm_setup),
            "hubspot": HubSpotApi(self.control, self.clock, access_token=c["HUBSPOT_ACCESS_TOKEN"],
                                  rate_limit_max=hubspot_rate_limit, enforce_rate_limit=enforce_hubspot_rate_limit,
                                  daily_limit=hubspot_daily_limit, crm_setup=self.crm_setup),
            "freshdesk": FreshdeskApi(self.control, self.clock, api_key=c["FRESHDESK_API_KEY"]),
            "airtable": AirtableApi(self.control, self.clock, token=c["AIRTABLE_TOKEN"], base_id=c["AIRTABLE_BASE_ID"]),
            "google_analytics": GoogleAnalyticsApi(self.control, self.clock, property_id=c["GA4_PROPERTY_ID"],
                                                   access_token=c["GA4_ACCESS_TOKEN"]),
            "slack": SlackApi(self.control, self.clock, webhook_path=SLACK_WEBHOOK_PATH,
                              bot_token=c["SLACK_BOT_TOKEN"], channel_burst=slack_channel_burst,
                              channel_rate=slack_channel_rate),
        }
        self.urls: dict[str, str] = {}
        self.ca_path = self.state_dir / "ca.pem"
        self._servers: dict[str, ApiHttpServer] = {}
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Sandbox":
        if self._servers:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.control.open()
        self._load()
        tls = self._tls_context()
        url_host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        try:
            for name, api in self.apis.items():
                try:
                    server = ApiHttpServer((self.host, self.ports[name]), api, self._admin,
                                           tls if api.scheme == "https" else None)
                except OSError as exc:
                    raise OSError(
                        f"sandbox: cannot listen for {name} on {self.host}:{self.ports[name]}: {exc}") from exc
                self._servers[name] = server
                port = server.server_address[1]
                api.base_url = f"{api.scheme}://{url_host}:{port}"
                self.urls[name] = api.base_url
        except BaseException:
            self.stop()
            raise
        # Every socket listens before any thread serves, so once start() returns (and the
        # CLI writes endpoints.json) every API answers.
        for name, server in self._servers.items():
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"sandbox-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("sandbox serving %s", ", ".join(f"{k}={v}" for k, v in self.urls.items()))
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        self.control.close()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _tls_context(self) -> ssl.SSLContext:
        # A throwaway CA per start; clients trust it through SALESFORCE_CA_BUNDLE.
        ca = trustme.CA(organization_name="cs_platform sandbox")
        names = dict.fromkeys(["127.0.0.1", "localhost", *([self.host] if self.host not in ("", "0.0.0.0", "::")
                                                             else [])])
        cert = ca.issue_cert(*names)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        ca.cert_pem.write_to_path(str(self.ca_path))
        return context

    def _load(self) -> None:
        for api in self.apis.values():
            with api.lock:
                api.load(self.data_dir)

    # ------------------------------------------------------------------ what clients need
    def env(self) -> dict[str, str]:
        """The variables the platform's local settings read, pointing at this sandbox."""
        if not self.urls:
            raise RuntimeError("start the sandbox first")
        c = CREDENTIALS
        return {
            "SALESFORCE_LOGIN_URL": self.urls["salesforce"],
            "SALESFORCE_CLIENT_ID": c["SALESFORCE_CLIENT_ID"],
            "SALESFORCE_CLIENT_SECRET": c["SALESFORCE_CLIENT_SECRET"],
            "SALESFORCE_CA_BUNDLE": str(self.ca_path.resolve()),
            "HUBSPOT_BASE_URL": self.urls["hubspot"],
            "HUBSPOT_ACCESS_TOKEN": c["HUBSPOT_ACCESS_TOKEN"],
            "FRESHDESK_BASE_URL": self.urls["freshdesk"],
            "FRESHDESK_API_KEY": c["FRESHDESK_API_KEY"],
            "AIRTABLE_BASE_URL": self.urls["airtable"],
            "AIRTABLE_TOKEN": c["AIRTABLE_TOKEN"],
            "AIRTABLE_BASE_ID": c["AIRTABLE_BASE_ID"],
            "GA4_BASE_URL": self.urls["google_analytics"],
            "GA4_PROPERTY_ID": c["GA4_PROPERTY_ID"],
            "GA4_ACCESS_TOKEN": c["GA4_ACCESS_TOKEN"],
            "SLACK_WEBHOOK_URL": self.urls["slack"] + SLACK_WEBHOOK_PATH,
            "SLACK_BOT_TOKEN": c["SLACK_BOT_TOKEN"],
            "SLACK_API_URL": self.urls["slack"] + "/api",
        }

    # ------------------------------------------------------------------ control (Python side)
    def calls(self, api: str | None = None) -> dict:
        """{"total": n, "routes": {"METHOD label": n}, "by_api": {...}} (by_api only without api=)."""
        return self.control.call_counts(api)

    def writes(self, api: str | None = None, object: str | None = None, since: int = 0) -> list[dict]:
        return self.control.list_writes(api, object, since)

    def slack_messages(self, channel: str | None = None, since: int = 0) -> list[dict]:
        """Messages the Slack Web API accepted (chat.postMessage), oldest first, each
        {channel (C.../D... id), channel_name (None for a DM), user (the DM's user id, else
        None), text, blocks, ts}; `channel` filters by id or name (`#name` too)."""
        wanted = channel[1:] if channel and channel.startswith("#") else channel
        return [record for write in self.writes("slack", "message", since) for record in write["records"]
                if wanted is None or wanted in (record["channel"], record["channel_name"])]

    def reset(self) -> None:
        """Reload the data and clear calls, writes, faults, query cursors and Bulk jobs
        (and restore the Salesforce client secret, cancelling a pending session expiry)."""
        for api in self.apis.values():
            api.lock.acquire()
        try:
            self.control.reset()
            for api in self.apis.values():
                api.load(self.data_dir)
        finally:
            for api in self.apis.values():
                api.lock.release()

    def add_fault(self, **spec: Any) -> dict:
        """Add a fault rule (see base.Fault for the keys); returns it with its id."""
        return self.control.add_fault(spec)

    def faults(self) -> list[dict]:
        return self.control.list_faults()

    def clear_faults(self) -> None:
        self.control.clear_faults()

    def add_salesforce_field(self, sobject: str, name: str, type: str = "string",  # noqa: A002
                             externalId: bool = False, unique: bool = False,  # noqa: N803 - describe names
                             length: int | None = None) -> dict:
        """Declare a Salesforce custom field at runtime, standing in for an admin adding it
        in Setup (type: a describe type: string, double, int, boolean, date, datetime, url,
        textarea, ...). It lasts until reset(). Returns its describe entry."""
        return self.apis["salesforce"].add_field(sobject, name, type=type, externalId=externalId, unique=unique,
                                                 length=length)

    def expire_salesforce_sessions(self, after_calls: int = 0, revoke: bool = False) -> None:
        """Expire every Salesforce access token issued so far, now or once `after_calls`
        more authenticated calls have passed (e.g. 1: after the first page of a query):
        the next call answers 401 INVALID_SESSION_ID, as when a session times out mid-run.
        `revoke`: the client secret is rotated at that moment too (until reset()), as
        when an admin revokes the connected app, so logging in again fails."""
        self.apis["salesforce"].expire_sessions(after_calls, revoke)

    def rotate_salesforce_secret(self, new_secret: str | None = None) -> str:
        """Rotate the connected app's client secret (until reset()): logins with the
        configured one fail with 400 invalid_client. Returns the new secret."""
        return self.apis["salesforce"].rotate_secret(new_secret)

    def mutate(self, object: str, op: str, records: list[dict]) -> list[dict]:
        """Change source data as a user would in the tool: op update | insert | delete.
        `object` is "<tool>/<name>" (salesforce/Account, hubspot/companies, ...) or a bare
        name when unambiguous. Modification stamps move to now."""
        api, name = self._resolve_object(object, None)
        with api.lock:
            return api.mutate(name, op, records)

    def records(self, object: str, key: str | None = None) -> list[dict]:
        """The stored records of an object (or the one with primary key `key`)."""
        api, name = self._resolve_object(object, None)
        with api.lock:
            return json.loads(json.dumps(api.dump(name, key), default=str))

    def _resolve_object(self, object: str, preferred: Api | None) -> tuple[Api, str]:
        if not object:
            raise BadRequest("object is required, e.g. salesforce/Account or hubspot/companies")
        tool, _, name = object.partition("/")
        if name and tool in self.apis:
            api = self.apis[tool]
            if name not in api.objects() and not any(o.lower() == name.lower() for o in api.objects()):
                raise BadRequest(f"{tool} has no object {name!r}; known: {api.objects()}")
            return api, name
        if preferred is not None and object in preferred.objects():
            return preferred, object
        owners = [api for api in self.apis.values()
                  if object in api.objects() or any(o.lower() == object.lower() for o in api.objects())]
        if len(owners) == 1:
            return owners[0], object
        if not owners:
            raise BadRequest(f"unknown object {object!r}; use <tool>/<name>, e.g. salesforce/Account")
        raise BadRequest(f"object {object!r} is ambiguous ({[a.name for a in owners]}); use <tool>/{object}")

    # ------------------------------------------------------------------ control (HTTP side)
    def _admin(self, api: Api, request: Request) -> Response:
        """/__sandbox/... on every server: the same operations as the methods above,
        for tests and benchmarks running in another process."""
        action = request.path[len("/__sandbox/"):].strip("/")
        method = request.method
        try:
            if action == "health" and method == "GET":
                return Response.json({"ok": True, "api": api.name, "urls": self.urls})
            if action == "endpoints" and method == "GET":
                return Response.json(self.env())
            if action == "calls" and method == "GET":
                return Response.json(self.calls(request.arg("api")))
            if action == "writes" and method == "GET":
                return Response.json({"writes": self.writes(request.arg("api"), request.arg("object"),
                                                            int(request.arg("since") or 0))})
            if action == "reset" and method == "POST":
                self.reset()
                return Response.json({"ok": True})
            if action == "faults":
                if method == "GET":
                    return Response.json({"faults": self.faults()})
                if method == "DELETE":
                    self.clear_faults()
                    return Response.json({"faults": []})
                if method == "POST":
                    body = request.json()
                    specs = body.get("faults") if isinstance(body, dict) and "faults" in body else body
                    specs = specs if isinstance(specs, list) else [specs]
                    return Response.json({"faults": [self.add_fault(**spec) for spec in specs]})
            if action == "salesforce/fields" and method == "POST":
                body = request.json()
                if not isinstance(body, dict) or not body.get("sobject") or not body.get("name"):
                    raise BadRequest("expected {sobject, name, type, externalId, unique, length}")
                return Response.json({"ok": True, "field": self.add_salesforce_field(**body)})
            if action == "salesforce/expire_sessions" and method == "POST":
                body = request.json() if request.body else {}
                self.expire_salesforce_sessions(int((body or {}).get("after_calls") or 0),
                                                bool((body or {}).get("revoke")))
                return Response.json({"ok": True})
            if action == "salesforce/rotate_secret" and method == "POST":
                body = request.json() if request.body else {}
                self.rotate_salesforce_secret((body or {}).get("secret"))
                return Response.json({"ok": True})
            if action == "records":
                if method == "POST":
                    body = request.json()
                    target, name = self._resolve_object(body.get("object"), api)
                    records = body.get("records")
                    if not isinstance(records, list):
                        raise BadRequest("records must be a list")
                    with target.lock:
                        changed = target.mutate(name, body.get("op"), records)
                    return Response.json({"ok": True, "records": changed})
                if method == "GET":
                    target, name = self._resolve_object(request.arg("object"), api)
                    with target.lock:
                        return Response.json({"records": target.dump(name, request.arg("key"))})
        except ApiError as exc:
            return Response.json({"error": exc.message}, exc.status)
        except (TypeError, ValueError) as exc:
            return Response.json({"error": str(exc)}, 400)
        return Response.json({"error": f"unknown admin call {method} {request.path}", "known": [
            "GET health", "GET endpoints", "GET calls", "GET writes", "POST reset", "GET/POST/DELETE faults",
            "GET/POST records", "POST salesforce/fields",
            "POST salesforce/expire_sessions", "POST salesforce/rotate_secret"]}, 404)
