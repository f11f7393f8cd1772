"""The product database (Aurora PostgreSQL/MySQL in production) over SQLAlchemy."""

from __future__ import annotations

import dagster as dg


class ProductDBResource(dg.ConfigurableResource):
    url: str  # any SQLAlchemy URL: sqlite:///data/sample/product.db, postgresql://..., mysql+pymysql://...
