"""Where KARTE-style export files (NPS responses, tour views) are dropped.

One small interface, two places: a local folder (the laptop, the demo's
`data/inbox/karte`) and a Cloud Storage prefix (`gs://bucket/prefix`, production).
The sensor lists file names; the asset opens one file by name.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

import dagster as dg


class ExportFolder(Protocol):
    def list_files(self) -> list[str]:
        """Names (not paths) of the files directly in the folder, sorted."""

    def open_text(self, name: str) -> IO[str]:
        """A context manager yielding the file as UTF-8 text."""


class LocalExportFolder:
    def __init__(self, path: str):
        self.path = Path(path)

    def list_files(self) -> list[str]:
        if not self.path.is_dir():
            return []  # nothing dropped yet
        return sorted(p.name for p in self.path.iterdir() if p.is_file())

    @contextmanager
    def open_text(self, name: str) -> Iterator[IO[str]]:
        # newline="" as the csv module asks; utf-8-sig drops a BOM some exporters write.
        with open(self.path / name, encoding="utf-8-sig", newline="") as handle:
            yield handle


class GCSExportFolder:
    """`gs://bucket/prefix` through google-cloud-storage and application-default credentials."""

    def __init__(self, uri: str):
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        self.bucket_name = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def _bucket(self):
        from google.cloud import storage

        return storage.Client().bucket(self.bucket_name)

    def list_files(self) -> list[str]:
        # delimiter="/": only this prefix's own files, not those in sub-folders.
        blobs = self._bucket().client.list_blobs(self.bucket_name, prefix=self.prefix, delimiter="/")
        return sorted(b.name[len(self.prefix):] for b in blobs if not b.name.endswith("/"))

    @contextmanager
    def open_text(self, name: str) -> Iterator[IO[str]]:
        data = self._bucket().blob(self.prefix + name).download_as_bytes()
        yield io.StringIO(data.decode("utf-8-sig"), newline="")


class KarteExportsResource(dg.ConfigurableResource):
    # A local folder, or gs://bucket/prefix in production.
    location: str

    def folder(self) -> ExportFolder:
        if self.location.startswith("gs://"):
            return GCSExportFolder(self.location)
        return LocalExportFolder(self.location)
