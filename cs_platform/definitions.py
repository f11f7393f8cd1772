"""The one code location: every stage's assets, checks, jobs, schedules and sensors.

Stages are merged in data-flow order; resources come from the environment
switch in `cs_platform.settings`.
"""

import dagster as dg

from cs_platform import settings

# First, so that missing production settings stop the load with one clear message.
resources = settings.resources_for()

# Modules, not their `defs`: Dagster refuses a module with two Definitions at top level.
from cs_platform import activation, alerts, models  # noqa: E402
from cs_platform.sources import definitions as sources  # noqa: E402

defs = dg.Definitions.merge(
    sources.defs,
    models.defs,
    activation.defs,
    alerts.defs,
    dg.Definitions(resources=resources),
)
