"""dbt runs through dbt/launcher.py (`cs-dbt`, dbt with its garbage collector tuned):
it ends as plain dbt does, with dbt's exit status and nothing on stderr."""

from pathlib import Path

from cs_platform import settings
from tests.models.support import dbt, vars_arg

COMMANDS = {
    "a model that builds": ["run", "--select", "csm_workload"],
    "a query that fails": ["show", "--inline", "select * from no_such_table"],
    "an unknown flag": ["run", "--no-such-flag"],
}


def test_the_launcher_ends_as_plain_dbt_does(built, tmp_path, monkeypatch):
    launcher = Path(settings.dbt_executable())
    assert launcher.name == "cs-dbt"
    warehouse = built.copy_to(tmp_path / "warehouse")

    def statuses(executable: Path) -> dict[str, tuple[int, str]]:
        monkeypatch.setenv("DBT_EXECUTABLE", str(executable))
        results = {}
        for name, args in COMMANDS.items():
            done = dbt([*args, *vars_arg()], duckdb_path=warehouse, target_path=tmp_path / "target",
                       reuse_parse_of=built, check=False)
            results[name] = (done.returncode, done.stderr)
        return results

    tuned, plain = statuses(launcher), statuses(launcher.with_name("dbt"))
    assert {name: code for name, (code, _) in tuned.items()} == {name: code for name, (code, _) in plain.items()}
    assert tuned["a model that builds"] == (0, "")
    assert tuned["a query that fails"][0] != 0
