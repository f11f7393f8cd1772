"""The platform's alerting, to Slack: failed runs, stale assets, failed checks.

Open-source Dagster evaluates no alert policies of its own, so both are sensors
(on by default, also locally, where they post to the sandbox's webhook).
"""

import dagster as dg

from cs_platform.alerts.freshness import slack_on_stale_assets_and_failed_checks
from cs_platform.alerts.run_failure import slack_on_run_failure

defs = dg.Definitions(sensors=[slack_on_run_failure, slack_on_stale_assets_and_failed_checks])
