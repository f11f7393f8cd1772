"""The warehouse: DuckDB on a laptop, BigQuery in production, behind one interface.

Every stage that writes tables (raw loaders, the sync engine's state) goes through
`Warehouse`, so a loader never knows which engine it writes to. Each write is one
transaction: a run that dies half-way leaves the table as it was.

Tables are named `<schema>.<table>`; in BigQuery the schema is a dataset in
`project`, prefixed with `dataset_prefix` so several deployments can share a project.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import PrivateAttr

# Logical column types (see sources/catalog.py) -> engine types.
DUCKDB_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "float": "DOUBLE", "boolean": "BOOLEAN",
                "date": "DATE", "timestamp": "TIMESTAMP", "json": "VARCHAR"}
BIGQUERY_TYPES = {"string": "STRING", "integer": "INT64", "float": "FLOAT64", "boolean": "BOOL",
                  "date": "DATE", "timestamp": "TIMESTAMP", "json": "STRING"}


def quote(identifier: str) -> str:
    """Quote a column name; source field names may carry dots, spaces or mixed case."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass
class Write:
    """One table write of a `Warehouse.write_many` (the arguments of `Warehouse.write`)."""

    table: str
    df: pd.DataFrame
    columns: Mapping[str, str]
    key_columns: Sequence[str] = ()
    replace_where: tuple[str, Sequence] | None = None
    replace_all: bool = False


class Warehouse(dg.ConfigurableResource):
    """Write and read tables atomically; the same calls work on DuckDB and BigQuery."""

    @abstractmethod
    def write(
        self,
        table: str,
        df: pd.DataFrame,
        columns: Mapping[str, str],
        *,
        key_columns: Sequence[str] = (),
        replace_where: tuple[str, Sequence] | None = None,
        replace_all: bool = False,
    ) -> int:
        """Write `df` (columns typed by `columns`, logical types) into `table` in one transaction.

        - `replace_all`: the table ends up holding exactly `df` (full refresh).
        - `replace_where=(column, values)`: rows whose `column` is in `values` are
          replaced by `df` (one partition, or one export file).
        - `key_columns` (otherwise): upsert; rows with the same key are replaced.
        The table is created on first write and gains new columns when `columns` grows.
        Returns the number of rows written.
        """

    def write_many(self, writes: Sequence[Write]) -> int:
        """Several `write`s; one transaction where the engine allows it (DuckDB),
        else one per table (BigQuery). Returns the rows written."""
        return sum(self.write(w.table, w.df, w.columns, key_columns=w.key_columns, replace_where=w.replace_where,
                              replace_all=w.replace_all) for w in writes)

    @abstractmethod
    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """Run a read query and return the result."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence | None = None) -> None:
        """Run a statement (DDL or DML)."""

    def columns(self, table: str) -> list[str] | None:
        """Column names of `table`, or None when it does not exist."""
        types = self.column_types(table)
        return list(types) if types else None

    @abstractmethod
    def column_types(self, table: str) -> dict[str, str] | None:
        """Column name -> the engine's own type name (DuckDB `VARCHAR`, `DOUBLE`, ...;
        BigQuery `STRING`, `FLOAT`, ...) of `table`, in column order, or None when it
        does not exist."""

    @abstractmethod
    def insert_if_absent(self, table: str, row: Mapping, columns: Mapping[str, str],
                         key_columns: Sequence[str]) -> bool:
        """Insert `row` unless a row with the same `key_columns` exists, atomically
        (one statement: two callers can never both insert). True when it was inserted.
        The table is created on first use."""

    def table_ref(self, table: str) -> str:
        """The table's name as SQL for this engine."""
        return table

    def scalar(self, sql: str, params: Sequence | None = None):
        df = self.query(sql, params)
        return None if df.empty else df.iat[0, 0]

    def row_count(self, table: str) -> int:
        return int(self.scalar(f"select count(*) from {self.table_ref(table)}"))


_DUCKDB_FILE_LOCKS: dict[str, threading.RLock] = {}
_DUCKDB_LOCKS_GUARD = threading.Lock()
DUCKDB_LOCK_WAIT_SECONDS = 60.0  # another process writing the file: wait this long for it


class DuckDBWarehouse(Warehouse):
    """A DuckDB file. DuckDB allows one writing process, so every call opens and
    closes its own connection: nothing holds the file between steps. Within a
    process, calls to one file take turns (threads: concurrent HubSpot batches,
    two syncs); across processes, a call waits while another process holds the
    file, up to DUCKDB_LOCK_WAIT_SECONDS."""

    path: str

    @contextmanager
    def _connect(self, read_only: bool = False):
        import duckdb

        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        elif not Path(self.path).exists():
            read_only = False  # a read before any write: let DuckDB create the empty file
        with _DUCKDB_LOCKS_GUARD:
            lock = _DUCKDB_FILE_LOCKS.setdefault(str(Path(self.path).resolve()), threading.RLock())
        with lock:
            deadline = time.monotonic() + DUCKDB_LOCK_WAIT_SECONDS
            while True:
                try:
                    con = duckdb.connect(self.path, read_only=read_only)
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            try:
                yield con
            finally:
                con.close()

    def write(self, table, df, columns, *, key_columns=(), replace_where=None, replace_all=False):
        return self.write_many([Write(table, df, columns, key_columns=key_columns, replace_where=replace_where,
                                      replace_all=replace_all)])

    def write_many(self, writes):
        with self._connect() as con:
            con.execute("begin transaction")
            try:
                for w in writes:
                    self._write_in(con, w)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        return sum(len(w.df) for w in writes)

    @staticmethod
    def _write_in(con, w: "Write") -> None:
        table, df, columns = w.table, w.df, w.columns
        schema, name = table.split(".")
        target = f"{schema}.{quote(name)}"
        select = ", ".join(
            f"cast({quote(c)} as {DUCKDB_TYPES[t]}) as {quote(c)}" if c in df.columns
            else f"cast(null as {DUCKDB_TYPES[t]}) as {quote(c)}"
            for c, t in columns.items()
        )
        con.register("incoming", df)
        try:
            con.execute(f"create schema if not exists {schema}")
            col_defs = ", ".join(f"{quote(c)} {DUCKDB_TYPES[t]}" for c, t in columns.items())
            con.execute(f"create table if not exists {target} ({col_defs})")
            existing = {r[0] for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?", [schema, name]).fetchall()}
            for c, t in columns.items():
                if c not in existing:
                    con.execute(f"alter table {target} add column {quote(c)} {DUCKDB_TYPES[t]}")
            con.execute(f"create temp table staged as select {select} from incoming")
            if w.replace_all:
                con.execute(f"delete from {target}")
            elif w.replace_where is not None:
                column, values = w.replace_where
                con.execute(f"delete from {target} where {quote(column)} in "
                            f"(select unnest(?::{DUCKDB_TYPES[columns[column]]}[]))", [list(values)])
            elif w.key_columns:
                keys = " and ".join(f"t.{quote(k)} = s.{quote(k)}" for k in w.key_columns)
                con.execute(f"delete from {target} t where exists "
                            f"(select 1 from staged s where {keys})")
            con.execute(f"insert into {target} by name select * from staged")
            con.execute("drop table staged")
        finally:
            con.unregister("incoming")

    def insert_if_absent(self, table, row, columns, key_columns):
        import duckdb

        schema, name = table.split(".")
        target = f"{schema}.{quote(name)}"
        values = ", ".join(f"cast(? as {DUCKDB_TYPES[t]})" for t in columns.values())
        match = " and ".join(f"{quote(k)} = ?" for k in key_columns)
        sql = (f"insert into {target} ({', '.join(quote(c) for c in columns)}) select {values} "
               f"where not exists (select 1 from {target} where {match})")
        params = [row.get(c) for c in columns] + [row[k] for k in key_columns]
        try:
            with self._connect() as con:
                return con.execute(sql, params).fetchone()[0] == 1  # DuckDB answers the inserted count
        except duckdb.CatalogException:  # first use: create the table, then once more
            self.write(table, pd.DataFrame(columns=list(columns)), columns)
            with self._connect() as con:
                return con.execute(sql, params).fetchone()[0] == 1

    def query(self, sql, params=None):
        with self._connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def execute(self, sql, params=None):
        with self._connect() as con:
            con.execute(sql, params or [])

    def column_types(self, table):
        schema, name = table.split(".")
        if not Path(self.path).exists():
            return None  # nothing written yet: no table
        with self._connect(read_only=True) as con:
            rows = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name]).fetchall()
        return {r[0]: r[1] for r in rows} or None


class BigQueryWarehouse(Warehouse):
    """BigQuery through dagster-gcp's client. A write loads the frame into a
    scratch table, then swaps rows in with a multi-statement transaction."""

    project: str
    location: str = "US"
    dataset_prefix: str = ""
    gcp_credentials: str | None = None  # base64 service-account JSON; None = application default

    _client = PrivateAttr(default=None)

    def _bq(self):
        if self._client is None:
            from dagster_gcp import BigQueryResource

            resource = BigQueryResource(project=self.project, location=self.location,
                                        gcp_credentials=self.gcp_credentials)
            self._client_cm = resource.get_client()
            self._client = self._client_cm.__enter__()
        return self._client

    def table_ref(self, table: str) -> str:
        schema, name = table.split(".")
        return f"`{self.project}.{self.dataset_prefix}{schema}.{name}`"

    def write(self, table, df, columns, *, key_columns=(), replace_where=None, replace_all=False):
        from google.cloud import bigquery

        client = self._bq()
        schema, name = table.split(".")
        dataset = f"{self.project}.{self.dataset_prefix}{schema}"
        client.create_dataset(bigquery.Dataset(dataset), exists_ok=True)
        target = bigquery_table(f"{dataset}.{name}", columns, replace_where)
        bq_schema = target.schema
        existing = client.create_table(target, exists_ok=True)
        missing = [f for f in bq_schema if f.name not in {s.name for s in existing.schema}]
        if missing:
            existing.schema = list(existing.schema) + missing
            client.update_table(existing, ["schema"])
        scratch = f"{dataset}._staged_{name}_{uuid.uuid4().hex[:8]}"
        frame = df.reindex(columns=list(columns))
        client.load_table_from_dataframe(
            frame, scratch, job_config=bigquery.LoadJobConfig(schema=bq_schema)).result()
        cols = ", ".join(f"`{c}`" for c in columns)
        ref = f"`{dataset}.{name}`"
        if replace_all:
            delete = f"delete from {ref} where true;"
        elif replace_where is not None:
            column, values = replace_where
            literal = ", ".join(_bq_literal(v) for v in values) or "null"
            delete = f"delete from {ref} where `{column}` in ({literal});"
        elif key_columns:
            keys = " and ".join(f"t.`{k}` = s.`{k}`" for k in key_columns)
            delete = f"delete from {ref} t where exists (select 1 from `{scratch}` s where {keys});"
        else:
            delete = ""
        try:
            client.query(
                f"begin transaction; {delete} insert into {ref} ({cols}) select {cols} from `{scratch}`; "
                f"commit transaction;").result()
        finally:
            client.delete_table(scratch, not_found_ok=True)
        return len(df)

    def insert_if_absent(self, table, row, columns, key_columns):
        from google.api_core.exceptions import NotFound

        # MERGE is one mutating DML statement: BigQuery runs those on a table one at a
        # time (or fails the conflicting one), so two callers can never both insert.
        source = ", ".join(f"cast(? as {BIGQUERY_TYPES[t]}) as `{c}`" for c, t in columns.items())
        match = " and ".join(f"t.`{k}` = s.`{k}`" for k in key_columns)
        cols = ", ".join(f"`{c}`" for c in columns)
        sql = (f"merge {self.table_ref(table)} t using (select {source}) s on {match} "
               f"when not matched then insert ({cols}) values ({', '.join(f's.`{c}`' for c in columns)})")
        params = [row.get(c) for c in columns]
        for attempt in range(2):
            try:
                job = self._bq().query(sql, job_config=_bq_params(params))
                job.result()
                return (job.num_dml_affected_rows or 0) == 1
            except NotFound:
                if attempt:
                    raise
                self.write(table, pd.DataFrame(columns=list(columns)), columns)
        return False

    def query(self, sql, params=None):
        return self._bq().query(sql, job_config=_bq_params(params)).to_dataframe()

    def execute(self, sql, params=None):
        self._bq().query(sql, job_config=_bq_params(params)).result()

    def column_types(self, table):
        from google.api_core.exceptions import NotFound

        schema, name = table.split(".")
        try:
            t = self._bq().get_table(f"{self.project}.{self.dataset_prefix}{schema}.{name}")
        except NotFound:
            return None
        # SchemaField.field_type: STRING, FLOAT, INTEGER, BOOLEAN, DATE, TIMESTAMP, NUMERIC, RECORD, ...
        return {f.name: (f"ARRAY<{f.field_type}>" if f.mode == "REPEATED" else f.field_type) for f in t.schema}


def bigquery_table(table_id: str, columns: Mapping[str, str], replace_where: tuple[str, Sequence] | None):
    """The table a first write creates. A table written by the day (daily usage, page
    views: `replace_where` on a DATE column) is partitioned by that day, so that a
    load replaces one partition, and a daily dbt run, which bounds its reads by
    constant days, is billed for the days it reads rather than all history. (Tables
    created before this keep their layout; recreate them to get it.)"""
    from google.cloud import bigquery

    table = bigquery.Table(table_id, schema=[bigquery.SchemaField(c, BIGQUERY_TYPES[t]) for c, t in columns.items()])
    if replace_where is not None and columns.get(replace_where[0]) == "date":
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=replace_where[0])
    return table


def _bq_params(params):
    """Positional `?` parameters, as DuckDB takes them, for BigQuery."""
    from google.cloud import bigquery

    if not params:
        return None
    def kind(value) -> str:
        if isinstance(value, bool):
            return "BOOL"
        if isinstance(value, datetime):
            return "TIMESTAMP"
        if isinstance(value, date):
            return "DATE"
        return {int: "INT64", float: "FLOAT64"}.get(type(value), "STRING")

    return bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter(None, kind(v), v) for v in params])


def _bq_literal(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
