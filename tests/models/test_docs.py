"""Every model and seed is documented: a description, and every column the built
table has is described in its folder's YAML (and no YAML column is stale)."""

import json


def test_every_model_and_column_is_documented(built):
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    problems = []
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "seed"):
            continue
        name, schema = node["name"], node["schema"]
        if not node.get("description"):
            problems.append(f"{name}: no description")
        actual = list(built.query(f'select * from "{schema}"."{node["alias"]}" limit 0').columns)
        documented = {c: v.get("description") for c, v in node["columns"].items()}
        missing = [c for c in actual if c not in documented]
        stale = [c for c in documented if c not in actual]
        undescribed = [c for c, d in documented.items() if not d]
        for label, columns in (("undocumented", missing), ("documented but absent", stale),
                               ("without description", undescribed)):
            if columns:
                problems.append(f"{name}: {label}: {columns}")
    assert not problems, "\n".join(problems)
