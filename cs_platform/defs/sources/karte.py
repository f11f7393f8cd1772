"""KARTE exports: NPS responses and tour views, one CSV file per drop (weekly,
named by the last day the file covers: `nps_responses_20261121.csv`).

Each file is a dynamic partition named after the file. A sensor per object
watches the export location (a local folder, or gs:// in production) and, for
every file version it has not seen, adds the partition and requests one run:
- a version is the file's name and content hash: the cursor maps each name seen
  to the hash last requested, so a file that arrives late (an older date after a
  newer one) is still picked up, and a corrected file dropped under the same
  name is loaded again;
- the run key is `<object>:<name>:<hash>`, and a file whose latest load (by any
  run) recorded the same `content_hash` counts as seen, so a lost or reset cursor
  does not load a version twice.
Writers should drop complete files (write elsewhere, then move or rename): only
names matching `<object>_YYYYMMDD.csv` count.

Re-loading a file (materializing its partition again, or a corrected version)
replaces exactly that file's rows: the raw table's `_load_id` is the file name.
The bad rows of an earlier version that the new one no longer has are resolved
in the quarantine (`resolved_by` names the file, its new hash and the run).
A file whose header lacks a catalog column (or repeats one) fails its run naming
the expected and found columns; nothing of it is loaded.
"""

import csv
import json
import re

import dagster as dg
from pydantic import Field

from cs_platform.resources.karte_exports import KarteExportsResource, decode
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


class ExportHeaderError(ValueError):
    """The file's header is not the export's columns: no row of it can be read right."""


def check_header(obj: SourceObject, name: str, header: list[str]) -> None:
    """Every catalog column once; extra columns are allowed (kept, and named by the
    loader's column check)."""
    expected = list(obj.columns)
    missing = [c for c in expected if c not in header]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if not (missing or repeated):
        return
    unexpected = [c for c in header if c not in obj.columns]
    problems = [f"missing {', '.join(missing)}" if missing else "",
                f"repeated {', '.join(repeated)}" if repeated else "",
                f"unexpected {', '.join(unexpected)}" if unexpected else ""]
    raise ExportHeaderError(
        f"karte {obj.name} export {name}: header has [{', '.join(header)}]; expected "
        f"[{', '.join(expected)}]: {'; '.join(p for p in problems if p)}. Nothing was loaded; "
        f"drop a corrected file under the same name to load it.")


def read_export(exports: KarteExportsResource, obj: SourceObject, name: str) -> tuple[list[dict], str]:
    """The file's rows as dicts, and its content hash. A CSV has no null: an empty cell
    is a missing value. Cells beyond the header are kept (as `_extra_cells`), not dropped."""
    folder = exports.folder()
    data = folder.read_bytes(name)
    reader = csv.DictReader(decode(data), restkey="_extra_cells")
    check_header(obj, name, list(reader.fieldnames or []))
    rows = [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]
    return rows, folder.content_hash(data)


class ExportFileConfig(dg.Config):
    supersede_other_files: bool = Field(
        default=False,
        description="This file wins the keys it shares with other files: their rows with those "
                    "keys are deleted as this file is loaded (resolves cross-file duplicate keys; "
                    "docs/operations.md).")


def export_file_asset(obj: SourceObject, partitions: dg.DynamicPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(**raw_asset_kwargs(obj), partitions_def=partitions)
    def _export(context: dg.AssetExecutionContext, warehouse: Warehouse,
                karte_exports: KarteExportsResource, config: ExportFileConfig) -> dg.MaterializeResult:
        name = context.partition_key
        rows, content_hash = read_export(karte_exports, obj, name)
        return load(context, warehouse, obj, rows, load_id=name, replace_where=("_load_id", [name]),
                    extra_metadata={"file": name, "content_hash": content_hash}, source_version=content_hash,
                    supersede_other_partitions=config.supersede_other_files)

    return _export


def export_file_sensor(obj: SourceObject, partitions: dg.DynamicPartitionsDefinition,
                       asset: dg.AssetsDefinition) -> dg.SensorDefinition:
    pattern = export_file_pattern(obj)

    @dg.sensor(name=f"karte_{obj.name}_files", target=asset,
               minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Loads each new `{obj.name}_YYYYMMDD.csv` dropped in KARTE_EXPORT_URI once.")
    def _sensor(context: dg.SensorEvaluationContext, karte_exports: KarteExportsResource):
        seen = read_cursor(context.cursor)
        folder = karte_exports.folder()
        files = [f for f in folder.list_files() if pattern.fullmatch(f)]
        versions = folder.versions(files)
        loaded = None
        new: dict[str, str] = {}
        for f, content_hash in versions.items():
            if f in seen and seen[f] in (content_hash, None):  # None: a cursor from before hashes
                seen[f] = content_hash
                continue
            if f not in seen:
                # Files already loaded by any run (the demo, a manual run) count as seen
                # too, so a reset cursor does not load everything again.
                if loaded is None:
                    loaded = context.instance.get_materialized_partitions(asset.key)
                if f in loaded and loaded_version(context.instance, asset.key, f) in (content_hash, None):
                    seen[f] = content_hash
                    continue
            new[f] = content_hash
        if not new:
            skip = f"no new {obj.name} files ({len(files)} in the folder, all seen)"
            cursor = json.dumps(dict(sorted(seen.items())))
            if cursor == (context.cursor or "{}"):
                return dg.SkipReason(skip)
            return dg.SensorResult(skip_reason=skip, cursor=cursor)  # seen files newly hashed
        known = set(context.instance.get_dynamic_partitions(partitions.name))
        added = [f for f in new if f not in known]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{obj.name}:{f}:{h}", partition_key=f,
                                        tags={"karte/content_hash": h}) for f, h in new.items()],
            dynamic_partitions_requests=[partitions.build_add_request(added)] if added else [],
            cursor=json.dumps(dict(sorted({**seen, **new}.items()))),
        )

    return _sensor


def read_cursor(cursor: str | None) -> dict[str, str | None]:
    """Name -> content hash last requested; a cursor from before hashes (a list of
    names) maps each name to None."""
    value = json.loads(cursor) if cursor else {}
    return dict.fromkeys(value) if isinstance(value, list) else dict(value)


def loaded_version(instance: dg.DagsterInstance, key: dg.AssetKey, name: str) -> str | None:
    """The `content_hash` the file's latest materialization recorded (None: not recorded)."""
    result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[name]),
                                             limit=1)
    if not result.records:
        return None
    value = result.records[0].asset_materialization.metadata.get("content_hash")
    return None if value is None else value.value


assets, sensors = [], []
for _obj in catalog.objects_of("karte"):
    _partitions = file_partitions(_obj)
    _asset = export_file_asset(_obj, _partitions)
    assets.append(_asset)
    sensors.append(export_file_sensor(_obj, _partitions, _asset))

defs = dg.Definitions(assets=assets, sensors=sensors)
