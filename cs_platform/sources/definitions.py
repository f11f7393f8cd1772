"""All source tools' definitions, merged."""

import dagster as dg

from cs_platform.sources import (
    airtable,
    freshdesk,
    google_analytics,
    hubspot,
    karte,
    product_db,
    salesforce,
)

defs = dg.Definitions.merge(
    product_db.defs,
    salesforce.defs,
    hubspot.defs,
    freshdesk.defs,
    karte.defs,
    airtable.defs,
    google_analytics.defs,
)
