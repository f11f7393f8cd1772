"""The one code location: every stage's assets, checks, jobs, schedules and sensors.

Stages are merged in data-flow order; resources come from the environment
switch in `cs_platform.settings`.
"""

import dagster as dg

from cs_platform import activation, alerts, models, settings
from cs_platform.sources.definitions import defs as source_defs

defs = dg.Definitions.merge(
    source_defs,
    models.defs,
    activation.defs,
    alerts.defs,
    dg.Definitions(resources=settings.resources_for()),
)
