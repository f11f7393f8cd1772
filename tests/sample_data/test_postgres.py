"""The product tables load into a real PostgreSQL server through --product-db-url."""

import datetime as dt

import pytest
import sqlalchemy as sa

from cs_platform.sources import catalog
from devkit.sample_data import generate
from tests.conftest import postgres_url


@pytest.fixture
def database(postgres_database):
    return postgres_url(postgres_database)


def test_product_tables_load_into_postgresql(tmp_path, database):
    # A bare postgresql:// URL, as in the README; the generator picks psycopg2 for it.
    manifest = generate(tmp_path, accounts=50, seed=5, days=42, as_of=dt.date(2026, 11, 22),
                        product_db_url=database)
    assert manifest.product_db == database
    assert not (tmp_path / "product.db").exists()
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        inspector = sa.inspect(engine)
        with engine.connect() as conn:
            for obj in catalog.objects_of("product_db"):
                assert [c["name"] for c in inspector.get_columns(obj.api_name)] == list(obj.columns)
                assert tuple(inspector.get_pk_constraint(obj.api_name)["constrained_columns"]) == obj.primary_key
                rows = conn.execute(sa.text(f"SELECT COUNT(*) FROM {obj.api_name}")).scalar_one()
                assert rows == manifest.row_counts[f"product_db/{obj.name}"] > 0, obj.name
            types = {c["name"]: c["type"] for c in inspector.get_columns("feature_usage_daily")}
            assert isinstance(types["usage_date"], sa.Date)
            nulls = conn.execute(sa.text("SELECT COUNT(*) FROM setup_steps WHERE completed_at IS NULL")).scalar_one()
            assert nulls > 0  # missing steps are NULL, not empty strings
            # Loading again replaces the tables rather than adding to them.
            conn.commit()
        generate(tmp_path, accounts=50, seed=5, days=42, as_of=dt.date(2026, 11, 22), product_db_url=database)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM accounts")).scalar_one() == 50
    finally:
        engine.dispose()
