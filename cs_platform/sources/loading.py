"""Turning fetched source records into a raw table: validate, quarantine, write, report.

Every raw asset ends with `load(...)`. It
1. flattens nested JSON one level (`properties.name` -> `properties__name`),
2. casts each catalog column to its logical type; a record whose key is missing or
   whose value cannot be cast goes to `raw_quarantine.records` with the source,
   object, key, reason and payload, never silently dropped: each bad row is held
   (once, however often it is loaded again) until it is resolved,
3. fails the run (writing nothing) when the quarantined share passes the threshold,
4. writes the good rows in one transaction (a partition, an upsert by key, or a
   full refresh), with `_loaded_at` and `_load_id` added,
5. returns a `MaterializeResult` whose metadata and asset checks say what happened:
   primary key unique within the load and across files, catalog columns present
   (a missing one blocks downstream where the source always names its columns),
   no unexpected columns (a warning), rows loaded when the source had rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from cs_platform.resources.warehouse import Warehouse, Write
from cs_platform.sources.catalog import LOAD_METADATA_COLUMNS, SourceObject
from cs_platform.values import plain

QUARANTINE_TABLE = "raw_quarantine.records"
# One row per bad source row, kept until it is resolved (see `quarantine_id` and
# `resolve_quarantine`). `quarantined_at` is when the row was first seen; a later
# load that sees the same bad row again updates reason, last_seen_at, load_id and
# run_id. Unresolved rows: `where resolved_at is null`.
QUARANTINE_COLUMNS = {
    "quarantine_id": "string",   # hash of source, object, scope, record key, content and occurrence
    "source": "string", "object": "string",
    "record_key": "string",      # the primary key ('|'-joined), '' when the key is missing
    "reason": "string",
    "payload": "json",           # the row as read, every field
    "scope": "string",           # what the load replaced: `<column>=<value>` (a file or partition),
                                 # 'full refresh', or '' (an upsert by key)
    "load_id": "string",         # the load that last saw it (a file name, a day, a cursor)
    "source_version": "string",  # e.g. the export file's content hash, when the loader knows it
    "run_id": "string",
    "quarantined_at": "timestamp",  # first seen
    "last_seen_at": "timestamp",
    "resolved_at": "timestamp",  # null while open
    "resolved_by": "string",     # 'load <load_id> ... (run <run_id>)', or whoever resolved it by hand
}
FULL_REFRESH_SCOPE = "full refresh"
# The run fails when more than this share of a load is bad AND more than
# QUARANTINE_MIN_COUNT records are: something systematic is wrong. A single bad
# record in a small incremental load is quarantined without blocking the rest.
DEFAULT_QUARANTINE_THRESHOLD = 0.05
QUARANTINE_MIN_COUNT = 10

CHECK_PRIMARY_KEY = "primary_key_unique"
CHECK_COLUMNS = "expected_columns_present"
CHECK_NEW_COLUMNS = "no_unexpected_columns"
CHECK_NOT_EMPTY = "rows_loaded_when_source_had_rows"


def raw_check_specs(obj: SourceObject, asset_key: dg.AssetKey | None = None) -> list[dg.AssetCheckSpec]:
    """The checks every raw table carries; `load` yields their results."""
    key = asset_key or dg.AssetKey(obj.asset_key_path)
    pk = ", ".join(obj.primary_key)
    # Blocking: a failure with severity ERROR stops what is downstream in the run (the
    # dbt models); a WARN does not.
    return [
        dg.AssetCheckSpec(CHECK_PRIMARY_KEY, asset=key, blocking=True,
                          description=f"Primary key ({pk}) present and unique: a key repeated within "
                                      "a load warns (the latest version is kept); a key loaded from "
                                      "two files is an error naming both (docs/operations.md)."),
        dg.AssetCheckSpec(CHECK_COLUMNS, asset=key, blocking=True,
                          description="The source still sends every catalog column (the columns the "
                                      "dbt sources declare); a missing one is named. An error where "
                                      "the source always names its columns (product DB, Salesforce, "
                                      "KARTE), else a warning (a JSON API may omit a null field)."),
        dg.AssetCheckSpec(CHECK_NEW_COLUMNS, asset=key,
                          description="The source sends no column the catalog lacks; a new one is "
                                      "named (kept as text) in a warning."),
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
    # key -> the partitions (files) holding it, for tables whose partitions share keys
    cross_partition_keys: dict[str, list[str]] = field(default_factory=dict)
    superseded: dict[str, int] = field(default_factory=dict)  # partition -> rows removed


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
            payload = {k: plain(v) for k, v in row.items()}
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


# ---------------------------------------------------------------- quarantine
# How a quarantined row is resolved (`resolved_at`, `resolved_by` set; the row is kept):
# - automatically, when a later successful load writes a good row with the same
#   record key (the record was fixed at the source), or when a later load of the
#   same scope (the same file or partition again, e.g. a corrected export, or the
#   next full refresh) no longer has the bad row: that scope's rows were replaced;
# - by hand, for what no load will fix (a null-key row of an upsert load; a row
#   the operator decides to drop or fixed elsewhere):
#     update raw_quarantine.records set resolved_at = current_timestamp,
#            resolved_by = '<who>: <why>' where quarantine_id = '<id>'
# A resolved row that turns up bad again is opened again (resolved_at null).


def _scope_of(replace_where: tuple[str, Sequence] | None, replace_all: bool) -> Callable[[Mapping], str]:
    """The scope of a bad row: the one file/partition the load replaced that it belongs to."""
    if replace_all:
        return lambda payload: FULL_REFRESH_SCOPE
    if replace_where is None:
        return lambda payload: ""
    column, values = replace_where
    texts = [str(v) for v in values]
    if len(texts) == 1:
        return lambda payload: f"{column}={texts[0]}"

    def scope(payload: Mapping) -> str:
        value = payload.get(column)
        match = next((t for t in texts if value is not None and str(value).startswith(t)), None)
        return f"{column}={match}" if match else _range_scope(column, texts)

    return scope


def _range_scope(column: str, texts: Sequence[str]) -> str:
    return f"{column} in {texts[0]}..{texts[-1]} ({len(texts)})" if texts else f"{column} in ()"


def _scopes_replaced(replace_where: tuple[str, Sequence] | None, replace_all: bool) -> set[str]:
    if replace_all:
        return {FULL_REFRESH_SCOPE}
    if replace_where is None:
        return set()
    column, values = replace_where
    texts = [str(v) for v in values]
    return {f"{column}={t}" for t in texts} | {_range_scope(column, texts)}


def quarantine_id(source: str, object_name: str, scope: str, record_key: str, payload: Mapping,
                  occurrence: int) -> str:
    """Stable for the same bad row loaded again (same scope, key and content); distinct for
    distinct rows, and for identical rows within one load (their occurrence)."""
    content = {k: v for k, v in payload.items() if v is not None}
    identity = json.dumps([source, object_name, scope, record_key, content, occurrence],
                          default=str, sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def open_quarantine(warehouse: Warehouse, obj: SourceObject) -> pd.DataFrame:
    """The object's unresolved quarantined rows (id, key, scope, first seen)."""
    columns = warehouse.columns(QUARANTINE_TABLE)
    if columns is None or "resolved_at" not in columns:
        return pd.DataFrame(columns=["quarantine_id", "record_key", "scope", "quarantined_at"])
    return warehouse.query(
        f"select quarantine_id, record_key, scope, quarantined_at from {warehouse.table_ref(QUARANTINE_TABLE)} "
        "where source = ? and object = ? and quarantine_id is not null and resolved_at is null",
        [obj.tool, obj.name])


def quarantine_rows(obj: SourceObject, quarantined: Sequence[tuple[str, str, Mapping]], held: pd.DataFrame, *,
                    load_id: str, run_id: str, now: datetime, scope: Callable[[Mapping], str],
                    source_version: str | None) -> pd.DataFrame:
    first_seen = dict(zip(held["quarantine_id"], held["quarantined_at"]))
    occurrences: dict[str, int] = {}
    rows = []
    for key, reason, payload in quarantined:
        row_scope = scope(payload)
        content = json.dumps(payload, default=str, sort_keys=True)
        n = occurrences[row_scope + "\0" + key + "\0" + content] = \
            occurrences.get(row_scope + "\0" + key + "\0" + content, -1) + 1
        qid = quarantine_id(obj.tool, obj.name, row_scope, key, payload, n)
        rows.append({"quarantine_id": qid, "source": obj.tool, "object": obj.name, "record_key": key,
                     "reason": reason, "payload": json.dumps(payload, default=str), "scope": row_scope,
                     "load_id": load_id, "source_version": source_version, "run_id": run_id,
                     "quarantined_at": first_seen.get(qid, now), "last_seen_at": now,
                     "resolved_at": None, "resolved_by": None})
    return pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))


def resolve_quarantine(warehouse: Warehouse, obj: SourceObject, held: pd.DataFrame, good: pd.DataFrame,
                       replace_where: tuple[str, Sequence] | None, replace_all: bool, *,
                       still_bad: set[str], resolved_by: str, now: datetime) -> int:
    """Mark resolved the open rows this load superseded (see the rules above). Returns how many."""
    held = held[~held["quarantine_id"].isin(still_bad)]
    superseded = held["scope"].isin(_scopes_replaced(replace_where, replace_all))
    keyed = held["record_key"].fillna("") != ""
    if keyed.any() and not good.empty:
        good_keys = set(good[list(obj.primary_key)].astype(str).agg("|".join, axis=1))
        superseded |= keyed & held["record_key"].isin(good_keys)
    ids = sorted(held.loc[superseded, "quarantine_id"])
    if ids:
        literal = ", ".join(f"'{i}'" for i in ids)  # hex digests: safe as literals
        warehouse.execute(f"update {warehouse.table_ref(QUARANTINE_TABLE)} set resolved_at = ?, resolved_by = ? "
                          f"where quarantine_id in ({literal})", [now, resolved_by])
    return len(ids)


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
    source_version: str | None = None,
    supersede_other_partitions: bool = False,
) -> dg.MaterializeResult:
    """Validate, quarantine, write atomically, and report. Upserts by primary key
    unless `replace_where` (a partition or file) or `replace_all` (full refresh).
    `source_version` (e.g. a file's content hash) is recorded with quarantined rows.
    `supersede_other_partitions` (with `replace_where`, on a table whose files share
    keys): the rows of other files with a key this load has are deleted in the same
    transaction, resolving cross-file duplicate keys in this load's favour."""
    if not isinstance(records, pd.DataFrame):
        records = list(records)
    fetched = len(records)
    good, quarantined, observed, duplicate_keys = prepare(obj, records)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    run_id = context.run.run_id if context.run else ""

    held = open_quarantine(warehouse, obj)
    if quarantined:
        qdf = quarantine_rows(obj, quarantined, held, load_id=load_id, run_id=run_id, now=now,
                              scope=_scope_of(replace_where, replace_all), source_version=source_version)
        # Keyed by quarantine id: the same bad row loaded again is held once (latest reason,
        # first seen kept); distinct bad rows, null keys included, are all kept.
        warehouse.write(QUARANTINE_TABLE, qdf, QUARANTINE_COLUMNS, key_columns=("quarantine_id",))
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
    superseding, superseded = (_superseding_writes(warehouse, obj, good, replace_where)
                               if supersede_other_partitions else ([], {}))
    warehouse.write_many([*superseding, Write(obj.table, good, columns, key_columns=obj.primary_key,
                                              replace_where=replace_where, replace_all=replace_all)])
    written = len(good)
    if superseded:
        context.log.warning(f"{obj.tool}/{obj.name}: {load_id} superseded the rows with its keys "
                            f"in other files (rows removed): {superseded}")
    if not held.empty:
        resolve_quarantine(warehouse, obj, held, good, replace_where, replace_all,
                           still_bad=set(qdf["quarantine_id"]) if quarantined else set(),
                           resolved_by=f"load {load_id}" + (f" @ {source_version}" if source_version else "")
                           + f" (run {run_id})", now=now)

    added = [c for c in observed if c not in obj.columns and c not in LOAD_METADATA_COLUMNS]
    removed = [c for c in obj.columns if c not in observed] if observed else []
    result = LoadResult(fetched, written, len(quarantined), duplicate_keys, added, removed,
                        cross_partition_duplicates(warehouse, obj), superseded)
    return materialize_result(obj, result, load_id, warehouse.row_count(obj.table), extra_metadata)


def cross_partition_duplicates(warehouse: Warehouse, obj: SourceObject) -> dict[str, list[str]]:
    """Keys the raw table holds in more than one partition (KARTE: file), each with
    those partitions. A load replaces only its own file's rows, so a key two files
    carry is in the table twice."""
    if not obj.partitions_share_keys or warehouse.columns(obj.table) is None:
        return {}
    # Catalog names are plain identifiers, valid unquoted on DuckDB and BigQuery.
    pk, part, table = ", ".join(obj.primary_key), obj.partition_column, warehouse.table_ref(obj.table)
    on = " and ".join(f"t.{k} = d.{k}" for k in obj.primary_key)
    rows = warehouse.query(
        f"with d as (select {pk} from {table} group by {pk} having count(distinct {part}) > 1) "
        f"select distinct {', '.join('t.' + k for k in obj.primary_key)}, t.{part} "
        f"from {table} t join d on {on}")
    found: dict[str, set[str]] = {}
    for row in rows.to_dict("records"):
        found.setdefault(_key_of(row, obj.primary_key), set()).add(str(row[part]))
    return {k: sorted(v) for k, v in sorted(found.items())}


def _superseding_writes(warehouse: Warehouse, obj: SourceObject, good: pd.DataFrame,
                        replace_where: tuple[str, Sequence] | None) -> tuple[list[Write], dict[str, int]]:
    """Rewrites of the other partitions that hold keys of `good`, without those rows,
    through the replace-the-partition write every load uses; and the rows each loses."""
    if not obj.partitions_share_keys or replace_where is None or warehouse.columns(obj.table) is None:
        return [], {}
    part, own = obj.partition_column, [str(v) for v in replace_where[1]]
    others = warehouse.query(f"select * from {warehouse.table_ref(obj.table)} "
                             f"where {part} not in ({', '.join('?' for _ in own)})", own)
    if others.empty or good.empty:
        return [], {}
    keys = set(good[list(obj.primary_key)].astype(str).agg("|".join, axis=1))
    lose = others[list(obj.primary_key)].astype(str).agg("|".join, axis=1).isin(keys)
    types = {**{c: "string" for c in others.columns}, **obj.columns, **LOAD_METADATA_COLUMNS}
    types = {c: types[c] for c in others.columns}
    writes, superseded = [], {}
    for partition, rows in others[lose].groupby(part, sort=True):
        kept = others[(others[part] == partition) & ~lose]
        writes.append(Write(obj.table, kept, types, replace_where=(part, [partition])))
        superseded[str(partition)] = len(rows)
    return writes, superseded


def materialize_result(obj: SourceObject, r: LoadResult, load_id: str, table_rows: int,
                       extra_metadata: Mapping[str, object] | None = None) -> dg.MaterializeResult:
    key = dg.AssetKey(obj.asset_key_path)
    where = f"{obj.tool}/{obj.name}, load {load_id}"
    cross = r.cross_partition_keys
    missing_blocks = bool(r.removed_columns) and obj.sends_every_column
    checks = [
        dg.AssetCheckResult(
            check_name=CHECK_PRIMARY_KEY, asset_key=key, passed=not (r.duplicate_keys or cross),
            # Duplicates within a load were resolved (the latest kept); across files they are in the table.
            severity=dg.AssetCheckSeverity.ERROR if cross else dg.AssetCheckSeverity.WARN,
            metadata={"duplicate_keys": dg.MetadataValue.json(r.duplicate_keys[:50]),
                      "duplicate_count": len(r.duplicate_keys),
                      "cross_file_duplicate_keys": dg.MetadataValue.json(dict(list(cross.items())[:50])),
                      "cross_file_duplicate_count": len(cross),
                      **({"superseded_rows": dg.MetadataValue.json(r.superseded)} if r.superseded else {})},
            description=" ".join(filter(None, [
                f"{len(cross)} key(s) of {obj.table} are in more than one {obj.partition_column} "
                f"(file), e.g. " + "; ".join(f"{k} in {', '.join(v)}" for k, v in list(cross.items())[:5])
                + ". Re-load the file that should win with `supersede_other_files: true` "
                "(docs/operations.md, 'Resolving duplicate keys across files')." if cross else "",
                f"{len(r.duplicate_keys)} key(s) appeared more than once in {where}, e.g. "
                f"{', '.join(r.duplicate_keys[:5])}; the latest version of each was kept."
                if r.duplicate_keys else ""])) or None),
        dg.AssetCheckResult(
            check_name=CHECK_COLUMNS, asset_key=key, passed=not r.removed_columns,
            severity=dg.AssetCheckSeverity.ERROR if missing_blocks else dg.AssetCheckSeverity.WARN,
            metadata={"missing_columns": dg.MetadataValue.json(r.removed_columns), "load": load_id},
            description=None if not r.removed_columns else
            f"Schema drift in {where}: catalog column(s) {', '.join(r.removed_columns)} missing from the "
            f"source" + (" (renamed or dropped there); the dbt models reading them would get nulls, so "
                         "they do not run. Fix the source, or the catalog and the models."
                         if missing_blocks else
                         "; this API may omit a field that is null in every record, so this only warns.")),
        dg.AssetCheckResult(
            check_name=CHECK_NEW_COLUMNS, asset_key=key, passed=not r.added_columns,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"added_columns": dg.MetadataValue.json(r.added_columns), "load": load_id},
            description=None if not r.added_columns else
            f"Schema drift in {where}: column(s) {', '.join(r.added_columns)} not in the catalog "
            "(loaded as text; add them to the catalog to use them)."),
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
