"""The one code location: every stage's assets, checks, schedules and sensors.

Stages are assembled here in data-flow order; resources come from the
environment switch in `cs_platform.settings`.
"""

import dagster as dg

from cs_platform import settings
from cs_platform.sources import defs as source_defs

defs = dg.Definitions.merge(
    source_defs,
    dg.Definitions(resources=settings.resources_for()),
)
