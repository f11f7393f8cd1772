"""Every asset's freshness policy, declared here and applied once to the code location.

Each policy follows from how often its assets are meant to be rebuilt (`every`):
warn after `warn_after` periods, fail after `fail_after`, plus a `margin` for the
run's own duration (an hourly load, the daily dbt build) or a late file drop.
Dagster's freshness daemon evaluates them; the UI shows the result on each asset,
and the Slack alert (`cs_platform/defs/alerts/stale_assets.py`) reads that same
state, so the two cannot disagree. Rows are matched in order; the first that selects an asset wins.
Seeds (`score_config`) have none: they change when CS ops edits them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg


@dataclass(frozen=True)
class FreshnessRule:
    """The assets under `key_prefix` or in one of `groups` are rebuilt every `every`."""

    every: timedelta
    warn_after: int  # periods
    fail_after: int  # periods
    why: str  # what rebuilds them
    margin: timedelta = timedelta(0)
    key_prefix: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def selects(self, spec: dg.AssetSpec) -> bool:
        if self.key_prefix:
            return tuple(spec.key.path[:len(self.key_prefix)]) == self.key_prefix
        return spec.group_name in self.groups

    @property
    def policy(self) -> dg.FreshnessPolicy:
        return dg.FreshnessPolicy.time_window(fail_window=self.every * self.fail_after + self.margin,
                                              warn_window=self.every * self.warn_after + self.margin)


HALF_HOUR = timedelta(minutes=30)
RULES: tuple[FreshnessRule, ...] = (
    FreshnessRule(timedelta(minutes=15), 2, 4, "salesforce_every_15min", key_prefix=("raw", "salesforce")),
    FreshnessRule(timedelta(minutes=15), 2, 4, "hubspot_every_15min", key_prefix=("raw", "hubspot")),
    FreshnessRule(timedelta(minutes=30), 2, 4, "freshdesk_every_30min", key_prefix=("raw", "freshdesk")),
    FreshnessRule(timedelta(hours=1), 1, 2, "product_db_*_hourly", HALF_HOUR, key_prefix=("raw", "product_db")),
    FreshnessRule(timedelta(hours=6), 1, 2, "airtable_every_6h", HALF_HOUR, key_prefix=("raw", "airtable")),
    FreshnessRule(timedelta(days=1), 1, 2, "google_analytics_daily", HALF_HOUR,
                  key_prefix=("raw", "google_analytics")),
    FreshnessRule(timedelta(days=7), 1, 2, "a weekly file drop (karte_*_files sensors), half a day late at most",
                  timedelta(hours=12), key_prefix=("raw", "karte")),
    FreshnessRule(timedelta(days=1), 1, 2, "activation_fallback_schedule, or after each model update", HALF_HOUR,
                  key_prefix=("sync",)),
    FreshnessRule(timedelta(days=1), 1, 2, "plays_fallback_schedule, or after each segment update", HALF_HOUR,
                  key_prefix=("play",)),
    FreshnessRule(timedelta(days=1), 1, 2, "after each daily mart update (reports_automation_sensor)", HALF_HOUR,
                  key_prefix=("report",)),
    # dbt models (the activation models share their group with the syncs, matched above)
    FreshnessRule(timedelta(days=1), 1, 2, "dbt_build_daily", HALF_HOUR,
                  groups=("staging", "intermediate", "marts", "activation")),
)


def policy_for(spec: dg.AssetSpec) -> dg.FreshnessPolicy | None:
    """The policy of the first rule that selects the asset, or None."""
    rule = next((r for r in RULES if r.selects(spec)), None)
    return rule.policy if rule else None


def apply_freshness_policies(defs: dg.Definitions) -> dg.Definitions:
    """`defs` with every asset's policy set from RULES; an asset no rule selects keeps none.
    Matched on each spec's key and group, so the graph need not be resolved (no resources yet)."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        policy = policy_for(spec)
        return dg.apply_freshness_policy(spec, policy) if policy else spec.replace_attributes(freshness_policy=None)

    return defs.permissive_map_resolved_asset_specs(func=apply, selection=None)
