"""The dbt CLI as cs_platform runs it: dbt's own entry point, with Python's garbage
collector set for a short-lived process, as mypy does for the same reason.

dbt keeps nearly everything it creates (its imports, the manifest, Jinja templates)
until it exits, and under the default thresholds the collector rescans all of it
again and again: ~0.7 s of an 8 s daily run at 10,000 accounts. Collecting the
youngest generation every 50,000 allocations instead of 700, and freezing what
dbt's imports made, took that run from 8.0 s to 6.8 s (bench/README.md).

Installed next to dbt in dbt's own environment as `cs-dbt`, with that
environment's Python (`make install`; /opt/dbt/bin/cs-dbt in the image);
cs_platform.settings.dbt_executable prefers it to plain `dbt`.
"""

import gc
import sys

gc.set_threshold(50_000, 20, 100)

from dbt.cli.main import cli  # noqa: E402

gc.freeze()
try:
    cli()  # exits with dbt's own status (click's standalone mode)
finally:
    # Frozen objects are never finalized: without this, the DuckDB bindings
    # report them as leaked when the interpreter exits.
    gc.unfreeze()
