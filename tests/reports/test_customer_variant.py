"""The customer-facing page carries none of render.INTERNAL_FIELDS: checked on the
HTML the asset wrote, by each field's marker and by the account's own values."""

from __future__ import annotations

import re

import duckdb

from cs_platform import settings
from cs_platform.reports import render


def internal_values(setup, account_id: str) -> dict[str, list[str]]:
    """Texts only an internal field holds, per field, as they appear in the HTML (escaped)."""
    from markupsafe import escape

    with duckdb.connect(str(setup.warehouse_path), read_only=True) as con:
        a = con.execute("select risk_reasons, csm_impression, owner_email, salesforce_account_id, arr "
                        "from marts.account_360 where account_id = ?", [account_id]).fetchone()
        activities = [r[0] for r in con.execute(
            "select coalesce(description, subject) from marts.account_activities where account_id = ? "
            "and coalesce(description, subject) is not null", [account_id]).fetchall()]
        comment = con.execute("select comment from staging.stg_karte__nps_responses where account_id = ? "
                              "order by responded_at desc, nps_response_id limit 1", [account_id]).fetchone()
    values = {
        "signals": [a[0]], "csm_impression": ["CSM impression"], "owner_email": [a[2]],
        "salesforce_url": [settings.salesforce_record_url(a[3])], "arr": [f"${a[4]:,.0f}"],
        "renewal_likelihood": ["Renewal likelihood"], "activities": [a[:60] for a in activities[:5]],
        "nps_comment": [comment[0]] if comment and comment[0] else [],
    }
    return {k: [str(escape(v)) for v in vs if v] for k, vs in values.items()}


def test_customer_page_has_no_internal_field(rendered):
    internal = rendered.page(f"{rendered.planted}.html")
    customer = rendered.page(f"customer/{rendered.planted}.html")
    fields = set(re.findall(r'data-field="([^"]+)"', internal))
    # The planted account has every internal section (risk signal, impression, activities, comment ...).
    expected = {f for f in render.INTERNAL_FIELDS if not f.startswith("charts.")} - {"usage.drop"}
    assert expected <= fields, f"internal page lacks {expected - fields}"
    assert not re.findall(r'data-field="', customer)
    assert 'id="chart-renewal_likelihood_history"' in internal
    assert "chart-renewal_likelihood_history" not in customer
    assert '"renewal_likelihood_history"' not in customer
    for field, texts in internal_values(rendered, rendered.planted).items():
        assert texts, field
        for text in texts:
            assert text in internal, (field, text)
            assert text not in customer, f"customer page shows {field}: {text!r}"
    for word in ("risk", "likelihood", "impression", "escalation", "salesforce", "band green", "band yellow",
                 "band red", "upsell"):
        assert word not in customer.lower(), word


def test_no_customer_page_of_any_account_has_internal_fields(rendered):
    pages = sorted((rendered.out / "customer").glob("*.html"))
    assert len(pages) == len(list(rendered.out.glob("*.html"))) - 2  # minus the renewal board and portfolio
    for page in pages:
        html = page.read_text()
        assert "data-field=" not in html, page.name
        assert "Renewal likelihood" not in html and "At risk" not in html and "/lightning/r/" not in html, page.name
        assert "@" not in re.sub(r"<script.*?</script>", "", html, flags=re.S), page.name  # no email address


def test_customer_context_drops_exactly_the_declared_fields(rendered):
    """The context the customer template gets has no key of INTERNAL_FIELDS at all."""
    from cs_platform.reports.data import load_account_page_data

    data = load_account_page_data(rendered.warehouse)
    i = next(k for k, a in enumerate(data.accounts) if a["account_id"] == rendered.planted)
    ctx = render.account_context(data, i, settings.salesforce_record_url)
    customer = render.customer_context(ctx)
    for path in render.INTERNAL_FIELDS:
        section, _, key = path.partition(".")
        assert (section not in customer) if not key else (key not in customer.get(section, {})), path
        assert (section in ctx) if not key else (key in ctx[section]), path
