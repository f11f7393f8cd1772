"""Where the report pages go: a folder locally (`data/reports/`), a GCS location in
production (`REPORT_BUCKET` = gs://bucket/prefix, through dagster-gcp's GCSResource).

Both stores take the same calls with paths relative to the report root
(`<account_id>.html`, `customer/<account_id>.html`, `assets/...`). Every write is
whole or nothing: a local file is written beside its target and renamed over it
(a run that dies mid-write leaves the previous page, never half of one); a GCS
object upload is atomic by itself.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr


def content_type(path: str) -> str:
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith(("javascript", "json")) else kind


class ReportStore(dg.ConfigurableResource):
    """Write, read and delete report files by their path under the report root."""

    @abstractmethod
    def write_files(self, files: Iterable[tuple[str, bytes]]) -> int:
        """Write each (path, bytes), each one atomically; returns how many were written."""

    @abstractmethod
    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def delete(self, paths: Sequence[str]) -> int:
        """Delete the files that exist; returns how many were deleted."""

    @abstractmethod
    def describe_location(self) -> str:
        """Where the root is, for asset metadata (a folder or gs://bucket/prefix)."""


class LocalReportStore(ReportStore):
    """A folder on this machine (`data/reports/`, served by devkit/report_server.py)."""

    root: str

    def _path(self, path: str) -> Path:
        root = Path(self.root).resolve()
        target = (root / path).resolve()
        if root not in target.parents:
            raise ValueError(f"report path {path!r} is outside the report folder {root}")
        return target

    def write_files(self, files):
        written = 0
        for path, data in files:
            target = self._path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                temporary.write_bytes(data)
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            written += 1
        return written

    def read(self, path):
        target = self._path(path)
        return target.read_bytes() if target.exists() else None

    def exists(self, path):
        return self._path(path).exists()

    def delete(self, paths):
        deleted = 0
        for path in paths:
            target = self._path(path)
            if target.exists():
                target.unlink()
                deleted += 1
        return deleted

    def describe_location(self):
        return str(Path(self.root).resolve())


class GCSReportStore(ReportStore):
    """A GCS location, gs://bucket/prefix, uploaded to through dagster-gcp's GCSResource
    (application-default credentials: the runtime's service account). The pages are served
    from there behind the company's access control (REPORT_BASE_URL)."""

    location: str
    project: str | None = None
    upload_threads: int = 16

    _bucket = PrivateAttr(default=None)

    def _split(self) -> tuple[str, str]:
        if not self.location.startswith("gs://") or len(self.location) <= len("gs://"):
            raise ValueError(f"REPORT_BUCKET must be gs://bucket/prefix, got {self.location!r}")
        bucket, _, prefix = self.location[len("gs://"):].partition("/")
        return bucket, prefix.strip("/")

    def _blob(self, path: str):
        if self._bucket is None:
            from dagster_gcp import GCSResource

            bucket, _ = self._split()
            self._bucket = GCSResource(project=self.project).get_client().bucket(bucket)
        _, prefix = self._split()
        return self._bucket.blob(f"{prefix}/{path}" if prefix else path)

    def write_files(self, files):
        def upload(item: tuple[str, bytes]) -> None:
            path, data = item
            blob = self._blob(path)
            # Pages change between runs: browsers and proxies must not keep a stale one.
            blob.cache_control = "no-cache" if path.endswith(".html") else "public, max-age=86400"
            blob.upload_from_string(data, content_type=content_type(path))

        items = list(files)
        if items:
            self._blob(items[0][0])  # make the client once, before the threads share it
        with ThreadPoolExecutor(max(1, self.upload_threads)) as pool:
            list(pool.map(upload, items))
        return len(items)

    def read(self, path):
        from google.api_core.exceptions import NotFound

        try:
            return self._blob(path).download_as_bytes()
        except NotFound:
            return None

    def exists(self, path):
        return self._blob(path).exists()

    def delete(self, paths):
        from google.api_core.exceptions import NotFound

        deleted = 0
        for path in paths:
            try:
                self._blob(path).delete()
                deleted += 1
            except NotFound:
                pass
        return deleted

    def describe_location(self):
        return self.location
