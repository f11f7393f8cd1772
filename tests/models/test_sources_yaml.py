"""The dbt sources are generated from the source catalog (`python -m
cs_platform.sources.dbt_sources`), so they never drift apart: the committed file is
the generated text, with one source `raw_<tool>` per tool, one table per catalog
object, the same columns in the same order with the same logical types, and key
tests on the primary key."""

import re

import yaml

from cs_platform.sources import catalog, dbt_sources
from tests.models.support import DBT_DIR

SOURCES_YAML = DBT_DIR / "models" / "staging" / "_sources.yml"


def test_the_committed_sources_file_is_the_generated_text():
    assert dbt_sources.SOURCES_YAML == SOURCES_YAML
    assert SOURCES_YAML.read_text() == dbt_sources.render(), (
        "dbt/models/staging/_sources.yml is out of step with the catalog: "
        "run `python -m cs_platform.sources.dbt_sources`")


def sources() -> dict[str, dict]:
    return {s["name"]: s for s in yaml.safe_load(SOURCES_YAML.read_text())["sources"]}


def test_one_source_per_tool_named_raw_tool():
    assert list(sources()) == [f"raw_{tool}" for tool in catalog.TOOLS]


def test_tables_and_columns_match_the_catalog_exactly():
    declared = sources()
    for tool in catalog.TOOLS:
        tables = {t["name"]: t for t in declared[f"raw_{tool}"]["tables"]}
        expected = catalog.objects_of(tool)
        assert list(tables) == [o.name for o in expected], f"tables of raw_{tool}"
        for obj in expected:
            columns = [(c["name"], c.get("data_type")) for c in tables[obj.name]["columns"]]
            assert columns == list(obj.columns.items()), f"columns of raw_{tool}.{obj.name}"


def test_primary_keys_are_declared_and_tested():
    declared = sources()
    for obj in catalog.SOURCE_OBJECTS.values():
        table = next(t for t in declared[f"raw_{obj.tool}"]["tables"] if t["name"] == obj.name)
        assert table["config"]["meta"]["primary_key"] == list(obj.primary_key), obj.table
        keys = [t["primary_key"]["arguments"]["columns"] for t in table.get("data_tests", []) if "primary_key" in t]
        assert keys == [list(obj.primary_key)], f"{obj.table}: one primary_key test on its key"


def test_each_raw_table_has_exactly_one_staging_model_and_each_staging_model_one_raw_table():
    used: dict[tuple[str, str], list[str]] = {}
    for path in sorted((DBT_DIR / "models" / "staging").glob("stg_*.sql")):
        refs = re.findall(r"source\(\s*'([^']+)'\s*,\s*'([^']+)'\s*\)", path.read_text())
        assert len(refs) == 1, f"{path.name} reads {refs}: staging is 1:1 with a raw table"
        tool = refs[0][0].removeprefix("raw_")
        assert path.stem.startswith(f"stg_{tool}__"), f"{path.name} should be named stg_{tool}__<entity>"
        used.setdefault((tool, refs[0][1]), []).append(path.stem)
    assert sorted(used) == sorted(catalog.SOURCE_OBJECTS), "raw tables without (or unknown to) staging"
    assert all(len(models) == 1 for models in used.values()), used
