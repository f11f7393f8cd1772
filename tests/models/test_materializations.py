"""The project's own table and view materializations on DuckDB
(dbt/macros/materializations.sql): one `create or replace` inside the run's
transaction. A model can change kind (view <-> table), and a build that fails
leaves the previous relation and its rows in place."""

import duckdb
import pytest

from tests.models.support import copy_project, dbt, vars_arg

MODEL = "csm_workload"


def relation(warehouse, name: str) -> tuple[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kind = con.execute("select table_type from information_schema.tables "
                           "where table_schema = 'marts' and table_name = ?", [name]).fetchone()[0]
        rows = con.execute(f"select count(*) from marts.{name}").fetchone()[0]
    return kind, rows


def test_a_model_changes_kind_and_a_failed_build_keeps_the_previous_table(built, tmp_path):
    project = copy_project(tmp_path / "dbt")
    warehouse = built.copy_to(tmp_path / "warehouse")
    model_file = next(project.joinpath("models").rglob(f"{MODEL}.sql"))
    shipped = model_file.read_text()
    kind, rows = relation(warehouse, MODEL)
    assert (kind, rows > 0) == ("BASE TABLE", True)

    def run(**kwargs):
        return dbt(["run", "--select", MODEL, *vars_arg()], duckdb_path=warehouse, project_dir=project,
                   target_path=tmp_path / "target", **kwargs)

    model_file.write_text("{{ config(materialized='view') }}\n" + shipped)
    run()
    assert relation(warehouse, MODEL) == ("VIEW", rows)

    model_file.write_text(shipped)
    run()
    assert relation(warehouse, MODEL) == ("BASE TABLE", rows)

    model_file.write_text(shipped.replace("group by", "group by no_such_column,", 1))
    failed = run(check=False)
    assert failed.returncode != 0 and "no_such_column" in failed.stdout
    assert relation(warehouse, MODEL) == ("BASE TABLE", rows)


@pytest.mark.parametrize("config", ["grants={'select': ['analyst']}", "persist_docs={'relation': true}"])
def test_settings_the_local_warehouse_cannot_honour_fail_the_model(built, tmp_path, config):
    project = copy_project(tmp_path / "dbt")
    warehouse = built.copy_to(tmp_path / "warehouse")
    model_file = next(project.joinpath("models").rglob(f"{MODEL}.sql"))
    model_file.write_text(f"{{{{ config({config}) }}}}\n" + model_file.read_text())
    failed = dbt(["run", "--select", MODEL, *vars_arg()], duckdb_path=warehouse, project_dir=project,
                 target_path=tmp_path / "target", check=False)
    assert failed.returncode != 0
    assert "not supported by the project's table materialization on DuckDB" in failed.stdout
