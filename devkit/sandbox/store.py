"""In-memory record storage shared by the emulators: indexed tables, a clock, timestamps.

The benchmark pushes 10,000 records through the write endpoints and reads 10k-row
datasets, so every lookup a write needs (by key, by external ID) is a dict lookup,
never a scan, and read endpoints cache their filtered/sorted result per table version
so that paging through it is O(page), not O(table) per call.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

UTC = timezone.utc


# --------------------------------------------------------------------------- timestamps

@lru_cache(maxsize=200_000)
def parse_wire_timestamp(value: str) -> datetime | None:
    """Parse the timestamp spellings the vendors use into an aware UTC datetime (the
    sandbox's reading of a request or stored value; the loaders' own parser,
    `cs_platform.sources.loading.parse_timestamp`, gives naive UTC for the warehouse).

    `2026-11-01T10:00:00.000+0000` (Salesforce), `...Z` (HubSpot, Freshdesk, Airtable),
    `+00:00`, a bare date, or epoch milliseconds as a digit string. None when it is not
    a timestamp. Cached: sort keys and filters call this for every row of every query.
    """
    text = value.strip()
    if not text:
        return None
    if text.isdigit() and len(text) >= 10:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds for an int, a digit string or an ISO timestamp."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    parsed = parse_wire_timestamp(str(value))
    return None if parsed is None else int(parsed.timestamp() * 1000)


def salesforce_ts(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def iso_ms_z(moment: datetime) -> str:
    """HubSpot and Airtable style: milliseconds and Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_z(moment: datetime) -> str:
    """Freshdesk style: whole seconds and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Hands out modification stamps for writes and user edits.

    Each stamp is later than every earlier one and than every timestamp in the loaded
    data, so an incremental read with `cursor > last seen` always sees a change,
    even when the generated data is dated ahead of the wall clock.
    """

    def __init__(self, now: Callable[[], datetime] | None = None):
        self._wall = now or (lambda: datetime.now(UTC))
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def observe(self, value: Any) -> None:
        """Raise the floor to a timestamp seen in the data."""
        ms = epoch_ms(value)
        if ms is None:
            return
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        with self._lock:
            if self._last is None or moment > self._last:
                self._last = moment

    def now(self) -> datetime:
        """The current time without issuing a stamp (for 'last 30 days' defaults)."""
        wall = self._wall()
        with self._lock:
            return wall if self._last is None or wall > self._last else self._last

    def today(self) -> date:
        return self.now().date()

    def tick(self) -> datetime:
        """A new stamp, strictly after every earlier one (1 ms resolution)."""
        wall = self._wall().astimezone(UTC)
        wall = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
        with self._lock:
            if self._last is not None and wall <= self._last:
                wall = self._last.replace(microsecond=self._last.microsecond // 1000 * 1000) \
                    + timedelta(milliseconds=1)
            self._last = wall
            return wall


# --------------------------------------------------------------------------- tables

class Table:
    """Rows keyed by primary key (insertion ordered) with lazily built secondary
    indexes. Writes keep the indexes in step, so a lookup by external ID stays O(1).

    `version` changes on every write (read caches key on it); `key_version` only
    when the set of keys changes (id-ordered listings key on it).
    """

    def __init__(self, key: str, getter: Callable[[dict, str], Any] | None = None):
        self.key = key
        self.rows: dict[Any, dict] = {}
        self._get = getter or (lambda row, field: row.get(field))
        self._indexes: dict[str, dict[Any, list[Any]]] = {}
        self.version = 0
        self.key_version = 0

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.rows.values())

    def __contains__(self, key: Any) -> bool:
        return key in self.rows

    def get(self, key: Any) -> dict | None:
        return self.rows.get(key)

    def insert(self, row: dict) -> dict:
        key = row[self.key]
        if key in self.rows:
            raise KeyError(f"duplicate key {key!r}")
        self.rows[key] = row
        self._index_row(key, row)
        self.version += 1
        self.key_version += 1
        return row

    def update(self, key: Any, mutate: Callable[[dict], None]) -> dict:
        """Apply `mutate` to the row, re-indexing it around the change."""
        row = self.rows[key]
        self._unindex_row(key, row)
        mutate(row)
        self._index_row(key, row)
        self.version += 1
        return row

    def delete(self, key: Any) -> dict | None:
        row = self.rows.pop(key, None)
        if row is not None:
            self._unindex_row(key, row)
            self.version += 1
            self.key_version += 1
        return row

    def find(self, field: str, value: Any) -> list[dict]:
        """Rows whose `field` equals `value`, through an index built on first use."""
        index = self._indexes.get(field)
        if index is None:
            index = {}
            for key, row in self.rows.items():
                v = self._get(row, field)
                if v is not None:
                    index.setdefault(v, []).append(key)
            self._indexes[field] = index
        return [self.rows[k] for k in index.get(value, ())]

    def _index_row(self, key: Any, row: dict) -> None:
        for field, index in self._indexes.items():
            v = self._get(row, field)
            if v is not None:
                index.setdefault(v, []).append(key)

    def _unindex_row(self, key: Any, row: dict) -> None:
        for field, index in self._indexes.items():
            v = self._get(row, field)
            keys = index.get(v)
            if keys is not None:
                try:
                    keys.remove(key)
                except ValueError:
                    pass
                if not keys:
                    del index[v]


class ResultCache:
    """A small LRU for computed result lists (filtered + sorted rows), keyed by the
    request's shape and the table version, so paging re-uses one evaluation."""

    def __init__(self, size: int = 32):
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._size = size

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return value

    def put(self, key: Any, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, key: Any) -> Any:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def clear(self) -> None:
        self._items.clear()


def read_jsonl(path: Path) -> Iterable[dict]:
    """Records of a JSON Lines file; a missing file is an empty object."""
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return records
