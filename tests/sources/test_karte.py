"""KARTE export files: the sensor turns each new file into one partition and one run;
the run loads that file."""

import csv
import shutil

import dagster as dg
import pytest

from cs_platform.defs.sources import karte
from cs_platform.resources.karte_exports import GCSExportFolder, KarteExportsResource
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


def test_each_new_file_is_requested_once(instance, source_data, karte_inbox, karte_exports):
    assert isinstance(evaluate(instance, None, karte_exports), dg.SkipReason)

    names = list(nps_files(source_data))
    newest = drop(source_data, karte_inbox, names[-1])
    drop(source_data, karte_inbox, "tour_views_" + names[-1].split("_")[-1])  # another object's file
    (karte_inbox / f"{newest}.part").write_text("still uploading")  # not a complete export
    first = evaluate(instance, None, karte_exports)
    assert [(r.partition_key, r.run_key) for r in first.run_requests] == [(newest, f"nps_responses:{newest}")]
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
    assert isinstance(evaluate(instance, None, karte_exports), dg.SkipReason)


def test_a_malformed_row_is_quarantined_and_the_rest_loaded(materialize, instance, source_data, karte_inbox,
                                                            karte_exports):
    # All generated answers in one file, plus one whose score is not a number.
    rows = []
    for name in nps_files(source_data):
        with open(source_data.out_dir / "karte" / name, newline="") as handle:
            rows.extend(csv.DictReader(handle))
    bad = {**rows[0], "response_id": "resp-bad-score", "score": "ten"}
    name = "nps_responses_20261101.csv"
    with open(karte_inbox / name, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(NPS.columns))
        writer.writeheader()
        writer.writerows([*rows, bad])
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
