"""Serve the report pages locally, where the CRM links point.

The Salesforce sync writes `CS_Report_URL__c` = `<REPORT_BASE_URL>/<account_id>.html`
(dbt/macros/links.sql); locally REPORT_BASE_URL defaults to
http://127.0.0.1:3100/reports (cs_platform.settings.LOCAL_REPORT_BASE_URL), its own
port rather than the Dagster UI's. This serves `data/reports/` (what the report
assets write) under that URL's path, from a background thread:

    from devkit.report_server import serve_reports
    base_url = serve_reports()          # -> "http://127.0.0.1:3100/reports"

Only GET/HEAD of files under the path; anything else is 404.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cs_platform import settings


class _ReportHandler(SimpleHTTPRequestHandler):
    url_prefix = "/reports"

    def translate_path(self, path: str) -> str:
        route = urlsplit(path).path
        if route != self.url_prefix and not route.startswith(self.url_prefix + "/"):
            return str(Path(self.directory) / ".not-served" / "missing")
        return super().translate_path(path[len(self.url_prefix):] or "/")

    def list_directory(self, path):  # no folder listings: ten thousand names help nobody
        self.send_error(404, "No listing")
        return None

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - quiet: the demo prints its own lines
        pass


class ReportServer:
    """`directory` served at `base_url` (its host, port and path). Port 0 picks a free one."""

    def __init__(self, directory: str | Path | None = None, base_url: str | None = None):
        self.directory = Path(directory) if directory is not None else settings.report_dir()
        parts = urlsplit(base_url or settings.report_base_url())
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the local report server serves http://host:port/path, not {base_url!r}")
        self.host, self.path = parts.hostname, parts.path.rstrip("/")
        self.port = parts.port if parts.port is not None else 80
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> ReportServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        handler = type("Handler", (_ReportHandler,), {"url_prefix": self.path})
        self._server = ThreadingHTTPServer((self.host, self.port),
                                           functools.partial(handler, directory=str(self.directory)))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="report-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReportServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_reports(directory: str | Path | None = None, base_url: str | None = None) -> str:
    """Serve `directory` (default data/reports/) at `base_url` (default REPORT_BASE_URL, else
    http://127.0.0.1:3100/reports) in a daemon thread, for as long as the process runs.
    Returns the base URL pages are under: <base>/<account_id>.html, <base>/renewals.html."""
    return ReportServer(directory, base_url).start().base_url
