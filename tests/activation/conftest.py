"""Fixtures live in support.py (importable by the tests for their helpers)."""

from tests.activation.support import crm, resources, sandbox, warehouse  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line("markers", "sandbox(**options): options for the test's Sandbox")
