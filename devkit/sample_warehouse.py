"""Fill a warehouse's raw tables straight from a generated sample data set.

The dbt tests and the dbt benchmark need realistic raw tables fast, without the
sandbox's HTTP round trips. This reads what the generator wrote (the product DB,
the wire-shaped JSONL per object, the KARTE CSV drops) and writes each raw table
through the loaders' own `prepare` (flatten, cast, quarantine) and
`Warehouse.write`, so the tables have exactly the types and load columns the real
loaders give them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources import catalog
from cs_platform.sources.catalog import LOAD_METADATA_COLUMNS, SourceObject
from cs_platform.sources.loading import prepare

SAMPLE_LOAD_ID = "sample"
PRODUCT_DB_CHUNK_ROWS = 500_000


def load_sample_data(sample_dir: str | Path, warehouse: Warehouse,
                     objects: list[SourceObject] | None = None) -> dict[str, int]:
    """Write every catalog object found in `sample_dir` to its raw table (replacing
    it). Returns rows written per `<tool>/<name>`."""
    sample = Path(sample_dir)
    manifest = json.loads((sample / "manifest.json").read_text())
    written: dict[str, int] = {}
    for obj in objects or list(catalog.SOURCE_OBJECTS.values()):
        name = f"{obj.tool}/{obj.name}"
        total, first = 0, True
        for load_id, frame in _frames(sample, manifest, obj):
            good, quarantined, _, _ = prepare(obj, frame)
            if quarantined:
                key, reason, _ = quarantined[0]
                raise ValueError(f"{name}: {len(quarantined)} sample record(s) failed validation, "
                                 f"first key={key!r}: {reason}")
            total += write_raw(warehouse, obj, good, load_id, replace_all=first)
            first = False
        if first:  # no rows at all: still create the empty table dbt reads
            total += write_raw(warehouse, obj, pd.DataFrame(columns=list(obj.columns)), SAMPLE_LOAD_ID,
                               replace_all=True)
        written[name] = total
    return written


def write_raw(warehouse: Warehouse, obj: SourceObject, good: pd.DataFrame, load_id: str,
              *, replace_all: bool = False) -> int:
    """Write already-cast rows the way `loading.load` does: catalog columns plus the load columns."""
    columns = {**obj.columns, **LOAD_METADATA_COLUMNS}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    frame = good.reindex(columns=list(obj.columns)).assign(_loaded_at=now, _load_id=load_id)
    return warehouse.write(obj.table, frame, columns, replace_all=replace_all)


def _frames(sample: Path, manifest: dict, obj: SourceObject) -> Iterator[tuple[str, pd.DataFrame | list]]:
    if obj.tool == "product_db":
        yield from _product_db_frames(sample, manifest, obj)
        return
    files = manifest.get("files", {}).get(f"{obj.tool}/{obj.name}", {})
    for relpath in sorted(files):
        path = sample / relpath
        if path.suffix == ".csv":
            # A KARTE drop: the raw table's _load_id is the file name, as the loader sets it.
            with path.open(newline="", encoding="utf-8") as handle:
                rows = [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)]
            yield path.name, rows
        else:
            with path.open("rb") as handle:
                yield SAMPLE_LOAD_ID, [json.loads(line) for line in handle if line.strip()]


def _product_db_frames(sample: Path, manifest: dict, obj: SourceObject) -> Iterator[tuple[str, pd.DataFrame]]:
    product_db = manifest.get("product_db", "product.db")
    url = product_db if "://" in product_db else f"sqlite:///{(sample / product_db).resolve()}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            columns = ", ".join(f'"{c}"' for c in obj.columns)
            for chunk in pd.read_sql_query(sa.text(f'select {columns} from "{obj.api_name}"'), connection,
                                           chunksize=PRODUCT_DB_CHUNK_ROWS):
                yield SAMPLE_LOAD_ID, chunk
    finally:
        engine.dispose()
