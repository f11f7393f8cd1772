"""Duplicate keys across KARTE files: each file replaces only its own rows, so a key
two files carry is in the raw table twice. `primary_key_unique` fails (ERROR,
blocking) naming the keys and both files; the documented resolution
(docs/operations.md): re-load the file that should win with
`supersede_other_files: true`; its keys' rows in other files are deleted in the
same transaction, the check passes and downstream runs."""

import csv

import dagster as dg
import pytest

from cs_platform.defs.sources import karte
from cs_platform.sources import catalog
from cs_platform.sources.loading import CHECK_PRIMARY_KEY, cross_partition_duplicates

NPS = catalog.get("karte", "nps_responses")
nps_asset = next(a for a in karte.assets if a.key == dg.AssetKey(NPS.asset_key_path))
OLD, NEW = "nps_responses_20261108.csv", "nps_responses_20261115.csv"


@dg.asset(name="downstream_model", deps=[nps_asset.key])
def downstream_model() -> None:
    """A stand-in for the dbt models reading the raw table."""


@pytest.fixture
def instance():
    """Persistent: the runs add dynamic partitions."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(karte.file_partitions(NPS).name, [OLD, NEW])
        yield instance


def answer(n: int, score: int | None) -> dict:
    return {"response_id": f"resp-{n}", "account_id": "A000001", "user_id": f"U{n:06d}",
            "score": "" if score is None else str(score), "comment": "", "responded_at": "2026-11-07T10:00:00Z"}


def write_export(inbox, name: str, rows: list[dict]) -> None:
    with open(inbox / name, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(NPS.columns))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def run(warehouse, instance, karte_exports):
    def _run(name: str, *, supersede: bool = False):
        config = {"ops": {nps_asset.op.name: {"config": {"supersede_other_files": supersede}}}}
        return dg.materialize([nps_asset, downstream_model], partition_key=name, instance=instance,
                              resources={"warehouse": warehouse, "karte_exports": karte_exports},
                              run_config=config, raise_on_error=False)
    return _run


def pk_check(result) -> dg.AssetCheckEvaluation:
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_PRIMARY_KEY]
    return check


def downstream_ran(result) -> bool:
    return any(e.asset_key == downstream_model.key for e in result.get_asset_materialization_events())


def test_keys_in_two_files_fail_the_check_naming_keys_and_files(run, karte_inbox):
    # The old file: 1-5 (resp-1 without a score). The new one re-exports 4 and 5 (scores
    # corrected) with 6-8.
    write_export(karte_inbox, OLD, [answer(1, None), *(answer(n, 5) for n in range(2, 6))])
    write_export(karte_inbox, NEW, [answer(4, 9), answer(5, 10), *(answer(n, 7) for n in range(6, 9))])
    assert run(OLD).success

    clash = run(NEW)
    check = pk_check(clash)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR and check.blocking
    assert check.metadata["cross_file_duplicate_keys"].value == {"resp-4": [OLD, NEW], "resp-5": [OLD, NEW]}
    assert all(part in check.description for part in ("resp-4", "resp-5", OLD, NEW, "supersede_other_files"))
    assert not clash.success and not downstream_ran(clash)  # blocking: the models do not run


def test_re_loading_the_winning_file_superseding_the_others_resolves_them(run, karte_inbox, warehouse):
    write_export(karte_inbox, OLD, [answer(1, None), *(answer(n, 5) for n in range(2, 6))])
    write_export(karte_inbox, NEW, [answer(4, 9), answer(5, 10), *(answer(n, 7) for n in range(6, 9))])
    assert run(OLD).success
    assert not run(NEW).success
    before = warehouse.query(f"select * from {NPS.table} where _load_id = ? and response_id in "
                             "('resp-1', 'resp-2', 'resp-3') order by response_id", [OLD])

    resolved = run(NEW, supersede=True)

    assert resolved.success and downstream_ran(resolved)
    check = pk_check(resolved)
    assert check.passed
    assert check.metadata["superseded_rows"].value == {OLD: 2}
    table = warehouse.query(f"select response_id, score, _load_id from {NPS.table} order by response_id")
    assert list(table.response_id) == [f"resp-{n}" for n in range(1, 9)]
    latest = table.set_index("response_id")
    assert latest.loc["resp-4", "_load_id"] == NEW and latest.loc["resp-4", "score"] == 9
    assert latest.loc["resp-5", "score"] == 10
    # The old file's other rows are untouched (a null stays null, `_loaded_at` kept).
    after = warehouse.query(f"select * from {NPS.table} where _load_id = ? order by response_id", [OLD])
    assert after.equals(before)
    assert cross_partition_duplicates(warehouse, NPS) == {}

    # Re-loading the losing file as it is brings its duplicates back: the check says so again.
    again = run(OLD)
    assert not pk_check(again).passed and not downstream_ran(again)


def test_a_key_repeated_within_one_file_only_warns(run, karte_inbox):
    write_export(karte_inbox, OLD, [answer(1, 3), answer(1, 4), answer(2, 5)])
    result = run(OLD)
    check = pk_check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN  # the latest kept
    assert result.success and downstream_ran(result)
