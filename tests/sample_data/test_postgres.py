"""The product tables load into a real PostgreSQL server through --product-db-url."""

import datetime as dt
import uuid

import psycopg2
import pytest
import sqlalchemy as sa

from cs_platform.sample_data import generate
from cs_platform.sources import catalog

SERVER = dict(host="127.0.0.1", port=5432, user="postgres")


@pytest.fixture
def database():
    """A throwaway database, dropped afterwards."""
    name = f"cs_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **SERVER)
    except psycopg2.OperationalError as error:
        pytest.skip(f"no PostgreSQL at {SERVER['host']}:{SERVER['port']}: {error}")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql://{SERVER['user']}@{SERVER['host']}:{SERVER['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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
