"""Stage 1, sources: each tool's raw objects as assets `raw/<tool>/<object>`.

One module per tool; each exposes `defs` (assets, checks, schedules, sensors).
"""

import dagster as dg

defs = dg.Definitions()
