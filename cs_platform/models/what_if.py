"""What if the weights were different? A dry run of a candidate weights file.

    python -m cs_platform.models.what_if candidate.csv [--vars '{"as_of_date": "2026-03-02"}'] [--out figures.csv]

The candidate is a copy of dbt/seeds/health_score_components.csv with other weights
or thresholds. It is scored over the same history and put through the same backtest
(score_backtest) as production, and the two sets of figures are printed side by side.

Nothing production reads is touched:
- the dbt project is copied to a scratch folder and the candidate replaces the seed
  there, never in the repository;
- the models that depend on the weights (the seed, health_score_history, the scored
  decisions, score_backtest, score_surprises) are built with the dbt var
  `schema_suffix` = "_whatif" (macros/generate_schema_name.sql): into marts_whatif,
  seeds_whatif, ... Everything else they read resolves to the production relations
  through dbt's `--defer --state` (a manifest of the production project), so the
  expensive upstream models are read, not rebuilt;
- locally (DuckDB) all of that runs on a copy of the warehouse file, deleted
  afterwards: a DuckDB file takes one writer, and the pipeline may be running. On
  BigQuery (CS_PLATFORM_ENV=prod) it runs in the production project, into the
  `<prefix><layer>_whatif` datasets, which can be dropped at any time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from cs_platform import settings

SEED = "health_score_components"
SUFFIX = "_whatif"
# What the weights feed. int_account_signals_computed reads the seed too (the NPS
# answers' stale_after_days), so it is rebuilt only when that column changes.
WEIGHTED_MODELS = ("health_score_history", "int_renewal_decisions_scored", "score_backtest", "score_surprises")
SIGNAL_MODEL = "int_account_signals_computed"
SIDE_BY_SIDE = ("weight", "auc", "churn_rate", "green_churn_rate", "red_churn_rate", "lift_red_over_green",
                "decisions_with_value")


class CandidateError(ValueError):
    """The candidate weights file cannot replace the seed."""


def read_weights(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def check_candidate(candidate: Path, seed: Path) -> list[dict[str, str]]:
    """The candidate's rows, when it has the seed's columns and components and
    usable weights; else a CandidateError naming the file and the row."""
    current, rows = read_weights(seed), read_weights(candidate)
    if not rows or list(rows[0]) != list(current[0]):
        raise CandidateError(f"{candidate}: columns must be those of {seed.name}: {', '.join(current[0])}")
    key = ("score_name", "component_name")
    wanted = {tuple(r[k] for k in key) for r in current}
    given = [tuple(r[k] for k in key) for r in rows]
    if sorted(given) != sorted(wanted):
        missing, extra = wanted - set(given), set(given) - wanted
        raise CandidateError(f"{candidate}: components must be those of {seed.name} (macros/scoring.sql), each "
                             f"once; missing {sorted(missing)}, unknown or repeated {sorted(extra) or given}")
    totals: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        try:
            weight = float(row["weight"])
            float(row["raw_value_at_score_0"]), float(row["raw_value_at_score_100"])
        except ValueError:
            raise CandidateError(f"{candidate} line {line} ({row['component_name']}): weight and thresholds "
                                 "must be numbers") from None
        if weight < 0:
            raise CandidateError(f"{candidate} line {line} ({row['component_name']}): weight must not be negative")
        totals[row["score_name"]] = totals.get(row["score_name"], 0.0) + weight
    if empty := [score for score, total in totals.items() if total <= 0]:
        raise CandidateError(f"{candidate}: every score needs some weight; none for {', '.join(empty)}")
    return rows


def selection(candidate_rows: list[dict[str, str]], seed: Path) -> list[str]:
    changed_staleness = ({(r["component_name"], r["stale_after_days"]) for r in candidate_rows}
                         != {(r["component_name"], r["stale_after_days"]) for r in read_weights(seed)})
    return [SEED, *([SIGNAL_MODEL] if changed_staleness else []), *WEIGHTED_MODELS]


def _dbt(args: list[str], project_dir: Path, target_path: Path, env: dict[str, str]) -> None:
    command = [settings.dbt_executable(), *args, "--project-dir", str(project_dir),
               "--profiles-dir", str(project_dir), "--target", settings.dbt_target(),
               "--target-path", str(target_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=project_dir)
    if result.returncode != 0:
        raise RuntimeError(f"what-if: dbt {args[0]} failed:\n{result.stdout[-4000:]}\n{result.stderr[-1000:]}")


def run_what_if(candidate: str | Path, dbt_vars: dict | None = None, duckdb_path: str | None = None,
                keep_dir: Path | None = None) -> pd.DataFrame:
    """Build the backtest for `candidate` beside production's; returns one row per
    score, horizon and measure with `<figure>_current` and `<figure>_candidate`."""
    candidate = Path(candidate)
    seed = settings.DBT_PROJECT_DIR / "seeds" / f"{SEED}.csv"
    rows = check_candidate(candidate, seed)
    scratch = Path(tempfile.mkdtemp(prefix="what_if_")) if keep_dir is None else keep_dir
    try:
        project = scratch / "dbt"
        shutil.copytree(settings.DBT_PROJECT_DIR, project,
                        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
        shutil.copy(candidate, project / "seeds" / f"{SEED}.csv")
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        local = settings.dbt_target() == "local"
        if local:
            # A copy of the warehouse, named like the original: relation names carry the stem.
            source = Path(duckdb_path or settings.duckdb_path())
            copy = scratch / "warehouse" / source.name
            copy.parent.mkdir()
            shutil.copy(source, copy)
            if source.with_name(source.name + ".wal").exists():
                shutil.copy(source.with_name(source.name + ".wal"), copy.with_name(copy.name + ".wal"))
            env["DUCKDB_PATH"] = str(copy)
        vars_json = json.dumps(dbt_vars or {})
        # Production's relations, for everything the what-if build does not select.
        _dbt(["parse", "--vars", vars_json], settings.DBT_PROJECT_DIR, scratch / "state", env)
        _dbt(["build", "--select", *selection(rows, seed), "--resource-type", "seed", "--resource-type", "model",
              "--defer", "--favor-state", "--state", str(scratch / "state"),
              "--vars", json.dumps({**(dbt_vars or {}), "schema_suffix": SUFFIX})], project, scratch / "target", env)
        current, proposed = _read_backtests(local, env.get("DUCKDB_PATH"))
    finally:
        if keep_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return side_by_side(current, proposed)


def _read_backtests(local: bool, duckdb_file: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if local:
        import duckdb

        with duckdb.connect(duckdb_file, read_only=True) as con:
            return (con.execute("select * from marts.score_backtest").df(),
                    con.execute(f"select * from marts{SUFFIX}.score_backtest").df())
    warehouse = settings.resources_for("prod")["warehouse"]
    return (warehouse.query(f"select * from {warehouse.table_ref('marts.score_backtest')}"),
            warehouse.query(f"select * from {warehouse.table_ref(f'marts{SUFFIX}.score_backtest')}"))


def side_by_side(current: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    key = ["score_name", "horizon_days", "measure_name"]
    columns = key + ["measure_kind", *SIDE_BY_SIDE]
    merged = current[columns].merge(candidate[columns].drop(columns="measure_kind"), on=key, how="outer",
                                    suffixes=("_current", "_candidate"))
    ordered = key + ["measure_kind"] + [f"{c}_{side}" for c in SIDE_BY_SIDE for side in ("current", "candidate")]
    kind_order = merged["measure_kind"].map({"score": 0}).fillna(1)
    return (merged.assign(_kind=kind_order).sort_values(["score_name", "horizon_days", "_kind", "measure_name"])
            .drop(columns="_kind")[ordered].reset_index(drop=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cs_platform.models.what_if", description=__doc__.split("\n")[0])
    parser.add_argument("candidate", type=Path, help="a copy of dbt/seeds/health_score_components.csv, edited")
    parser.add_argument("--vars", default="{}", help="dbt vars as JSON, e.g. a pinned as_of_date")
    parser.add_argument("--duckdb-path", default=None, help="local warehouse file (default: the platform's)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures to this CSV")
    args = parser.parse_args(argv)
    try:
        figures = run_what_if(args.candidate, json.loads(args.vars), args.duckdb_path)
    except CandidateError as error:
        parser.error(str(error))
    if args.out:
        figures.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_rows", None):
        shown = ["score_name", "horizon_days", "measure_name", "weight_current", "weight_candidate",
                 "auc_current", "auc_candidate", "lift_red_over_green_current", "lift_red_over_green_candidate"]
        print(figures[shown].round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
