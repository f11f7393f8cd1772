"""The link the CRM holds works: the account_health sync writes CS_Report_URL__c to
the sandbox's Salesforce, the Account is read back through simple-salesforce, and a
GET of that URL from the devkit report server answers that account's page."""

from __future__ import annotations

import os

import duckdb
import requests

from cs_platform import settings
from cs_platform.defs.reports.assets import account_pages
from cs_platform.resources.salesforce import SalesforceResource
from devkit.report_server import ReportServer
from devkit.sandbox import Sandbox
from tests.activation.support import materialize as materialize_sync
from tests.activation.support import metadata, spec_of
from tests.models.support import dbt, vars_arg
from tests.reports.conftest import PLANTED_NAME, materialize, new_setup


def test_the_default_link_is_the_local_report_server_not_the_dagster_ui(built):
    expected = os.environ.get("REPORT_BASE_URL", settings.LOCAL_REPORT_BASE_URL)
    assert settings.LOCAL_REPORT_BASE_URL == "http://127.0.0.1:3100/reports"
    urls = built.query("select account_id, report_url from marts.activation_salesforce_accounts")
    assert len(urls) > 100
    assert (urls.report_url == expected + "/" + urls.account_id + ".html").all()


def test_the_link_stored_on_a_salesforce_account_gets_its_page(built, tmp_path):
    setup = new_setup(built, tmp_path / "copy")
    with ReportServer(setup.out, "http://127.0.0.1:0/reports") as server, \
            Sandbox(built.sample_dir, seed=7, bulk_processing_seconds=0) as sandbox:
        # The activation model with this server's address as REPORT_BASE_URL (the var the macro reads first).
        dbt(["run", "--select", "activation_salesforce_accounts", *vars_arg(report_base_url=server.base_url)],
            duckdb_path=setup.warehouse_path, target_path=tmp_path / "target", reuse_parse_of=built)
        with duckdb.connect(str(setup.warehouse_path)) as con:
            sf_id = con.execute("select salesforce_account_id from marts.activation_salesforce_accounts "
                                "where account_id = ?", [setup.planted]).fetchone()[0]
        assert materialize([account_pages], setup).success

        env = sandbox.env()
        salesforce = SalesforceResource(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                                        client_secret=env["SALESFORCE_CLIENT_SECRET"],
                                        ca_bundle=env["SALESFORCE_CA_BUNDLE"], retry_backoff_seconds=0.01)
        outcome = metadata(materialize_sync(spec_of("account_health"),
                                            {"warehouse": setup.warehouse, "salesforce": salesforce}))
        assert not outcome.get("error"), outcome

        account = salesforce.client().query(
            f"select Id, Name, CS_Report_URL__c from Account where Id = '{sf_id}'")["records"][0]
        link = account["CS_Report_URL__c"]
        assert link == f"{server.base_url}/{setup.planted}.html"
        page = requests.get(link, timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert f"<div class=\"sub\">{setup.planted}" in page.text
        assert PLANTED_NAME.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page.text
        # A path outside the reports is not served, nor a folder listing.
        assert server.port not in (0, 80, 3000)
        assert requests.get(f"{server.base_url}/customer/{setup.planted}.html", timeout=10).status_code == 200
        assert requests.get(f"{server.base_url}/../warehouse.duckdb", timeout=10).status_code == 404
        assert requests.get(server.base_url.replace("/reports", "/") + "A000001.html", timeout=10).status_code == 404
        assert requests.get(f"{server.base_url}/customer/", timeout=10).status_code == 404
