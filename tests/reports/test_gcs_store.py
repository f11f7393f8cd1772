"""The production store against a local GCS API (gcp-storage-emulator over HTTP, the
google-cloud-storage client that dagster-gcp's GCSResource makes, STORAGE_EMULATOR_HOST):
the report assets write the same pages there as into a folder."""

from __future__ import annotations

import socket

import pytest
from gcp_storage_emulator.server import create_server

from cs_platform.defs.reports.assets import ACCOUNT_PAGES, account_pages, renewals
from cs_platform.reports import render
from cs_platform.reports.writers import GCSReportStore, LocalReportStore
from tests.reports.conftest import materialization, new_setup


@pytest.fixture
def gcs(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="cs-reports")
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield port
    finally:
        server.stop()


def test_pages_are_uploaded_to_the_bucket_and_incremental_there(built, tmp_path, gcs):
    import dagster as dg

    setup = new_setup(built, tmp_path)
    store = GCSReportStore(location="gs://cs-reports/team/reports", project="test-project", upload_threads=4)

    def run(assets):
        return dg.materialize(assets, resources={"warehouse": setup.warehouse, "report_store": store})

    first = materialization(run([account_pages, renewals]), ACCOUNT_PAGES)
    assert first["rendered"] == first["accounts"] > 100
    assert first["location"] == "gs://cs-reports/team/reports"
    internal = store.read(f"{setup.planted}.html").decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in internal
    assert store.read(f"customer/{setup.planted}.html")
    assert store.read("renewals.html")
    assert store.exists(render.static_files()[0][0])  # plotly.js, beside the pages
    blob = store._blob(f"{setup.planted}.html")
    blob.reload()
    assert blob.content_type.startswith("text/html")

    # The same pages as the local store writes.
    local = LocalReportStore(root=str(tmp_path / "local"))
    dg.materialize([account_pages], resources={"warehouse": setup.warehouse, "report_store": local})
    assert local.read(f"{setup.planted}.html") == store.read(f"{setup.planted}.html")

    second = materialization(run([account_pages]), ACCOUNT_PAGES)
    assert (second["rendered"], second["unchanged"]) == (0, first["accounts"])


def test_a_location_that_is_not_gs_is_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="REPORT_BUCKET must be gs://bucket/prefix"):
        GCSReportStore(location="s3://elsewhere").read("x.html")
