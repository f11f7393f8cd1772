"""The product database (Aurora PostgreSQL/MySQL in production) over SQLAlchemy."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

# Builds the WHERE clause from the reflected table, e.g. `lambda t: t.c.updated_at >= since`.
Condition = Callable[[sa.Table], sa.ColumnElement[bool]]


class ProductDBResource(dg.ConfigurableResource):
    url: str  # any SQLAlchemy URL: sqlite:///data/sample/product.db, postgresql://..., mysql+pymysql://...
    chunk_rows: int = 50_000  # rows per DataFrame when streaming a query

    def read_table(
        self,
        table_name: str,
        columns: Sequence[str],
        *,
        where: Condition | None = None,
        order_by: str | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Select `columns` of one table and yield the rows in DataFrames of `chunk_rows`.

        Only the named columns leave the database (the product DB holds more than the
        platform needs, PII included). A named column the table no longer has is left
        out, so the loader's schema-drift check names it instead of the run failing.

        The table is reflected, so values are bound as parameters of the column's
        own type (never formatted into the SQL) and compare correctly on every
        dialect. `stream_results` asks PostgreSQL/MySQL drivers for a server-side
        cursor, so a large first load never sits whole in the driver (SQLite
        ignores it). NullPool: the connection closes with the read; nothing holds a
        replica connection between runs."""
        engine = sa.create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                try:
                    table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
                except sa.exc.NoSuchTableError:
                    raise LookupError(
                        f"product DB: table {table_name!r} does not exist in the database "
                        "PRODUCT_DB_URL points at") from None
                query = sa.select(*(table.c[c] for c in columns if c in table.c))
                if where is not None:
                    query = query.where(where(table))
                if order_by:
                    query = query.order_by(table.c[order_by])
                streaming = connection.execution_options(
                    stream_results=True, max_row_buffer=self.chunk_rows)
                yield from pd.read_sql(query, streaming, chunksize=self.chunk_rows)
        finally:
            engine.dispose()
