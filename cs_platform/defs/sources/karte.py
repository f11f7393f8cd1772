"""KARTE exports: NPS responses and tour views, one CSV file per drop (weekly,
named by the last day the file covers: `nps_responses_20261121.csv`).

Each file is a dynamic partition named after the file. A sensor per object
watches the export location (a local folder, or gs:// in production) and, for
every file it has not seen, adds the partition and requests one run for it:
- the cursor is the set of names seen, so a file that arrives late (an older
  date after a newer one) is still picked up;
- files already loaded by any run count as seen, and the run key is the file
  name, so a lost or reset cursor does not load a file twice.
Writers should drop complete files (write elsewhere, then move or rename): only
names matching `<object>_YYYYMMDD.csv` count.

Re-loading a file (materializing its partition again) replaces exactly that
file's rows: the raw table's `_load_id` is the file name.
"""

import csv
import json
import re

import dagster as dg

from cs_platform.resources.karte_exports import KarteExportsResource
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.loading import load, raw_asset_kwargs

SENSOR_INTERVAL_SECONDS = 30
# KARTE exports one file per object a week: warn after one missed drop, fail after two.


def export_file_pattern(obj: SourceObject) -> re.Pattern:
    return re.compile(rf"{re.escape(obj.name)}_\d{{8}}\.csv")


def file_partitions(obj: SourceObject) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"karte_{obj.name}_files")


def read_export(exports: KarteExportsResource, name: str) -> list[dict]:
    """The file's rows as dicts. A CSV has no null: an empty cell is a missing value.
    Cells beyond the header are kept (as `_extra_cells`), not dropped."""
    with exports.folder().open_text(name) as handle:
        reader = csv.DictReader(handle, restkey="_extra_cells")
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]


def export_file_asset(obj: SourceObject, partitions: dg.DynamicPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(**raw_asset_kwargs(obj), partitions_def=partitions)
    def _export(context: dg.AssetExecutionContext, warehouse: Warehouse,
                karte_exports: KarteExportsResource) -> dg.MaterializeResult:
        name = context.partition_key
        return load(context, warehouse, obj, read_export(karte_exports, name),
                    load_id=name, replace_where=("_load_id", [name]), extra_metadata={"file": name})

    return _export


def export_file_sensor(obj: SourceObject, partitions: dg.DynamicPartitionsDefinition,
                       asset: dg.AssetsDefinition) -> dg.SensorDefinition:
    pattern = export_file_pattern(obj)

    @dg.sensor(name=f"karte_{obj.name}_files", target=asset,
               minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Loads each new `{obj.name}_YYYYMMDD.csv` dropped in KARTE_EXPORT_URI once.")
    def _sensor(context: dg.SensorEvaluationContext, karte_exports: KarteExportsResource):
        seen = set(json.loads(context.cursor)) if context.cursor else set()
        # Files already loaded by any run (the demo, a manual run) count as seen too, so
        # a reset cursor does not load everything again.
        seen |= context.instance.get_materialized_partitions(asset.key)
        files = [f for f in karte_exports.folder().list_files() if pattern.fullmatch(f)]
        new = [f for f in files if f not in seen]
        if not new:
            return dg.SkipReason(f"no new {obj.name} files ({len(files)} in the folder, all seen)")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{obj.name}:{f}", partition_key=f) for f in new],
            dynamic_partitions_requests=[partitions.build_add_request(new)],
            cursor=json.dumps(sorted(seen | set(new))),
        )

    return _sensor


assets, sensors = [], []
for _obj in catalog.objects_of("karte"):
    _partitions = file_partitions(_obj)
    _asset = export_file_asset(_obj, _partitions)
    assets.append(_asset)
    sensors.append(export_file_sensor(_obj, _partitions, _asset))

defs = dg.Definitions(assets=assets, sensors=sensors)
