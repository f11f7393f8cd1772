"""The code location keeps every asset, check, job, schedule and sensor it had
before the move to a dg project (tests/definitions_inventory.json, recorded from
main before the move): nothing lost or renamed by a restructuring. A change that
means to add or rename a definition updates the file in the same commit."""

import json
from pathlib import Path

import dagster as dg

from cs_platform.definitions import defs

INVENTORY = Path(__file__).with_name("definitions_inventory.json")


def inventory(definitions: dg.Definitions) -> dict[str, list[str]]:
    repo = definitions.get_repository_def()
    graph = definitions.resolve_asset_graph()
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_the_code_location_has_every_definition_it_had_before():
    expected = json.loads(INVENTORY.read_text())
    actual = inventory(defs())
    for section, names in expected.items():
        assert actual[section] == names, (
            f"{section}: missing {sorted(set(names) - set(actual[section]))}, "
            f"new {sorted(set(actual[section]) - set(names))}")
