"""Where KARTE-style export files (NPS responses, tour views) are dropped.

One small interface, two places: a local folder (the laptop, the demo's
`data/inbox/karte`) and a Cloud Storage prefix (`gs://bucket/prefix`, production).
The sensor lists file names with their content hashes (a corrected file dropped
under the same name is a new version); the asset reads one file by name and
hashes what it read the same way.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

import dagster as dg


class ExportFolder(Protocol):
    def list_files(self) -> list[str]:
        """Names (not paths) of the files directly in the folder, sorted."""

    def versions(self, names: list[str]) -> dict[str, str]:
        """Name -> content hash of those files (as `content_hash` of their bytes)."""

    def read_bytes(self, name: str) -> bytes:
        """The file's content."""

    def open_text(self, name: str) -> IO[str]:
        """A context manager yielding the file as UTF-8 text."""

    @staticmethod
    def content_hash(data: bytes) -> str:
        """The hash `versions` reports for a file with this content."""


def decode(data: bytes) -> IO[str]:
    """Export bytes as text: utf-8-sig drops a BOM some exporters write; newline="" as
    the csv module asks."""
    return io.StringIO(data.decode("utf-8-sig"), newline="")


class LocalExportFolder:
    def __init__(self, path: str):
        self.path = Path(path)

    def list_files(self) -> list[str]:
        if not self.path.is_dir():
            return []  # nothing dropped yet
        return sorted(p.name for p in self.path.iterdir() if p.is_file())

    def versions(self, names: list[str]) -> dict[str, str]:
        out = {}
        for name in names:
            stat = os.stat(self.path / name)
            # Hashed once per (path, size, mtime): the sensor asks every 30 s.
            cache_key = (str(self.path / name), stat.st_size, stat.st_mtime_ns)
            if cache_key not in _LOCAL_HASHES:
                _LOCAL_HASHES[cache_key] = self.content_hash(self.read_bytes(name))
            out[name] = _LOCAL_HASHES[cache_key]
        return out

    def read_bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    @contextmanager
    def open_text(self, name: str) -> Iterator[IO[str]]:
        yield decode(self.read_bytes(name))

    @staticmethod
    def content_hash(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()


_LOCAL_HASHES: dict[tuple[str, int, int], str] = {}


class GCSExportFolder:
    """`gs://bucket/prefix` through google-cloud-storage and application-default credentials."""

    def __init__(self, uri: str):
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        self.bucket_name = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def _bucket(self):
        from google.cloud import storage

        return storage.Client().bucket(self.bucket_name)

    def _blobs(self):
        # delimiter="/": only this prefix's own files, not those in sub-folders.
        blobs = self._bucket().client.list_blobs(self.bucket_name, prefix=self.prefix, delimiter="/")
        return {b.name[len(self.prefix):]: b for b in blobs if not b.name.endswith("/")}

    def list_files(self) -> list[str]:
        return sorted(self._blobs())

    def versions(self, names: list[str]) -> dict[str, str]:
        # The listing carries each object's MD5 (base64): no download needed.
        blobs = self._blobs()
        return {n: f"md5:{blobs[n].md5_hash}" if blobs[n].md5_hash else f"generation:{blobs[n].generation}"
                for n in names if n in blobs}

    def read_bytes(self, name: str) -> bytes:
        return self._bucket().blob(self.prefix + name).download_as_bytes()

    @contextmanager
    def open_text(self, name: str) -> Iterator[IO[str]]:
        yield decode(self.read_bytes(name))

    @staticmethod
    def content_hash(data: bytes) -> str:
        return "md5:" + base64.b64encode(hashlib.md5(data).digest()).decode()


class KarteExportsResource(dg.ConfigurableResource):
    # A local folder, or gs://bucket/prefix in production.
    location: str

    def folder(self) -> ExportFolder:
        if self.location.startswith("gs://"):
            return GCSExportFolder(self.location)
        return LocalExportFolder(self.location)
