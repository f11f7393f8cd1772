"""The dbt CLI as cs_platform runs it: dbt's own entry point, with Python's garbage
collector set for a short-lived process (mypy does the same, for the same reason).

dbt keeps nearly everything it creates (its imports, the manifest, Jinja templates)
until it exits, and under the default thresholds the collector rescans all of it
again and again: 0.7 s of an 8 s daily run at 10,000 accounts, measured with
gc.callbacks. Collecting the youngest generation every 50,000 allocations instead
of 700 took that run from 9.0 s to 8.3 s wall and 11.6 s to 10.8 s CPU (medians of
6 alternated runs). Freezing the imported objects as well (gc.freeze) measured no
better once they are unfrozen for exit, which they must be: the DuckDB bindings
report frozen objects as leaked.

Installed next to dbt in dbt's own environment as `cs-dbt`, with that
environment's Python (`make install`; /opt/dbt/bin/cs-dbt in the image);
cs_platform.settings.dbt_executable prefers it to plain `dbt`.
"""

import gc

gc.set_threshold(50_000, 20, 100)

from dbt.cli.main import cli  # noqa: E402

cli()  # exits with dbt's own status (click's standalone mode)
