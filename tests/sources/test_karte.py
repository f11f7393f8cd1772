"""KARTE export files: the sensor turns each new file (or new version of a file) into
one partition and one run; the run loads that file."""

import csv
import shutil

import dagster as dg
import pandas as pd
import pytest

from cs_platform.defs.sources import karte
from cs_platform.resources.karte_exports import GCSExportFolder, KarteExportsResource, LocalExportFolder
from cs_platform.sources import catalog

NPS = catalog.get("karte", "nps_responses")
NPS_PARTITIONS = karte.file_partitions(NPS)
nps_asset = next(a for a in karte.assets if a.key == dg.AssetKey(NPS.asset_key_path))
nps_sensor = next(s for s in karte.sensors if s.name == "karte_nps_responses_files")


@pytest.fixture
def instance():
    """Persistent: sensors read and the runs add dynamic partitions."""
    with dg.instance_for_test() as instance:
        yield instance


def nps_files(source_data) -> dict[str, int]:
    """Generated NPS export file name -> rows, oldest first."""
    files = source_data.files["karte/nps_responses"]
    return {path.split("/")[-1]: rows for path, rows in sorted(files.items())}


def drop(source_data, inbox, name: str) -> str:
    shutil.copyfile(source_data.out_dir / "karte" / name, inbox / name)
    return name


def evaluate(instance, cursor, exports: KarteExportsResource):
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"karte_exports": exports}) as context:
        return nps_sensor(context)


def requests_nothing(result) -> bool:
    return isinstance(result, dg.SkipReason) or (isinstance(result, dg.SensorResult) and not result.run_requests)


def content_hash(path) -> str:
    return LocalExportFolder.content_hash(path.read_bytes())


def generated_rows(source_data) -> list[dict]:
    """All generated NPS answers, from every generated file."""
    rows = []
    for name in nps_files(source_data):
        with open(source_data.out_dir / "karte" / name, newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def write_export(path, rows, fieldnames=None):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames or list(NPS.columns))
        writer.writeheader()
        writer.writerows(rows)


def test_each_new_file_is_requested_once(instance, source_data, karte_inbox, karte_exports):
    assert isinstance(evaluate(instance, None, karte_exports), dg.SkipReason)

    names = list(nps_files(source_data))
    newest = drop(source_data, karte_inbox, names[-1])
    drop(source_data, karte_inbox, "tour_views_" + names[-1].split("_")[-1])  # another object's file
    (karte_inbox / f"{newest}.part").write_text("still uploading")  # not a complete export
    first = evaluate(instance, None, karte_exports)
    assert [(r.partition_key, r.run_key) for r in first.run_requests] == [
        (newest, f"nps_responses:{newest}:{content_hash(karte_inbox / newest)}")]
    [add] = first.dynamic_partitions_requests
    assert (add.partitions_def_name, list(add.partition_keys)) == (NPS_PARTITIONS.name, [newest])

    again = evaluate(instance, first.cursor, karte_exports)
    assert isinstance(again, dg.SkipReason)

    older = drop(source_data, karte_inbox, names[0])  # arrives late, out of order
    second = evaluate(instance, first.cursor, karte_exports)
    assert [r.partition_key for r in second.run_requests] == [older]


def test_the_run_loads_its_file(materialize, instance, source_data, karte_inbox, karte_exports):
    names = nps_files(source_data)
    first, second = list(names)[:2]
    for name in (first, second):
        drop(source_data, karte_inbox, name)
    instance.add_dynamic_partitions(NPS_PARTITIONS.name, [first, second])

    loaded = materialize([nps_asset], partition_key=first, karte_exports=karte_exports)
    assert loaded.success
    table = loaded.table(NPS)
    assert len(table) == names[first] and set(table["_load_id"]) == {first}
    assert all(loaded.checks(NPS).values())

    # The same file again replaces its own rows; the next file adds its own.
    materialize([nps_asset], partition_key=first, karte_exports=karte_exports)
    loaded = materialize([nps_asset], partition_key=second, karte_exports=karte_exports)
    assert loaded.warehouse.row_count(NPS.table) == names[first] + names[second]

    # Files loaded by any run (the demo, a manual run) are not requested again, even
    # by a sensor whose cursor was reset.
    assert requests_nothing(evaluate(instance, None, karte_exports))


def test_a_malformed_row_is_quarantined_and_the_rest_loaded(materialize, instance, source_data, karte_inbox,
                                                            karte_exports):
    # All generated answers in one file, plus one whose score is not a number.
    rows = generated_rows(source_data)
    bad = {**rows[0], "response_id": "resp-bad-score", "score": "ten"}
    name = "nps_responses_20261101.csv"
    write_export(karte_inbox / name, [*rows, bad])
    instance.add_dynamic_partitions(NPS_PARTITIONS.name, [name])

    loaded = materialize([nps_asset], partition_key=name, karte_exports=karte_exports)
    assert loaded.success
    assert loaded.warehouse.row_count(NPS.table) == len(rows)
    quarantined = loaded.quarantined(NPS)
    assert list(quarantined["record_key"]) == ["resp-bad-score"]
    assert "score" in quarantined["reason"][0] and "'ten'" in quarantined["reason"][0]
    assert loaded.metadata(NPS)["quarantined"] == 1


def test_a_gs_location_is_read_from_cloud_storage():
    folder = KarteExportsResource(location="gs://cs-exports/karte/daily/").folder()
    assert isinstance(folder, GCSExportFolder)
    assert (folder.bucket_name, folder.prefix) == ("cs-exports", "karte/daily/")


def test_a_corrected_file_under_the_same_name_is_loaded_and_resolves_its_bad_rows(
        materialize, instance, source_data, karte_inbox, karte_exports):
    rows = generated_rows(source_data)
    name = "nps_responses_20261101.csv"
    write_export(karte_inbox / name, [*rows, {**rows[0], "response_id": "resp-bad-score", "score": "ten"}])
    bad_hash = content_hash(karte_inbox / name)
    first = evaluate(instance, None, karte_exports)
    [request] = first.run_requests
    assert (request.partition_key, request.run_key) == (name, f"nps_responses:{name}:{bad_hash}")
    instance.add_dynamic_partitions(NPS_PARTITIONS.name, [name])
    bad_load = materialize([nps_asset], partition_key=name, karte_exports=karte_exports)
    assert bad_load.success and bad_load.metadata(NPS)["content_hash"] == bad_hash
    (held,) = bad_load.quarantined(NPS).to_dict("records")
    assert (held["record_key"], held["load_id"], held["source_version"]) == ("resp-bad-score", name, bad_hash)
    assert pd.isna(held["resolved_at"])

    # The exporter fixes the score and drops the file again under the same name.
    write_export(karte_inbox / name, [*rows, {**rows[0], "response_id": "resp-bad-score", "score": "10"}])
    fixed_hash = content_hash(karte_inbox / name)
    second = evaluate(instance, first.cursor, karte_exports)
    [request] = second.run_requests
    assert (request.partition_key, request.run_key) == (name, f"nps_responses:{name}:{fixed_hash}")
    assert not second.dynamic_partitions_requests  # the partition exists already

    fixed = materialize([nps_asset], partition_key=name, karte_exports=karte_exports)
    assert fixed.success and fixed.metadata(NPS)["quarantined"] == 0
    table = fixed.table(NPS)
    assert len(table) == len(rows) + 1 and "resp-bad-score" in set(table["response_id"])
    # The bad attempt's row is kept, marked resolved by the corrected file's load.
    (held,) = fixed.quarantined(NPS).to_dict("records")
    assert held["quarantine_id"] and pd.notna(held["resolved_at"])
    assert held["resolved_by"].startswith(f"load {name} @ {fixed_hash} (run ")

    # Seen now, also by a sensor whose cursor was reset.
    assert requests_nothing(evaluate(instance, second.cursor, karte_exports))
    assert requests_nothing(evaluate(instance, None, karte_exports))


def test_a_bad_header_fails_naming_expected_and_found_columns(materialize, instance, source_data, karte_inbox,
                                                             karte_exports):
    rows = [{("respondent" if k == "user_id" else k): v for k, v in row.items()}
            for row in generated_rows(source_data)]
    header = ["response_id", "account_id", "respondent", "score", "comment", "responded_at"]
    name = "nps_responses_20261101.csv"
    write_export(karte_inbox / name, rows, fieldnames=header)
    instance.add_dynamic_partitions(NPS_PARTITIONS.name, [name])

    loaded = materialize([nps_asset], partition_key=name, karte_exports=karte_exports)

    assert not loaded.success
    error = loaded.error()
    assert (f"karte nps_responses export {name}: header has [{', '.join(header)}]; "
            f"expected [{', '.join(NPS.columns)}]: missing user_id; unexpected respondent") in error
    assert "primary key" not in error
    assert loaded.quarantined(NPS).empty  # a file problem, not a row problem: nothing held
    assert loaded.warehouse.columns(NPS.table) is None  # nothing loaded
