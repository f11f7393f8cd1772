"""How long `import cs_platform.definitions` takes (target: under 3 s).

A code location is re-imported by the webserver, the daemon and every run, so a
slow import slows everything. Runs the import in fresh interpreters and prints
the best and median wall time.

    .venv/bin/python bench/import_time.py [--repeat 5]
"""

import argparse
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import cs_platform.definitions"], check=True)
        times.append(time.perf_counter() - start)
    print(f"import cs_platform.definitions: best {min(times):.2f} s, "
          f"median {statistics.median(times):.2f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()
