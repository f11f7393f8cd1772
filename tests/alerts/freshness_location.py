"""A code location for the freshness tests: a raw table and the dbt models, with the
policies `cs_platform.definitions` applies (the same function)."""

import dagster as dg

from cs_platform.defs.models import dbt
from cs_platform.defs.sources.airtable import feature_requests
from cs_platform.freshness import apply_freshness_policies

# The daemon only reads the asset graph; no asset runs here, so the resources are placeholders.
UNUSED = dg.ResourceDefinition.none_resource()
defs = apply_freshness_policies(dg.Definitions.merge(
    dg.Definitions(assets=[feature_requests], resources={"warehouse": UNUSED, "airtable": UNUSED}), dbt.defs))
