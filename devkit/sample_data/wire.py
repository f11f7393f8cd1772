"""Wire shapes: each vendor's spelling of timestamps and ids, and the output files.

The generator writes records exactly as each API returns them, so these helpers
are the only place where a vendor's format is spelled out.
"""

from __future__ import annotations

import csv
import string
from pathlib import Path
from typing import IO, Iterable, Sequence

import numpy as np
import orjson


def _iso_seconds(ts: Sequence[int] | np.ndarray) -> list[str]:
    seconds = np.asarray(ts, dtype=np.int64).astype("datetime64[s]")
    return np.datetime_as_string(seconds, unit="s").tolist()


def salesforce_datetimes(ts) -> list[str]:
    """`2026-11-01T10:00:00.000+0000`."""
    return [s + ".000+0000" for s in _iso_seconds(ts)]


def iso_ms_z(ts) -> list[str]:
    """`2026-11-01T10:00:00.000Z` (HubSpot, Airtable)."""
    return [s + ".000Z" for s in _iso_seconds(ts)]


def iso_z(ts) -> list[str]:
    """`2026-11-01T10:00:00Z` (Freshdesk, KARTE exports)."""
    return [s + "Z" for s in _iso_seconds(ts)]


def sql_datetimes(ts) -> list[str]:
    """`2026-11-01 10:00:00.000000`: SQLAlchemy's own spelling of DateTime on SQLite.

    Written as text so a bulk load skips per-value conversion; it must be exactly
    SQLAlchemy's spelling, since SQLite compares the stored text with bound values.
    PostgreSQL and MySQL parse it as a timestamp.
    """
    return [s.replace("T", " ") + ".000000" for s in _iso_seconds(ts)]


def iso_dates(epoch_days) -> list[str]:
    """`2026-11-01`."""
    days = np.asarray(epoch_days, dtype=np.int64).astype("datetime64[D]")
    return np.datetime_as_string(days, unit="D").tolist()


def ga_dates(epoch_days) -> list[str]:
    """`20261101`: the GA4 Data API's `date` dimension."""
    return [s.replace("-", "") for s in iso_dates(epoch_days)]


def nullable(values: list, present: np.ndarray) -> list:
    return [v if ok else None for v, ok in zip(values, present.tolist())]


_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_BASE62_BYTES = np.frombuffer(_BASE62.encode(), dtype=np.uint8)
_SF_CHECKSUM = np.frombuffer((string.ascii_uppercase + "012345").encode(), dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def salesforce_ids(prefix: str, serials) -> list[str]:
    """18-character Salesforce ids: key prefix (001 Account, 003 Contact, ...), pod, a
    base-62 serial, and the case-safety suffix Salesforce derives from the first 15."""
    rest = np.asarray(serials, dtype=np.int64)
    chars = np.empty((len(rest), 18), dtype=np.uint8)
    chars[:, :6] = np.frombuffer(f"{prefix}8d0".encode(), dtype=np.uint8)
    for k in range(14, 5, -1):
        rest, digit = np.divmod(rest, 62)
        chars[:, k] = _BASE62_BYTES[digit]
    upper = (chars[:, :15] >= ord("A")) & (chars[:, :15] <= ord("Z"))
    chars[:, 15:] = _SF_CHECKSUM[(upper.reshape(-1, 3, 5) << np.arange(5)).sum(axis=2)]
    return _strings(chars)


def uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Random (version 4) UUIDs drawn from `rng`."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40  # version 4
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80  # RFC 4122 variant
    hexed = np.stack([_HEX[raw >> 4], _HEX[raw & 0x0F]], axis=2).reshape(n, 32)
    dash = np.full((n, 1), ord("-"), dtype=np.uint8)
    return _strings(np.hstack([hexed[:, :8], dash, hexed[:, 8:12], dash, hexed[:, 12:16], dash,
                               hexed[:, 16:20], dash, hexed[:, 20:]]))


def base62_ids(rng: np.random.Generator, n: int, prefix: str, length: int) -> list[str]:
    """Random ids such as Airtable's `rec` + 14 characters."""
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (n, len(prefix)))
    return _strings(np.hstack([head, _BASE62_BYTES[rng.integers(0, 62, size=(n, length))]]))


def _strings(chars: np.ndarray) -> list[str]:
    """Rows of ASCII codes to Python strings."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    return chars.view(f"S{chars.shape[1]}").ravel().astype(str).tolist() if len(chars) else []


class _File:
    def __init__(self, outputs: Outputs, key: str, relpath: str, handle: IO):
        self._outputs, self._key, self._relpath, self._handle = outputs, key, relpath, handle
        outputs.count(key, 0, relpath)

    def close(self) -> None:
        self._handle.close()


class JsonlFile(_File):
    def __init__(self, outputs: Outputs, key: str, relpath: str):
        super().__init__(outputs, key, relpath, open(outputs.path(relpath), "wb"))

    def write(self, records: list[dict]) -> None:
        """Append one JSON object per line.

        One orjson call for the whole list is about ten times faster than one per record.
        Its output `[r1,r2,...]` has no whitespace, and `},{"` can only occur between two
        objects of a list (inside a string the quote would be escaped), so splitting there
        yields the records, provided no record holds a list of objects: the count checks it.
        """
        if not records:
            return
        lines = orjson.dumps(records)[1:-1].replace(b'},{"', b'}\n{"')
        if lines.count(b"\n") != len(records) - 1:
            raise ValueError(f"{self._relpath}: a record holds a list of objects; cannot split lines")
        self._handle.write(lines + b"\n")
        self._outputs.count(self._key, len(records), self._relpath)


class CsvFile(_File):
    def __init__(self, outputs: Outputs, key: str, relpath: str, header: Sequence[str]):
        handle = open(outputs.path(relpath), "w", encoding="utf-8", newline="")
        super().__init__(outputs, key, relpath, handle)
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(header)

    def write(self, rows: list[tuple]) -> None:
        self._writer.writerows(rows)
        self._outputs.count(self._key, len(rows), self._relpath)


class Outputs:
    """The files of one run, and the row count of every object and file for the manifest."""

    def __init__(self, root: Path, keys: Iterable[str]):
        self.root = root
        self.row_counts: dict[str, int] = {key: 0 for key in keys}
        self.files: dict[str, dict[str, int]] = {}
        self._open: list[_File] = []

    def jsonl(self, key: str, relpath: str) -> JsonlFile:
        return self._track(JsonlFile(self, key, relpath))

    def csv(self, key: str, relpath: str, header: Sequence[str]) -> CsvFile:
        return self._track(CsvFile(self, key, relpath, header))

    def path(self, relpath: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def count(self, key: str, rows: int, relpath: str | None = None) -> None:
        self.row_counts[key] += rows
        if relpath is not None:
            per_file = self.files.setdefault(key, {})
            per_file[relpath] = per_file.get(relpath, 0) + rows

    def close(self) -> None:
        for file in self._open:
            file.close()

    def _track(self, file):
        self._open.append(file)
        return file
