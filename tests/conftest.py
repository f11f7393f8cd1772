"""Fixtures every test folder shares."""

import uuid

import psycopg2
import pytest

# The PostgreSQL server of the machine (trust auth): the product DB source and
# Dagster's production storage are tested against it for real.
PG_SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def postgres_database() -> str:
    """A throwaway database on the local PostgreSQL server, dropped afterwards; yields its name."""
    name = f"cs_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG_SERVER)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'create database "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def postgres_url(database: str, driver: str = "") -> str:
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{PG_SERVER['user']}@{PG_SERVER['host']}:{PG_SERVER['port']}/{database}"


def point_at_sandbox(sandbox, monkeypatch):
    """A clean sandbox (data reloaded, calls, writes and faults cleared) whose URLs
    and credentials the platform's settings read from the environment."""
    sandbox.reset()
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    return sandbox
