"""The `data_type` of every dbt model, seed and snapshot column, declared in the
folder's YAML: dagster-dbt puts it in each asset's column schema, so the Catalog
shows a type for every column.

The declared types are logical types, named to read the same for DuckDB (local)
and BigQuery (production): string, integer, float, numeric, boolean, date,
timestamp. LOGICAL_TYPES maps the warehouse's own type names onto them.

    python -m cs_platform.models.column_types data/warehouse.duckdb

writes the types of a warehouse built by dbt (`make demo ARGS=--no-ui`, or the
tests' sample warehouse) into the YAMLs, then re-run `python -m cs_platform.models`.
tests/models/test_catalog_metadata.py checks that the declared types are the built ones.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

import duckdb
import yaml

from cs_platform import settings

# Warehouse type (DuckDB's information_schema name, BigQuery's type) -> logical type.
LOGICAL_TYPES: dict[str, str] = {
    "VARCHAR": "string", "STRING": "string", "TEXT": "string",
    "TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer",
    "HUGEINT": "integer", "UTINYINT": "integer", "USMALLINT": "integer", "UINTEGER": "integer",
    "UBIGINT": "integer", "INT64": "integer",
    "DOUBLE": "float", "FLOAT": "float", "REAL": "float", "FLOAT64": "float",
    "DECIMAL": "numeric", "NUMERIC": "numeric", "BIGNUMERIC": "numeric",
    "BOOLEAN": "boolean", "BOOL": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp", "DATETIME": "timestamp",
}
RESOURCE_SECTIONS = {"models": "model", "seeds": "seed", "snapshots": "snapshot"}


def logical_type(warehouse_type: str) -> str:
    base = re.sub(r"\(.*\)$", "", warehouse_type.strip().upper())
    if base not in LOGICAL_TYPES:
        raise ValueError(f"no logical type for the warehouse type {warehouse_type!r}: add it to LOGICAL_TYPES")
    return LOGICAL_TYPES[base]


def yaml_files(project_dir: Path = settings.DBT_PROJECT_DIR) -> list[Path]:
    return sorted(p for folder in ("models", "seeds", "snapshots")
                  for p in (project_dir / folder).rglob("*.yml"))


def built_types(warehouse: Path, manifest: Mapping) -> dict[str, dict[str, str]]:
    """Logical type of every column of every built model, seed and snapshot, by node name."""
    nodes = {(n["schema"], n.get("alias") or n["name"]): n["name"] for n in manifest["nodes"].values()
             if n["resource_type"] in RESOURCE_SECTIONS.values()}
    types: dict[str, dict[str, str]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select table_schema, table_name, column_name, data_type "
                           "from information_schema.columns order by ordinal_position").fetchall()
    for schema, table, column, data_type in rows:
        name = nodes.get((schema, table))
        if name:
            types.setdefault(name, {})[column] = logical_type(data_type)
    return types


def write_types(path: Path, types: Mapping[str, Mapping[str, str]]) -> int:
    """Set `data_type` on every column of the models, seeds and snapshots in one YAML
    (text edit: comments and layout stay). Returns how many columns were typed."""
    lines = path.read_text().splitlines(keepends=True)
    out: list[str] = []
    section = node = None
    node_indent = columns_indent = column_indent = None
    typed = 0
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if stripped and indent == 0:
            section = stripped.rstrip(":") if stripped.endswith(":") else None
            node = None
            columns_indent = column_indent = None
        elif section in RESOURCE_SECTIONS and stripped.startswith("- name:") and (
                node_indent is None or indent == node_indent) and columns_indent is None:
            node_indent, node = indent, _value(stripped)
        elif node and stripped == "columns:" and columns_indent is None:
            columns_indent, column_indent = indent, None
        elif columns_indent is not None and stripped and indent <= columns_indent:
            columns_indent = column_indent = None
            if stripped.startswith("- name:") and indent == node_indent:
                node = _value(stripped)
        elif columns_indent is not None and stripped.startswith("- name:") and (
                column_indent is None or indent == column_indent):
            column_indent = indent
            out.append(line)
            column = _value(stripped)
            declared = (types.get(node) or {}).get(column)
            if declared:
                out.append(" " * (indent + 2) + f"data_type: {declared}\n")
                typed += 1
            continue
        elif column_indent is not None and indent == column_indent + 2 and stripped.startswith("data_type:"):
            continue  # replaced by the line written after the column's name
        out.append(line)
    path.write_text("".join(out))
    return typed


def _value(stripped: str) -> str:
    return stripped.split(":", 1)[1].strip().strip("'\"")


def declared_types(project_dir: Path = settings.DBT_PROJECT_DIR) -> dict[str, dict[str, str | None]]:
    """What the YAMLs declare, by node and column (None: no data_type)."""
    declared: dict[str, dict[str, str | None]] = {}
    for path in yaml_files(project_dir):
        content = yaml.safe_load(path.read_text()) or {}
        for section in RESOURCE_SECTIONS:
            for node in content.get(section) or []:
                declared[node["name"]] = {c["name"]: c.get("data_type") for c in node.get("columns") or []}
    return declared


def main(warehouse: str) -> None:
    import json

    from cs_platform.models.project import dbt_project

    types = built_types(Path(warehouse), json.loads(dbt_project.manifest_path.read_text()))
    total = sum(write_types(path, types) for path in yaml_files())
    print(f"data_type set on {total} columns; now run `python -m cs_platform.models`")


if __name__ == "__main__":
    main(*sys.argv[1:])
