"""How long loading the code location takes (target: under 3 s on the reference VM).

A code location is loaded by the webserver, the daemon and every run, so a slow
load slows everything. Runs `from cs_platform.definitions import defs; defs()` (the
import, then building every definition from the defs folder, as Dagster does) in
fresh interpreters and prints the best and median wall time.

    .venv/bin/python bench/import_time.py [--repeat 5]
    .venv/bin/python bench/import_time.py --repeat 9 --compare-with /path/to/other/checkout

`--compare-with` times another checkout of the project in the same venv (its
`cs_platform` first on PYTHONPATH), one run of each in turn, so that both see the
same machine load: the way a before/after figure is taken. A checkout whose
`cs_platform.definitions` has no `defs` function (before the dg project) is timed
by its import, which built everything then.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD = "from cs_platform.definitions import defs; defs()"
LEGACY_LOAD = "import cs_platform.definitions"  # eager module: the import built everything


def load_code(checkout: Path) -> str:
    text = (checkout / "cs_platform" / "definitions.py").read_text()
    return LOAD if "def defs(" in text else LEGACY_LOAD


def time_once(checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", load_code(checkout)], check=True, cwd=checkout, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare-with", type=Path, help="another checkout, timed in turn with this one")
    args = parser.parse_args()
    checkouts = {"this checkout": ROOT}
    if args.compare_with:
        checkouts[str(args.compare_with)] = args.compare_with.resolve()
    times: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(args.repeat):
        for name, checkout in checkouts.items():
            times[name].append(time_once(checkout))
    for name, values in times.items():
        print(f"load cs_platform.definitions ({name}, {load_code(checkouts[name])!r}): "
              f"best {min(values):.2f} s, median {statistics.median(values):.2f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()
