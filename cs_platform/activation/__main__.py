"""Run or plan one sync from the command line, outside the UI:

    python -m cs_platform.activation list
    python -m cs_platform.activation run account_health [--dry-run] [--override-guards] [--syncs FILE]
    python -m cs_platform.activation setup [SYNC ...] [--syncs FILE] [--check] [--create-hubspot-properties]

`setup` prints the CRM fields / properties each sync needs (types from the model's
table in the warehouse); `--check` connects to each destination and prints every
problem with its fix (exit code 1 when there is one); `--create-hubspot-properties`
creates the missing HubSpot properties (`cs_platform.activation.preflight`).

`run` materializes the sync's asset through Dagster (the same code path as the UI,
the sensor and the schedule), with the environment's resources
(`cs_platform.settings`), on the instance in DAGSTER_HOME when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import dagster as dg

from cs_platform import settings
from cs_platform.activation.assets import build_sync_asset
from cs_platform.activation.component import SYNCS_YAML, load_syncs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cs_platform.activation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the declared syncs").add_argument("--syncs", default=str(SYNCS_YAML))
    run = sub.add_parser("run", help="run one sync")
    run.add_argument("name")
    run.add_argument("--syncs", default=str(SYNCS_YAML), help="the syncs YAML (default: the shipped one)")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--override-guards", action="store_true")
    setup = sub.add_parser("setup", help="the CRM setup the syncs need; --check compares it with the CRM")
    setup.add_argument("names", nargs="*", metavar="SYNC", help="syncs to show (default: all)")
    setup.add_argument("--syncs", default=str(SYNCS_YAML), help="the syncs YAML (default: the shipped one)")
    setup.add_argument("--check", action="store_true",
                       help="connect to each destination and report what does not fit (exit 1 when anything)")
    setup.add_argument("--create-hubspot-properties", action="store_true",
                       help="create the HubSpot properties the syncs need and the portal lacks")
    args = parser.parse_args(argv)

    from cs_platform.activation.plays.component import load_plays
    from cs_platform.activation.plays.engine import play_sync_specs

    # The plays' Tasks and HubSpot actions are syncs too: `setup` lists what they need.
    specs = {s.name: s for s in [*load_syncs(args.syncs), *play_sync_specs(load_plays().plays)]}
    if args.command == "setup":
        from cs_platform.activation.preflight import setup_command

        unknown = [n for n in args.names if n not in specs]
        if unknown:
            parser.error(f"no sync named {', '.join(map(repr, unknown))}; declared: {', '.join(specs)}")
        return setup_command([specs[n] for n in args.names] or list(specs.values()), settings.resources_for(),
                             check_crm=args.check, create_properties=args.create_hubspot_properties)
    if args.command == "list":
        for spec in specs.values():
            print(f"{'/'.join(spec.asset_key.path)}  <- {spec.model}  ({spec.destination} {spec.object}, {spec.mode})")
        return 0
    spec = specs.get(args.name)
    if spec is None:
        parser.error(f"no sync named {args.name!r}; declared: {', '.join(specs)}")
    resources = settings.resources_for()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [build_sync_asset(spec)],
        resources={"warehouse": resources["warehouse"], spec.destination: resources[spec.destination]},
        run_config={"ops": {spec.op_name: {"config": {"dry_run": args.dry_run,
                                                      "override_guards": args.override_guards}}}},
        instance=instance, raise_on_error=False)
    for event in result.all_events:
        if event.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_OBSERVATION"):
            data = event.event_specific_data
            entry = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
            summary = {k: getattr(v, "value", v) for k, v in entry.metadata.items()
                       if k in ("outcome", "planned", "sent", "succeeded", "failed", "unchanged", "invalid",
                                "deferred", "api_calls", "guard_decision")}
            print(json.dumps(summary, default=str))
        elif event.is_step_failure:
            print(event.step_failure_data.error.message if event.step_failure_data.error else event.message,
                  file=sys.stderr)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
