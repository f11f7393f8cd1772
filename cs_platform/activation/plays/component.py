"""`PlayComponent`: plays declared in YAML, typed and validated by Dagster, as syncs are.

A play watches one segment of `account_segments` (optionally narrowed by a SQL
filter on that model's columns) and acts on the accounts that *entered* it since
its last run, at one of three levels:

- `alert`: a Slack message (per account, or one digest per recipient and run) to a
  team channel, the account owner's DM, or the owner's lead's DM;
- `task`: a Salesforce Task for the owner (or the lead), through the reverse-ETL
  engine (create-once on the Task's external ID), never a second one while the
  play's last Task for the account is open; closed when the account leaves, if set;
- `action`: a HubSpot company property set through the reverse-ETL engine (e.g. the
  flag a nurture workflow enrols on), and reset when the account leaves, if set.

Each play becomes the asset `play/<name>` (`assets.py`), run by the engine in
`engine.py`. The instance shipped is `cs_platform/defs/activation/plays/defs.yaml`.
As for syncs, the attributes are a plain pydantic model: `dg check yaml` then
refuses a misspelt level or a negative cooldown with the file and line.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import dagster as dg
import yaml
from pydantic import Field, ValidationError, model_validator

from cs_platform.activation.spec import SyncConfigError, model_node, read_manifest

PLAYS_YAML = Path(__file__).parents[2] / "defs" / "activation" / "plays" / "defs.yaml"
SEGMENT_MODEL = "account_segments"
# Placeholders every template may use besides the segment model's columns.
PLAY_FIELDS = ("play", "play_name", "entered_on", "salesforce_url")


class SlackAlert(dg.Model):
    """Where a play's Slack messages go."""

    route: Literal["channel", "owner", "owner_lead"] = Field(
        default="channel",
        description="channel: the team channel below. owner: a DM to the account owner ('accounts I own'). "
                    "owner_lead: a DM to the owner's manager in Salesforce ('my team's accounts'). A recipient "
                    "without a Slack user (looked up by email) gets the message in `channel`, marked so.")
    channel: str = Field(description="The team channel (name or ID); also the fallback for unknown recipients.")
    delivery: Literal["single", "digest"] = Field(
        default="single", description="single: one message per account. digest: one message per recipient per run.")


class TaskTemplate(dg.Model):
    """The Salesforce Task a `task` play creates. Templates take `{column}` placeholders
    of account_segments and {play}, {play_name}, {entered_on}."""

    key: str = Field(
        default="play-{play}-{account_id}-{entered_on}",
        description="The Task's identity, written to its external ID CS_External_Id__c: a retry or a rerun "
                    "never creates a second Task with the same key.")
    subject: str = Field(max_length=255)
    description: str = Field(default="{detail}\nSuggested next step: {recommended_action}")
    owner: Literal["account_owner", "owner_lead"] = "account_owner"
    due_in_days: int = Field(default=7, ge=0, description="Due this many days after the account entered, "
                                                          "or on its renewal date when that comes sooner.")
    priority: Literal["High", "Normal", "Low"] = "Normal"
    high_priority_within_days: int | None = Field(
        default=None, ge=0, description="Priority High when the account renews within this many days.")
    on_exit: Literal["close", "comment", "keep"] = Field(
        default="keep", description="close: the Task is set Completed when the account leaves the segment. "
                                    "comment: a dated line saying so is added to its description, and it "
                                    "stays open for the CSM. keep: left to the CSM.")


class HubSpotAction(dg.Model):
    """The HubSpot company property an `action` play sets (matched on product_account_id)."""

    property: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The company property written.")
    value: str = Field(description="Set when the account enters the segment.")
    exit_value: str | None = Field(
        default=None, description="Set when the account leaves the segment; unset = the value stays.")


class Play(dg.Model):
    """One play: a segment, a level, what it sends, and its rules."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The asset key's last part (play/<name>).")
    description: str = Field(default="", description="What the play is for; shown in the UI.")
    segment: str = Field(description="A segment_key of account_segments (seeds/segment_definitions.csv).")
    where: str | None = Field(
        default=None, description="A SQL condition on account_segments' columns narrowing the segment, "
                                  "e.g. \"usage_health_band = 'red'\".")
    level: Literal["alert", "task", "action"]
    enabled: bool = Field(
        default=True, description="false: every run is a dry run that shows what the play would send; "
                                  "nothing is sent and no state is written.")
    first_run: Literal["baseline", "backfill"] = Field(
        default="baseline", description="baseline: the first run records the accounts already in the segment "
                                        "and fires for none of them. backfill: it fires for all of them.")
    cooldown_days: int = Field(
        default=7, ge=0, description="An account that re-enters within this many days of the play's last firing "
                                     "for it is not acted on again (recorded as suppressed).")
    report_exits: bool = Field(default=False, description="Also tell (Slack) when an account leaves the segment.")
    max_firings_per_run: int = Field(
        default=200, ge=1, description="Refuse a run that would fire for more accounts than this (a segment "
                                       "definition gone wrong must not flood Slack or the CRM); run config "
                                       "`override_guards: true` lets one run through.")
    max_attempts: int = Field(default=5, ge=1,
                              description="A firing that failed to send is retried on this many runs.")
    automation: bool = Field(default=True, description="Run after account_segments updates.")
    slack: SlackAlert | None = None
    task: TaskTemplate | None = None
    action: HubSpotAction | None = None

    @model_validator(mode="after")
    def _rules(self) -> Play:
        def fail(field_name: str, message: str):
            raise ValueError(f"play '{self.name}', field '{field_name}': {message}")

        needs = {"alert": "slack", "task": "task", "action": "action"}[self.level]
        if getattr(self, needs) is None:
            fail(needs, f"a level-{self.level} play needs `{needs}`")
        for other in ("task", "action"):
            if other != needs and getattr(self, other) is not None:
                fail(other, f"`{other}` is for level {other}; this play's level is {self.level}")
        if self.report_exits and self.slack is None:
            fail("report_exits", "exits are reported on Slack: the play needs `slack`")
        for label, text in self.templates().items():
            try:
                list(string.Formatter().parse(text))
            except ValueError as error:
                fail(label, f"not a valid template ({error}): {text!r}")
        return self

    def templates(self) -> dict[str, str]:
        if self.task is None:
            return {}
        return {"task.key": self.task.key, "task.subject": self.task.subject,
                "task.description": self.task.description}

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["play", self.name])

    @property
    def sync_name(self) -> str:
        """The reverse-ETL sync its tasks / actions go through (state kept under this name)."""
        return f"play_{self.name}"

    def describe(self) -> str:
        what = {"alert": lambda: f"a Slack alert ({self.slack.route}, {self.slack.delivery})",
                "task": lambda: f"a Salesforce Task for the {self.task.owner.replace('_', ' ')}",
                "action": lambda: f"HubSpot property {self.action.property} = {self.action.value!r}"}[self.level]()
        return (f"{self.description.strip() or self.name}\n\nWhen an account enters segment `{self.segment}`"
                f"{f' (where {self.where})' if self.where else ''}: {what}. Cooldown {self.cooldown_days} days; "
                f"first run: {self.first_run}.")


class PlaysAttributes(dg.Model):
    plays: list[Play] = Field(min_length=1, description="The plays; each becomes the asset play/<name>.")
    digest_channel: str | None = Field(
        default=None, description="Where the morning digest of the day's changes goes (asset play/morning_digest); "
                                  "unset = no digest.")

    @model_validator(mode="after")
    def _unique_names(self) -> PlaysAttributes:
        names = [p.name for p in self.plays]
        for name in sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"play '{name}', field 'name': declared twice")
        return self


def check_play_against_manifest(play: Play, manifest: Mapping) -> None:
    """Template placeholders must be columns of the segment model (when it documents them)."""
    node = model_node(manifest, SEGMENT_MODEL)
    if node is None:
        raise SyncConfigError(f"play '{play.name}': the dbt project has no model {SEGMENT_MODEL!r}")
    columns = {c.lower() for c in (node.get("columns") or {})}
    if not columns:
        return
    for label, text in play.templates().items():
        for _, name, _, _ in string.Formatter().parse(text):
            if name and name not in PLAY_FIELDS and name.lower() not in columns:
                raise SyncConfigError(
                    f"play '{play.name}', field '{label}': {{{name}}} is not a column of {SEGMENT_MODEL} "
                    f"(columns: {', '.join(sorted(columns))}; also {', '.join(PLAY_FIELDS)})")


class PlayComponent(dg.Component):
    """Plays: segment-driven Slack alerts, Salesforce Tasks and HubSpot actions, one asset
    per play (`play/<name>`), firing once per account entering the segment."""

    def __init__(self, plays: list[Play], digest_channel: str | None = None):
        self.plays = list(plays)
        self.digest_channel = digest_channel

    @classmethod
    def get_model_cls(cls) -> type[PlaysAttributes]:
        return PlaysAttributes

    @classmethod
    def load(cls, attributes: PlaysAttributes | None, context: dg.ComponentLoadContext) -> PlayComponent:
        if attributes is None:
            raise SyncConfigError(f"{context.path}: a PlayComponent needs `attributes.plays`")
        return cls(attributes.plays, attributes.digest_channel)

    def checked_plays(self, manifest: Mapping | None | str = "auto") -> list[Play]:
        if manifest == "auto":
            manifest = read_manifest()
        if manifest is not None:
            for play in self.plays:
                check_play_against_manifest(play, manifest)
        return self.plays

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from cs_platform.activation.plays.assets import build_play_definitions

        return build_play_definitions(self.checked_plays(), digest_channel=self.digest_channel)


def load_plays(path: str | Path = PLAYS_YAML, manifest: Mapping | None | str = "auto") -> PlayComponent:
    """The plays of a PlayComponent `defs.yaml` (default: the shipped one), for tests and the bench."""
    path = Path(path)
    doc = yaml.safe_load(path.read_text()) or {}
    try:
        attributes = PlaysAttributes.model_validate(doc.get("attributes") or {})
    except ValidationError as exc:
        raise SyncConfigError(f"{path}: {exc}") from None
    component = PlayComponent(attributes.plays, attributes.digest_channel)
    component.checked_plays(manifest)
    return component
