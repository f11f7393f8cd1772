"""Incremental reads from the SaaS APIs (Salesforce, HubSpot, Freshdesk), shared.

The cursor comes from the data already loaded, the read overlaps it, unchanged
records are dropped, and every run reports its cursor, pages and API calls.
Each tool's module supplies only how to connect and how to fetch the records of
an object changed since a time.

A tool's objects are one subsettable multi-asset (`api_multi_asset`): a run logs
in once (one OAuth token, one HTTP session) and loads the selected objects in
turn; any one object can still be materialized alone. An object that fails does
not stop the others; the step fails at the end, naming each object that failed.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd
import requests

from cs_platform import settings
from cs_platform.resources.http import CallCounter, SourceAuthError
from cs_platform.resources.warehouse import Warehouse
from cs_platform.sources.catalog import SourceObject
from cs_platform.sources.loading import flatten, load, parse_timestamp, raw_asset_kwargs, warehouse_cursor

# Reads every record whose cursor is at or after `since` (UTC; None = everything).
FetchSince = Callable[[datetime | None], Iterable[Mapping]]


@dataclass
class ApiConnection:
    """One logged-in API client, shared by every object a run loads."""

    session: requests.Session  # the client's HTTP session (its calls are counted)
    fetch: Callable[[SourceObject, datetime | None], Iterable[Mapping]]  # an object's records since a time
    api_metadata: Callable[[], Mapping[str, object]] = dict  # e.g. the org's API usage, after a load


def load_changes(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    obj: SourceObject,
    session: requests.Session,
    fetch: FetchSince,
    api_metadata: Callable[[], Mapping[str, object]] = dict,
) -> dg.MaterializeResult:
    """One incremental run of an API object: read what changed since the cursor,
    upsert it, report the cursor before/after, pages and API calls.

    The cursor is the latest value in the warehouse table, so it always matches
    the data, even after a failed run. `fetch` returns at least every record whose
    cursor is at or after it; more is fine. Reading from the cursor inclusively
    matters: APIs compare at whole seconds (Salesforce's SystemModstamp) or have
    no milliseconds (Freshdesk), so a strict `>` would lose a record changed in
    the same second as the last one loaded. What the table already holds as it
    is (the overlap, or everything when an API cannot filter) is dropped here."""
    since = _as_utc(warehouse_cursor(warehouse, obj))
    calls = CallCounter().attach(session)
    try:
        records = list(fetch(since))
    finally:
        calls.detach(session)  # the session is shared by the other objects of the run
    fetched = len(records)
    if since is not None:
        records = _changed_only(warehouse, obj, records, since)
    since_text = since.isoformat() if since else None
    context.log.info(f"{obj.tool}/{obj.name}: {len(records)} changed record(s) since "
                     f"{since_text or 'the beginning'}, {calls.responses} page(s)")
    result = load(
        context, warehouse, obj, records, load_id=since_text or "initial",
        extra_metadata={
            "cursor_before": since_text,
            "pages_fetched": calls.responses,
            "api_calls": calls.calls,
            "unchanged_skipped": fetched - len(records),
            **api_metadata(),
        })
    after = _as_utc(warehouse_cursor(warehouse, obj))
    return result._replace(metadata={**result.metadata, "cursor_after": after.isoformat() if after else None})


def _as_utc(value: datetime | None) -> datetime | None:
    """Warehouse timestamps are naive UTC on DuckDB and aware on BigQuery."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _changed_only(warehouse: Warehouse, obj: SourceObject, records: list[Mapping],
                  since: datetime) -> list[Mapping]:
    """Drop the records the table already holds as they are: those older than the
    cursor's second, and those in that second stored with the same cursor value.
    A record whose cursor cannot be read is kept, for `load` to quarantine."""
    window_start = since.replace(microsecond=0, tzinfo=None)
    # Catalog key and cursor names are plain identifiers, valid unquoted on DuckDB and BigQuery.
    held = warehouse.query(
        f"select {', '.join(obj.primary_key)}, {obj.cursor} from {warehouse.table_ref(obj.table)} "
        f"where {obj.cursor} >= timestamp '{window_start:%Y-%m-%d %H:%M:%S}'")
    stored = {_key(row, obj.primary_key): _naive_utc(row[obj.cursor]) for row in held.to_dict("records")}

    def changed(record: Mapping) -> bool:
        flat = flatten(record)
        # The parser `load` casts with, so both sides compare exactly.
        cursor = parse_timestamp(flat.get(obj.cursor))
        if pd.isna(cursor):
            return True
        return cursor >= window_start and stored.get(_key(flat, obj.primary_key)) != cursor

    return [r for r in records if changed(r)]


def _key(row: Mapping, primary_key: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row.get(k)) for k in primary_key)


def _naive_utc(value) -> datetime:
    ts = pd.Timestamp(value)
    return (ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts).to_pydatetime()


def api_multi_asset(tool: str, objects: Sequence[SourceObject], resource_key: str,
                    connect: Callable[[object], ApiConnection]) -> dg.AssetsDefinition:
    """The tool's objects as one subsettable multi-asset; `connect(resource)` logs in once per run."""
    kwargs = [raw_asset_kwargs(obj) for obj in objects]
    specs = [dg.AssetSpec(**{k: v for k, v in kw.items() if k not in ("pool", "check_specs")}) for kw in kwargs]

    @dg.multi_asset(
        name=f"{tool}_objects", specs=specs, check_specs=[c for kw in kwargs for c in kw["check_specs"]],
        can_subset=True, pool=settings.WAREHOUSE_POOL, required_resource_keys={"warehouse", resource_key},
        description=f"Every {tool} object, read incrementally over one API login.")
    def _objects(context: dg.AssetExecutionContext):
        warehouse = context.resources.warehouse
        selected = [o for o in objects if dg.AssetKey(o.asset_key_path) in context.selected_asset_keys]
        connection = connect(getattr(context.resources, resource_key))
        failed: list[str] = []
        for obj in selected:
            try:
                yield load_changes(context, warehouse, obj, connection.session,
                                   lambda since, obj=obj: connection.fetch(obj, since), connection.api_metadata)
            except SourceAuthError:
                raise  # the login every object shares: the others would fail the same way
            except Exception as exc:
                if len(selected) == 1:
                    raise
                # The other objects still load; the step fails below, naming each failure.
                context.log.exception(f"{tool}/{obj.name} failed; loading the other objects")
                failed.append(f"{tool}/{obj.name}: {type(exc).__name__}: {exc}")
        if failed:
            raise dg.Failure(description=f"{len(failed)} of {len(selected)} {tool} object(s) failed to load "
                                         f"(the others were loaded):\n" + "\n".join(failed))

    return _objects


def api_source_defs(tool: str, asset: dg.AssetsDefinition, every: timedelta) -> dg.Definitions:
    """A tool's multi-asset with one job (all its objects) and a schedule running it every `every`."""
    minutes = int(every.total_seconds() // 60)
    job = dg.define_asset_job(f"{tool}_job", selection=dg.AssetSelection.assets(asset),
                              description=f"Every {tool} object, incrementally.")
    schedule = dg.ScheduleDefinition(
        name=f"{tool}_every_{minutes}min", job=job, cron_schedule=f"*/{minutes} * * * *",
        default_status=settings.schedule_default_status())
    return dg.Definitions(assets=[asset], jobs=[job], schedules=[schedule])
