"""Write the dbt sources (`dbt/models/staging/_sources.yml`) from the source catalog.

The catalog is the one contract of every raw table; dbt's view of the raw tables is
derived from it, never kept by hand:

    python -m cs_platform.sources.dbt_sources           # rewrite the file
    python -m cs_platform.sources.dbt_sources --check   # fail when the file is not the generated text

One source `raw_<tool>` per tool, one table per catalog object with its columns in
source order and their logical types, the primary key as `meta.primary_key` and as
a `primary_key` test (a Dagster check on the raw asset that blocks the models
downstream); on tables loaded by the day the test reads only the recent days.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cs_platform.sources import catalog

SOURCES_YAML = Path(__file__).resolve().parents[2] / "dbt" / "models" / "staging" / "_sources.yml"

HEADER = """\
# GENERATED from cs_platform/sources/catalog.py by `python -m cs_platform.sources.dbt_sources`;
# edit the catalog, not this file (tests/models/test_sources_yaml.py compares them).
# One source per tool: table = catalog name, columns = the source's own field names
# with their logical types. Each table also carries _loaded_at and _load_id, written
# by the loader. Key tests here are Dagster asset checks on the raw/<tool>/<table>
# assets, and they block the models downstream (dbt build skips them when a key test fails).
version: 2

sources:
"""
# The BigQuery datasets carry the deployment's prefix; DuckDB schemas do not.
SCHEMA = "{{{{ env_var('BIGQUERY_DATASET_PREFIX', '') if target.type == 'bigquery' else '' }}}}raw_{tool}"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def render() -> str:
    lines: list[str] = []
    for tool in catalog.TOOLS:
        if lines:
            lines.append("")
        lines += [f"  - name: raw_{tool}",
                  f"    description: {_quoted(catalog.TOOL_DESCRIPTIONS[tool])}",
                  f"    schema: {_quoted(SCHEMA.format(tool=tool))}",
                  "    tables:"]
        for obj in catalog.objects_of(tool):
            key = ", ".join(obj.primary_key)
            lines += [f"      - name: {obj.name}",
                      f"        description: {_quoted(f'{obj.description} Source object: {obj.api_name}.')}",
                      "        config:",
                      "          meta:",
                      f"            primary_key: [{key}]",
                      "        data_tests:",
                      "          - primary_key:",
                      "              arguments:",
                      f"                columns: [{key}]"]
            if obj.partition_column in obj.columns:  # loaded by the day: test the recent days only
                lines += ["              config:",
                          f"                where: \"{obj.partition_column} >= __recent_days__\""
                          "  # see macros/get_where_subquery.sql"]
            lines.append("        columns:")
            for column, logical_type in obj.columns.items():
                lines += [f"          - name: {column}", f"            data_type: {logical_type}"]
    return HEADER + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cs_platform.sources.dbt_sources",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when they differ")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if SOURCES_YAML.read_text() != text:
            print(f"{SOURCES_YAML} is not what the catalog generates: "
                  "run `python -m cs_platform.sources.dbt_sources`", file=sys.stderr)
            return 1
        return 0
    SOURCES_YAML.write_text(text)
    print(f"wrote {SOURCES_YAML}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
