"""Account pages regenerate only for accounts whose data changed."""

from __future__ import annotations

import duckdb

from cs_platform.defs.reports.assets import ACCOUNT_PAGES, account_pages
from cs_platform.reports import pages
from tests.reports.conftest import materialization, materialize, new_setup


def snapshot(out) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in out.rglob("*.html")}


def run(setup, **config) -> dict:
    return materialization(materialize([account_pages], setup, **config), ACCOUNT_PAGES)


def test_only_the_changed_account_is_rendered_again(built, tmp_path):
    setup = new_setup(built, tmp_path)
    first = run(setup)
    accounts = first["accounts"]
    assert accounts > 100 and first["rendered"] == accounts and first["unchanged"] == 0
    assert first["account_page"].endswith(".html") and first["renewal_board"].endswith("/renewals.html")
    before = snapshot(setup.out)
    assert len(before) == 2 * accounts

    second = run(setup)
    assert (second["rendered"], second["unchanged"], second["removed"]) == (0, accounts, 0)
    assert snapshot(setup.out) == before

    with duckdb.connect(str(setup.warehouse_path)) as con:
        changed = con.execute("select account_id from marts.account_360 where account_id <> ? "
                              "order by account_id limit 1 offset 7", [setup.planted]).fetchone()[0]
        con.execute("update marts.account_360 set open_tickets = open_tickets + 3 where account_id = ?", [changed])
    third = run(setup)
    assert (third["rendered"], third["unchanged"], third["removed"]) == (1, accounts - 1, 0)
    after = snapshot(setup.out)
    differs = sorted(path for path in after if after[path] != before[path])
    assert differs == [f"{changed}.html", f"customer/{changed}.html"]
    assert third["account_page"].endswith(f"/{changed}.html")

    with duckdb.connect(str(setup.warehouse_path)) as con:
        con.execute("delete from marts.account_360 where account_id = ?", [changed])
    fourth = run(setup)
    assert (fourth["rendered"], fourth["unchanged"], fourth["removed"]) == (0, accounts - 1, 1)
    assert not (setup.out / f"{changed}.html").exists() and not (setup.out / "customer" / f"{changed}.html").exists()

    forced = run(setup, force=True)
    assert forced["rendered"] == accounts - 1


def test_a_page_the_manifest_vouches_for_is_never_one_a_failed_run_left(built, tmp_path):
    """A run that stops after writing some pages (here: the report folder becomes a file
    half-way, so the next write fails) leaves those accounts out of the manifest: the
    next run renders them again."""
    setup = new_setup(built, tmp_path)
    run(setup)
    with duckdb.connect(str(setup.warehouse_path)) as con:
        con.execute("update marts.account_360 set open_tickets = open_tickets + 1")
    store = setup.store
    original = store.write_files
    calls = []

    def failing_after_first_batch(files):
        calls.append(1)
        if len(calls) == 3:  # static files, the manifest without the changed accounts, then one batch of pages
            (setup.out / "customer").rename(setup.out / "customer.moved")
            (setup.out / "customer").write_text("not a folder")
        return original(files)

    object.__setattr__(store, "write_files", failing_after_first_batch)
    try:
        pages.write_account_pages(setup.warehouse, store, lambda sf_id: f"https://sf.example/{sf_id}")
    except (NotADirectoryError, FileExistsError, OSError):
        pass
    else:
        raise AssertionError("the write did not fail")
    (setup.out / "customer").unlink()
    (setup.out / "customer.moved").rename(setup.out / "customer")
    manifest = pages.read_manifest(setup.store)
    assert manifest == {}  # every account changed: none is vouched for until a run completes
    again = run(setup)
    assert again["rendered"] == again["accounts"]
