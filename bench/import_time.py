"""How long loading the code location takes (target: under 3 s).

A code location is loaded by the webserver, the daemon and every run, so a slow
load slows everything. Runs `from cs_platform.definitions import defs; defs()` (the
import, then building every definition from the defs folder, as Dagster does) in
fresh interpreters and prints the best and median wall time.

    .venv/bin/python bench/import_time.py [--repeat 5]
"""

import argparse
import statistics
import subprocess
import sys
import time

LOAD = "from cs_platform.definitions import defs; defs()"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", LOAD], check=True)
        times.append(time.perf_counter() - start)
    print(f"load cs_platform.definitions: best {min(times):.2f} s, "
          f"median {statistics.median(times):.2f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()
