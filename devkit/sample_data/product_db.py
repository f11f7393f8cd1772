"""The product's own database: the catalog's product_db tables, through SQLAlchemy.

By default a SQLite file `product.db` in the output folder; any SQLAlchemy URL (a
PostgreSQL or MySQL server) gets the same tables instead. The generator owns these
five tables: it drops and recreates them on every run.
"""

from __future__ import annotations

import csv
import io
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Iterable, Iterator

import numpy as np
import sqlalchemy as sa

from cs_platform.sources import catalog
from devkit.sample_data import wire
from devkit.sample_data.chunk import Chunk
from devkit.sample_data.customers import PLANS, CustomerBase
from devkit.sample_data.usage import FEATURES
from devkit.sample_data.window import DAY, HOUR

_TYPES = {"string": lambda: sa.String(255), "integer": sa.Integer, "float": sa.Float,
          "date": sa.Date, "timestamp": sa.DateTime}
_BATCH = 50_000  # rows per executemany / COPY
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    """The catalog's product_db objects as tables with types and primary keys."""
    return {
        obj.name: sa.Table(
            obj.api_name, metadata,
            *(sa.Column(name, _TYPES[logical](), primary_key=name in obj.primary_key,
                        nullable=name not in obj.primary_key)
              for name, logical in obj.columns.items()),
            sqlite_with_rowid=False)  # SQLite: the primary key is the table, no second index
        for obj in catalog.objects_of("product_db")}


class ProductDbWriter:
    """Writes in a background thread: SQLite and the drivers release the GIL while they
    store rows, so the other tools' records are drawn meanwhile. One chunk at most is in
    flight, which bounds memory, and its errors surface at the next write or at close."""

    def __init__(self, url: str, outputs: wire.Outputs, base: CustomerBase):
        self._outputs = outputs
        self._base = base
        self._engine = sa.create_engine(_with_default_driver(url))
        if self._engine.dialect.name == "sqlite":
            # The file is rebuilt from scratch on every run: no journal to protect it.
            sa.event.listen(self._engine, "connect", _fast_sqlite)
        self._tables = tables(sa.MetaData())
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="product_db")
        self._pending: Future | None = self._worker.submit(self._create_tables)

    def write(self, chunk: Chunk) -> None:
        self._collect()
        self._pending = self._worker.submit(self._write_chunk, chunk)

    def close(self) -> None:
        try:
            self._collect()
        finally:
            self._worker.shutdown()
            self._engine.dispose()

    def _collect(self) -> None:
        if self._pending is not None:
            counts, self._pending = self._pending.result(), None
            for name, rows in counts.items():
                self._outputs.count(f"product_db/{name}", rows)

    def _create_tables(self) -> dict[str, int]:
        metadata = next(iter(self._tables.values())).metadata
        metadata.drop_all(self._engine)
        metadata.create_all(self._engine)
        updated = wire.sql_datetimes([self._base.window.now - 400 * DAY])[0]
        plans = [(p.plan_id, p.name, p.seat_limit, p.monthly_price, updated) for p in PLANS]
        return {"plans": self._insert("plans", plans)}

    def _write_chunk(self, chunk: Chunk) -> dict[str, int]:
        return {"accounts": self._insert("accounts", self._accounts(chunk)),
                "users": self._insert("users", self._users(chunk)),
                "setup_steps": self._insert("setup_steps", self._setup_steps(chunk)),
                "feature_usage_daily": self._insert("feature_usage_daily", self._usage(chunk))}

    def _accounts(self, chunk: Chunk) -> list[tuple]:
        base, rng, ids = self._base, chunk.rng("product_accounts"), chunk.accounts
        created = base.created[ids.start:ids.stop]
        # Edited since sign-up (plan, settings), more often recently.
        updated = created + ((base.window.now - HOUR - created) * rng.random(len(ids)) ** 0.3).astype(np.int64)
        # A churned customer's account is closed after its last day of use (renewals.py).
        churned = np.array([base.renewals.is_churned(i) for i in ids], dtype=bool)
        closed = (base.renewals.offboarded_day[ids.start:ids.stop] + 1) * DAY + 10 * HOUR
        updated = np.where(churned, np.minimum(np.maximum(updated, closed), base.window.now - HOUR), updated)
        return list(zip(
            (base.account_ids[i] for i in ids), (base.names[i] for i in ids),
            (PLANS[p].plan_id for p in base.plan[ids.start:ids.stop].tolist()),
            (base.industries[i] for i in ids), np.where(churned, "churned", "active").tolist(),
            wire.sql_datetimes(created), wire.sql_datetimes(updated)))

    def _users(self, chunk: Chunk) -> list[tuple]:
        users, window = chunk.users, self._base.window
        rng = chunk.rng("product_users")
        active = chunk.last_active_day >= 0
        # Users idle for the whole window were last seen some time between joining and its start.
        before = users.created + (np.maximum(window.start - users.created, 0)
                                  * rng.random(len(users))).astype(np.int64)
        idle_since_before = ~active & (users.created < window.start)
        last_active = np.where(active, (window.start_day + chunk.last_active_day) * DAY
                               + rng.integers(8 * HOUR, 20 * HOUR, size=len(users)), before)
        last_active = np.maximum(last_active, users.created)
        seen = active | idle_since_before
        updated = np.where(seen, last_active, users.created)
        return list(zip(
            users.user_ids, (self._base.account_ids[a] for a in users.account.tolist()),
            users.emails, users.roles, wire.sql_datetimes(users.created),
            wire.nullable(wire.sql_datetimes(last_active), seen), wire.sql_datetimes(updated)))

    def _setup_steps(self, chunk: Chunk) -> list[tuple]:
        base, window, rng = self._base, self._base.window, chunk.rng("setup_steps")
        ids = np.arange(chunk.lo, chunk.hi)
        created = base.created[ids]
        age_days = (window.now - created) / DAY
        steps = len(catalog.SETUP_STEPS)
        done = np.where(
            age_days < 30, rng.binomial(steps, np.clip(age_days / 30, 0, 1)),
            np.where(age_days <= 90, rng.integers(steps // 2, steps + 1, size=len(ids)),  # at least half
                     np.where(rng.random(len(ids)) < 0.85, steps, rng.integers(steps - 2, steps, size=len(ids)))))
        for c, account in enumerate(ids.tolist()):
            story = base.story_of(account)
            if story is not None and story.setup == "complete":
                done[c] = steps
            elif story is not None and story.setup == "under_half":
                done[c] = rng.integers(0, (steps + 1) // 2)
        # Steps are done in catalog order, within the first weeks (or the age so far).
        span = np.minimum(window.now - HOUR - created, 45 * DAY)
        at = created[:, None] + np.sort(rng.random((len(ids), steps)), axis=1) * span[:, None]
        is_done = np.arange(steps)[None, :] < done[:, None]
        completed = wire.nullable(wire.sql_datetimes(at.astype(np.int64).ravel()), is_done.ravel())
        updated = wire.sql_datetimes(np.where(is_done, at, created[:, None]).astype(np.int64).ravel())
        account_ids = [base.account_ids[a] for a in ids.tolist() for _ in range(steps)]
        return list(zip(account_ids, catalog.SETUP_STEPS * len(ids), completed, updated))

    def _usage(self, chunk: Chunk) -> Iterator[tuple]:
        active = chunk.usage.active_users
        c, d, f = np.nonzero(active)  # row-major: account, day, feature = primary-key order
        account_ids = np.array(self._base.account_ids[chunk.lo:chunk.hi], dtype=object)
        window = self._base.window
        dates = np.array(wire.iso_dates(np.arange(window.start_day, window.end_day)), dtype=object)
        features = np.array(FEATURES, dtype=object)
        for s in range(0, len(c), _BATCH):
            part = slice(s, s + _BATCH)
            cc, dd, ff = c[part], d[part], f[part]
            yield from zip(account_ids[cc].tolist(), dates[dd].tolist(), features[ff].tolist(),
                           active[cc, dd, ff].tolist(), chunk.usage.events[cc, dd, ff].tolist())

    def _insert(self, name: str, rows: Iterable[tuple]) -> int:
        table = self._tables[name]
        total = 0
        rows = iter(rows)
        with self._engine.begin() as conn:
            while batch := list(islice(rows, _BATCH)):
                total += len(batch)
                if conn.dialect.driver == "psycopg2":
                    _copy(conn, table, batch)
                else:
                    conn.exec_driver_sql(_insert_sql(conn, table), batch)
        return total


def _with_default_driver(url: str) -> sa.URL:
    """A bare postgresql:// URL means psycopg2, the driver the project installs
    (SQLAlchemy 2.1 would otherwise pick psycopg 3)."""
    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql+psycopg2") if parsed.drivername == "postgresql" else parsed


def _insert_sql(conn: sa.Connection, table: sa.Table) -> str:
    """A plain positional INSERT: values are already in their stored spelling, so
    executemany goes straight to the driver without SQLAlchemy's per-value processing."""
    quote = conn.dialect.identifier_preparer.quote
    if conn.dialect.paramstyle not in _PLACEHOLDERS:
        raise ValueError(f"product DB driver {conn.dialect.driver!r} uses paramstyle "
                         f"{conn.dialect.paramstyle!r}; supported: {sorted(_PLACEHOLDERS)}")
    mark = _PLACEHOLDERS[conn.dialect.paramstyle]
    return (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in table.columns)}) "
            f"VALUES ({', '.join([mark] * len(table.columns))})")


def _copy(conn: sa.Connection, table: sa.Table, rows: list[tuple]) -> None:
    """PostgreSQL's COPY through psycopg2, the fast bulk path; an unquoted empty CSV field is NULL."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c.name) for c in table.columns)
    with conn.connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {quote(table.name)} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def _fast_sqlite(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=OFF")
    dbapi_connection.execute("PRAGMA synchronous=OFF")
