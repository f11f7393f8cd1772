"""What a dbt build reports back to Dagster beyond dagster-dbt's events: the row
count of each built model, the figures of the marts CS ops reads
(cs_platform.models.figures), and for a failed test the rows it finds, with the
offending keys named in the check's description. The ids dbt tags its events with
(the node's unique_id, the dbt invocation id) are left out of what Dagster records.

Both are read after dbt has exited: DuckDB admits one process at a time.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from cs_platform.models.figures import mart_figures
from cs_platform.models.translator import HIDDEN_EVENT_METADATA, CsPlatformDbtTranslator
from cs_platform.resources.warehouse import Warehouse
from cs_platform.values import is_missing

# How many offending rows a failed check shows; the full set stays in the warehouse.
FAILING_ROWS_SHOWN = 20

translator = CsPlatformDbtTranslator()


def with_row_counts(outputs: list[dg.Output], manifest: Mapping[str, Any], warehouse: Warehouse,
                    log) -> list[dg.Output]:
    """Each built model's output with its row count (`dagster/row_count`), read in
    one query after dbt has exited (DuckDB admits one process at a time), and for
    the marts CS ops reads their figures (band counts, previews); without dbt's ids."""
    relations, names = {}, {}
    for output in outputs:
        unique_id = getattr(output.metadata.get("unique_id"), "value", None)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if node.get("relation_name"):
            relations[output.output_name] = node["relation_name"]
            names[node["name"]] = output.output_name
    counts: dict[str, int] = {}
    if relations:
        sql = " union all ".join(f"select '{name}' as output_name, count(*) as n from {relation}"
                                 for name, relation in relations.items())
        try:
            counts = dict(warehouse.query(sql).itertuples(index=False, name=None))
        except Exception as exc:  # a model dbt skipped has no relation; counts are a nicety
            log.warning(f"could not count the rows of the dbt models: {exc}")
    figures = {names[name]: values for name, values in
               mart_figures({name: relations[output] for name, output in names.items()}, warehouse.query,
                            log).items()}
    return [
        dg.Output(value=o.value, output_name=o.output_name, data_version=o.data_version, tags=o.tags,
                  metadata={**without_dbt_ids(o.metadata),
                            **({"dagster/row_count": int(counts[o.output_name])} if o.output_name in counts else {}),
                            **figures.get(o.output_name, {})})
        for o in outputs
    ]


def without_dbt_ids(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k not in HIDDEN_EVENT_METADATA}


def without_dbt_ids_in_check(check: dg.AssetCheckResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=check.asset_key, check_name=check.check_name, passed=check.passed,
                               severity=check.severity, metadata=without_dbt_ids(check.metadata),
                               description=check.description)


def with_failing_rows(check: dg.AssetCheckResult, manifest: Mapping[str, Any], warehouse: Warehouse,
                      log) -> dg.AssetCheckResult:
    """The check result, with the rows the dbt test finds as metadata and the
    offending keys in its description."""
    test = find_test_node(manifest, check)
    failures = check.metadata.get("dagster_dbt/failed_row_count")
    count = getattr(failures, "value", failures)
    rows, keys = pd.DataFrame(), []
    if test and test.get("compiled_code"):
        try:
            rows = warehouse.query(f"select * from ({test['compiled_code']}) as failing_rows "
                                   f"limit {FAILING_ROWS_SHOWN}")
            keys = offending_keys(rows, key_columns_for(test, manifest), test.get("column_name"))
            keys = with_null_key_records(keys, rows, test, manifest, warehouse)
        except Exception as exc:  # the check still fails; only the detail is missing
            log.warning(f"could not read the failing rows of {check.check_name}: {exc}")
    description = f"dbt test `{check.check_name}` failed"
    if count is not None:
        description += f": {count} failing row(s)"
    if keys:
        description += "; offending keys: " + ", ".join(keys)
        if count is not None and int(count) > len(rows):
            description += ", ..."
    metadata = without_dbt_ids(check.metadata)
    metadata["offending_keys"] = dg.MetadataValue.json(keys)
    if not rows.empty:
        metadata["failing_rows"] = dg.MetadataValue.md(markdown_table(rows))
    return dg.AssetCheckResult(
        asset_key=check.asset_key, check_name=check.check_name, passed=False,
        severity=check.severity, metadata=metadata, description=description)


def with_null_key_records(keys: list[str], rows: pd.DataFrame, test: Mapping[str, Any],
                          manifest: Mapping[str, Any], warehouse: Warehouse) -> list[str]:
    """A `primary_key` failure reports a null key as one row (`Id=null (3 rows)`),
    which says nothing about which records lack it: name a few of them instead,
    by other fields of the tested table (`Id=null, Subject=..., Status=...`)."""
    if (test.get("test_metadata") or {}).get("name") != "primary_key":
        return keys
    columns = key_columns_for(test, manifest)
    null_key = rows[[c for c in columns if c in rows.columns]].isna().any(axis=1)
    relation = tested_node(test, manifest).get("relation_name")
    if not null_key.any() or not relation:
        return keys
    records = warehouse.query(f"select * from {relation} where "
                              + " or ".join(f"{c} is null" for c in columns)
                              + f" limit {FAILING_ROWS_SHOWN}")
    return [k for k, is_null in zip(keys, null_key) if not is_null] + offending_keys(records, columns)


def find_test_node(manifest: Mapping[str, Any], check: dg.AssetCheckResult) -> Mapping[str, Any] | None:
    """The dbt test behind a check: same name, attached to the check's asset."""
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") != "test" or node.get("name") != check.check_name:
            continue
        parents = manifest.get("parent_map", {}).get(unique_id, [])
        if any(translator.get_asset_key(manifest_node(manifest, p)) == check.asset_key for p in parents):
            return node
    return None


def manifest_node(manifest: Mapping[str, Any], unique_id: str) -> Mapping[str, Any]:
    return manifest.get("nodes", {}).get(unique_id) or manifest["sources"][unique_id]


def tested_node(test: Mapping[str, Any], manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    """The model, seed or source a test is attached to."""
    if test.get("sources"):
        source_name, table = test["sources"][0]
        return next((s for s in manifest.get("sources", {}).values()
                     if s["source_name"] == source_name and s["name"] == table), {})
    parent_id = test.get("attached_node") or next(iter(test.get("depends_on", {}).get("nodes", [])), None)
    return manifest_node(manifest, parent_id) if parent_id else {}


def key_columns_for(test: Mapping[str, Any] | None, manifest: Mapping[str, Any]) -> list[str]:
    """Which columns name an offending row: the tested key itself (`unique`), the
    key columns (`primary_key`), else the parent's primary key (`meta.primary_key`,
    set on every source and mart)."""
    if not test:
        return []
    metadata = test.get("test_metadata") or {}
    if metadata.get("name") == "unique":
        return ["unique_field"]
    if metadata.get("name") == "primary_key":
        return list((metadata.get("kwargs") or {}).get("columns") or [])
    parent = tested_node(test, manifest)
    return list((parent.get("meta") or parent.get("config", {}).get("meta") or {}).get("primary_key") or [])


def offending_keys(rows: pd.DataFrame, key_columns: list[str], tested_column: str | None = None) -> list[str]:
    """One label per failing row: its key columns (`Id=001...`, with how many rows
    share a duplicated key), or for a row whose key is itself null, a few of its
    other fields so the record can be found."""
    by_lower = {c.lower(): c for c in rows.columns}
    present = [by_lower[k.lower()] for k in key_columns if k.lower() in by_lower]
    labels = []
    for _, row in rows.iterrows():
        values = {c: row[c] for c in present}
        if present == ["unique_field"]:
            label = f"{tested_column or 'key'}={_show(row['unique_field'])}"
            labels.append(label + (f" ({row['n_records']} rows)" if "n_records" in rows.columns else ""))
            continue
        if not values or all(is_missing(v) for v in values.values()):
            others = [c for c in rows.columns if c not in present and c != "n_records"
                      and not c.startswith("_") and not is_missing(row[c])]
            values.update({c: row[c] for c in others[:3]})
        label = ", ".join(f"{c}={_show(v)}" for c, v in values.items())
        labels.append(label + (f" ({row['n_records']} rows)" if "n_records" in rows.columns else ""))
    return labels


def markdown_table(rows: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, rows.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in rows.columns) + " |"
    body = ["| " + " | ".join(_show(v) for v in row) + " |" for row in rows.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _show(value) -> str:
    return "null" if is_missing(value) else str(value)
