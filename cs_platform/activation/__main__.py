"""Run or plan one sync from the command line, outside the UI:

    python -m cs_platform.activation list
    python -m cs_platform.activation run account_health [--dry-run] [--override-guards] [--syncs FILE]

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
    args = parser.parse_args(argv)

    specs = {s.name: s for s in load_syncs(args.syncs)}
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
