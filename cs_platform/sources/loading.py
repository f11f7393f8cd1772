"""Turning fetched source records into a raw table: validate, quarantine, write, report.

Every raw asset ends with `load(...)`. It
1. flattens nested JSON one level (`properties.name` -> `properties__name`),
2. casts each catalog column to its logical type; a record whose key is missing or
   whose value cannot be cast goes to `raw_quarantine.records` with the source,
   object, key and reason, never silently dropped,
3. fails the run (writing nothing) when the quarantined share passes the threshold,
4. writes the good rows in one transaction (a partition, an upsert by key, or a
   full refresh), with `_loaded_at` and `_load_id` added,
5. returns a `MaterializeResult` whose metadata and asset checks say what happened:
   primary key unique within the load, expected columns present (schema drift
   named), rows loaded when the source had rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources.catalog import LOAD_METADATA_COLUMNS, SourceObject
from cs_platform.values import is_missing

QUARANTINE_TABLE = "raw_quarantine.records"
QUARANTINE_COLUMNS = {
    "source": "string", "object": "string", "record_key": "string", "reason": "string",
    "payload": "json", "run_id": "string", "load_id": "string", "quarantined_at": "timestamp",
}
# The run fails when more than this share of a load is bad AND more than
# QUARANTINE_MIN_COUNT records are: something systematic is wrong. A single bad
# record in a small incremental load is quarantined without blocking the rest.
DEFAULT_QUARANTINE_THRESHOLD = 0.05
QUARANTINE_MIN_COUNT = 10

CHECK_PRIMARY_KEY = "primary_key_unique"
CHECK_COLUMNS = "expected_columns_present"
CHECK_NOT_EMPTY = "rows_loaded_when_source_had_rows"


def raw_check_specs(obj: SourceObject, asset_key: dg.AssetKey | None = None) -> list[dg.AssetCheckSpec]:
    """The checks every raw table carries; `load` yields their results."""
    key = asset_key or dg.AssetKey(obj.asset_key_path)
    pk = ", ".join(obj.primary_key)
    return [
        dg.AssetCheckSpec(CHECK_PRIMARY_KEY, asset=key,
                          description=f"Primary key ({pk}) present and unique within each load."),
        dg.AssetCheckSpec(CHECK_COLUMNS, asset=key,
                          description="The source still sends the catalog's columns; added and "
                                      "removed columns are named (schema drift)."),
        dg.AssetCheckSpec(CHECK_NOT_EMPTY, asset=key,
                          description="When the source returned records, at least one was loaded."),
    ]


def flatten(record: Mapping) -> dict:
    """One level of nesting becomes `parent__child`; lists become JSON text."""
    flat: dict = {}
    for k, v in record.items():
        if k == "attributes" and isinstance(v, Mapping) and "type" in v:
            continue  # Salesforce's per-record envelope, not data
        if isinstance(v, Mapping):
            for ck, cv in v.items():
                flat[f"{k}__{ck}"] = json.dumps(cv) if isinstance(cv, (list, dict)) else cv
        elif isinstance(v, list):
            flat[k] = json.dumps(v)
        else:
            flat[k] = v
    return flat


def _cast(series: pd.Series, logical_type: str) -> pd.Series:
    """Cast one column; values that cannot be cast become NaN/NaT (caught by the caller)."""
    if logical_type == "string" or logical_type == "json":
        return series.map(lambda v: v if v is None or isinstance(v, str) else
                          (json.dumps(v) if isinstance(v, (list, dict)) else str(v)), na_action="ignore")
    if logical_type == "integer":
        num = pd.to_numeric(series, errors="coerce")
        whole = num.where(num.isna() | (num == num.round()))
        return whole.astype("Int64")
    if logical_type == "float":
        return pd.to_numeric(series, errors="coerce").astype("Float64")
    if logical_type == "boolean":
        # True == 1 and False == 0 as dict keys, so the booleans also cover the integers 1 and 0.
        mapping = {True: True, False: False, "true": True, "false": False, "True": True,
                   "False": False, "1": True, "0": False}
        return series.map(lambda v: mapping.get(v, pd.NA), na_action="ignore").astype("boolean")
    if logical_type == "timestamp":
        return _cast_timestamps(series)
    if logical_type == "date":
        return _cast_dates(series)
    raise ValueError(f"unknown logical type {logical_type!r}")


def _cast_timestamps(series: pd.Series) -> pd.Series:
    """Vectorised for the common case (ISO 8601 text, or values already datetimes);
    per value for the rest (epoch milliseconds, odd formats), so both agree."""
    text = series.map(lambda v: v if isinstance(v, str) and not v.isdigit() else None, na_action="ignore")
    fast = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    fast = fast.dt.tz_convert(None).astype("datetime64[us]")
    rest = series.notna() & fast.isna()
    if rest.any():
        fast = fast.astype("object")
        fast[rest] = series[rest].map(parse_timestamp)
        fast = fast.astype("datetime64[us]")
    return fast


def _cast_dates(series: pd.Series) -> pd.Series:
    """Vectorised like timestamps: ISO dates (or the date part of an ISO timestamp,
    or date objects), then GA4's `YYYYMMDD`; per value for the rest, as `_parse_date`."""
    text = series.astype(str)
    dates = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    rest = series.notna() & dates.isna()
    if rest.any():
        dates[rest] = pd.to_datetime(text[rest], format="%Y%m%d", errors="coerce")
        rest = series.notna() & dates.isna()
    if rest.any():
        dates = dates.astype("object")
        dates[rest] = series[rest].map(_parse_date)
    return dates.astype("datetime64[us]").dt.normalize()


def parse_timestamp(v):
    """ISO 8601 (any offset, Salesforce's +0000 too) or epoch milliseconds -> naive UTC."""
    try:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return pd.Timestamp(int(v), unit="ms").to_pydatetime()
        if isinstance(v, datetime):
            ts = pd.Timestamp(v)
        elif isinstance(v, str) and v.isdigit() and len(v) >= 12:
            return pd.Timestamp(int(v), unit="ms").to_pydatetime()
        else:
            ts = pd.Timestamp(str(v))
        if ts.tzinfo is not None:
            ts = ts.tz_convert(timezone.utc).tz_localize(None)
        return ts.to_pydatetime()
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _parse_date(v):
    """`2026-11-01`, GA4's `20261101`, or a datetime -> midnight of that day."""
    try:
        s = str(v)
        if len(s) == 8 and s.isdigit():
            return datetime.strptime(s, "%Y%m%d")
        return pd.Timestamp(s[:10]).to_pydatetime()
    except (ValueError, TypeError):
        return pd.NaT


@dataclass
class LoadResult:
    fetched: int
    written: int
    quarantined: int
    duplicate_keys: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)


class QuarantineThresholdExceeded(Exception):
    pass


def _key_of(row: Mapping, primary_key: Sequence[str]) -> str:
    return "|".join("" if row.get(k) is None else str(row.get(k)) for k in primary_key)


def prepare(obj: SourceObject, records: Iterable[Mapping] | pd.DataFrame):
    """Validate and cast. Returns (good rows, quarantined [(key, reason, payload)],
    observed field names, duplicate keys)."""
    if isinstance(records, pd.DataFrame):
        frame = records.reset_index(drop=True)
    else:
        frame = pd.DataFrame.from_records([flatten(r) for r in records])
    observed = list(frame.columns)
    for col in obj.columns:
        if col not in frame.columns:
            frame[col] = None
    bad_reason = pd.Series([None] * len(frame), dtype="object")

    for k in obj.primary_key:
        missing = frame[k].isna()
        bad_reason = bad_reason.where(~(missing & bad_reason.isna()), f"primary key field {k} is missing")

    typed = pd.DataFrame(index=frame.index)
    for col, logical in obj.columns.items():
        raw = frame[col]
        cast = _cast(raw.astype("object").where(raw.notna(), None), logical)
        failed = raw.notna() & cast.isna()
        if failed.any():
            sample = raw[failed].astype(str)
            reason = "field " + col + ": cannot read " + sample.str.slice(0, 60).map(repr) + f" as {logical}"
            bad_reason = bad_reason.where(~(failed & bad_reason.isna()), reason)
        typed[col] = cast
    # Fields the catalog does not know are kept (as text) so nothing is lost.
    for col in frame.columns:
        if col not in obj.columns and col not in LOAD_METADATA_COLUMNS:
            typed[col] = _cast(frame[col].astype("object").where(frame[col].notna(), None), "string")

    bad = bad_reason.notna()
    quarantined = []
    if bad.any():
        for idx in frame.index[bad]:
            row = frame.loc[idx].to_dict()
            payload = {k: (None if is_missing(v) else v) for k, v in row.items()}
            quarantined.append((_key_of(payload, obj.primary_key), bad_reason[idx], payload))
    good = typed[~bad]

    key_frame = good[list(obj.primary_key)].astype(str)
    dup_mask = key_frame.duplicated(keep=False)
    duplicate_keys = sorted(set(key_frame[dup_mask].agg("|".join, axis=1))) if dup_mask.any() else []
    if duplicate_keys:
        # Keep the latest version of a record that appeared twice (e.g. updated during paging).
        order = [obj.cursor] if obj.cursor and obj.cursor in good.columns else []
        good = (good.sort_values(order, kind="stable") if order else good)
        good = good.drop_duplicates(list(obj.primary_key), keep="last")
    return good, quarantined, observed, duplicate_keys


def load(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    obj: SourceObject,
    records: Iterable[Mapping] | pd.DataFrame,
    *,
    load_id: str,
    replace_where: tuple[str, Sequence] | None = None,
    replace_all: bool = False,
    quarantine_threshold: float = DEFAULT_QUARANTINE_THRESHOLD,
    extra_metadata: Mapping[str, object] | None = None,
) -> dg.MaterializeResult:
    """Validate, quarantine, write atomically, and report. Upserts by primary key
    unless `replace_where` (a partition or file) or `replace_all` (full refresh)."""
    if not isinstance(records, pd.DataFrame):
        records = list(records)
    fetched = len(records)
    good, quarantined, observed, duplicate_keys = prepare(obj, records)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    run_id = context.run.run_id if context.run else ""

    if quarantined:
        qdf = pd.DataFrame(
            [{"source": obj.tool, "object": obj.name, "record_key": key, "reason": reason,
              "payload": json.dumps(payload, default=str), "run_id": run_id, "load_id": load_id,
              "quarantined_at": now} for key, reason, payload in quarantined])
        # Keyed by record, so a record still bad at the source is held once, with its latest reason.
        warehouse.write(QUARANTINE_TABLE, qdf, QUARANTINE_COLUMNS, key_columns=("source", "object", "record_key"))
        context.log.warning(
            f"{obj.tool}/{obj.name}: {len(quarantined)} record(s) quarantined in {QUARANTINE_TABLE}; "
            f"first: key={quarantined[0][0]!r} reason={quarantined[0][1]}")
        share = len(quarantined) / max(fetched, 1)
        if share > quarantine_threshold and len(quarantined) > QUARANTINE_MIN_COUNT:
            raise QuarantineThresholdExceeded(
                f"{obj.tool}/{obj.name}: {len(quarantined)} of {fetched} records "
                f"({share:.1%}) failed validation, above the {quarantine_threshold:.0%} threshold "
                f"(and more than {QUARANTINE_MIN_COUNT}); "
                f"nothing was written. First bad record: key={quarantined[0][0]!r}: {quarantined[0][1]}. "
                f"All are in {QUARANTINE_TABLE} (load_id={load_id!r}).")

    extra_columns = [c for c in good.columns if c not in obj.columns]
    columns = {**obj.columns, **{c: "string" for c in extra_columns}, **LOAD_METADATA_COLUMNS}
    good = good.assign(_loaded_at=now, _load_id=load_id)
    written = warehouse.write(obj.table, good, columns, key_columns=obj.primary_key,
                              replace_where=replace_where, replace_all=replace_all)

    added = [c for c in observed if c not in obj.columns and c not in LOAD_METADATA_COLUMNS]
    removed = [c for c in obj.columns if c not in observed] if observed else []
    result = LoadResult(fetched, written, len(quarantined), duplicate_keys, added, removed)
    return materialize_result(obj, result, load_id, warehouse.row_count(obj.table), extra_metadata)


def materialize_result(obj: SourceObject, r: LoadResult, load_id: str, table_rows: int,
                       extra_metadata: Mapping[str, object] | None = None) -> dg.MaterializeResult:
    key = dg.AssetKey(obj.asset_key_path)
    checks = [
        dg.AssetCheckResult(
            check_name=CHECK_PRIMARY_KEY, asset_key=key, passed=not r.duplicate_keys,
            metadata={"duplicate_keys": dg.MetadataValue.json(r.duplicate_keys[:50]),
                      "duplicate_count": len(r.duplicate_keys)},
            description=None if not r.duplicate_keys else
            f"{len(r.duplicate_keys)} key(s) appeared more than once in this load, e.g. "
            f"{', '.join(r.duplicate_keys[:5])}; the latest version of each was kept."),
        dg.AssetCheckResult(
            check_name=CHECK_COLUMNS, asset_key=key, passed=not (r.added_columns or r.removed_columns),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"added_columns": dg.MetadataValue.json(r.added_columns),
                      "removed_columns": dg.MetadataValue.json(r.removed_columns)},
            description=None if not (r.added_columns or r.removed_columns) else
            f"Schema drift in {obj.tool}/{obj.name}: added {r.added_columns or 'none'}, "
            f"removed {r.removed_columns or 'none'}."),
        dg.AssetCheckResult(
            check_name=CHECK_NOT_EMPTY, asset_key=key, passed=not (r.fetched > 0 and r.written == 0),
            metadata={"fetched": r.fetched, "written": r.written}),
    ]
    metadata = {
        "dagster/row_count": table_rows,
        "rows_written": r.written,
        "fetched": r.fetched,
        "quarantined": r.quarantined,
        "load_id": load_id,
        "table": obj.table,
        **(extra_metadata or {}),
    }
    return dg.MaterializeResult(asset_key=key, metadata=metadata, check_results=checks)


def raw_asset_kwargs(obj: SourceObject) -> dict:
    """What every raw asset declares, so they look alike in the UI: key, group per
    tool, kinds (tool + warehouse), owner, description, column schema, the
    warehouse concurrency pool and the raw checks."""
    from cs_platform import settings

    return {
        "key": dg.AssetKey(obj.asset_key_path),
        "group_name": obj.tool,
        "kinds": {obj.tool.replace("_", ""), settings.warehouse_kind()},
        "owners": [settings.OWNER],
        "description": f"{obj.description}\n\nRaw `{obj.table}` from {obj.tool} `{obj.api_name}`; "
                       f"primary key ({', '.join(obj.primary_key)})"
                       + (f", incremental on `{obj.cursor}`." if obj.cursor else "."),
        "metadata": {
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c, t) for c, t in obj.columns.items()]),
            "dagster/table_name": obj.table,
        },
        "pool": settings.WAREHOUSE_POOL,
        "check_specs": raw_check_specs(obj),
    }


def warehouse_cursor(warehouse: Warehouse, obj: SourceObject) -> datetime | None:
    """The latest cursor value already loaded (naive UTC), None before the first load."""
    if warehouse.columns(obj.table) is None:
        return None
    # Catalog cursor names are plain identifiers, valid unquoted on DuckDB and BigQuery.
    latest = warehouse.scalar(f"select max({obj.cursor}) from {warehouse.table_ref(obj.table)}")
    return None if latest is None or pd.isna(latest) else pd.Timestamp(latest).to_pydatetime()
