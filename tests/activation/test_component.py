"""Sync declarations (SyncComponent) are validated by Dagster's component loading and
`dg check yaml`, with errors naming the file, the line, the sync and the field."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from cs_platform import settings
from cs_platform.activation import spec as sync_spec
from cs_platform.activation.component import SYNCS_YAML, SyncsAttributes, load_syncs, parse_syncs
from cs_platform.activation.spec import SyncConfigError, resolve_table
from tests.activation.support import (
    ACCOUNT_COLUMNS,
    COMPANY_COLUMNS,
    SYNCS_DOC,
    TASK_COLUMNS,
    component_file,
)


def manifest(models: dict[str, dict[str, str]], schema: str = "marts") -> dict:
    """A dbt manifest with the given models and their documented columns."""
    return {"nodes": {
        f"model.cs_platform.{name}": {
            "resource_type": "model", "name": name, "schema": schema, "alias": name,
            "columns": {c: {"name": c} for c in columns}}
        for name, columns in models.items()}}


ACTIVATION_MANIFEST = manifest({
    "activation_salesforce_accounts": ACCOUNT_COLUMNS,
    "activation_hubspot_companies": COMPANY_COLUMNS,
    "activation_salesforce_renewal_risk_tasks": TASK_COLUMNS,
})


def test_shipped_syncs_validate_against_the_models_documented_columns(tmp_path):
    specs = load_syncs(SYNCS_YAML, manifest=ACTIVATION_MANIFEST)
    assert {s.name: (s.destination, s.object, s.mode) for s in specs} == {
        "account_health": ("salesforce", "Account", "update"),
        "company_lifecycle": ("hubspot", "companies", "update"),
    }  # renewal-risk Tasks are a play now (defs/activation/plays/defs.yaml)
    # The relation comes from the manifest, not from the engine.
    assert {resolve_table(s, ACTIVATION_MANIFEST) for s in specs} == {
        "marts.activation_salesforce_accounts", "marts.activation_hubspot_companies"}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(ACTIVATION_MANIFEST))
    assert sync_spec.read_manifest(path) == ACTIVATION_MANIFEST
    assert {s.schedule for s in specs} == {"30 7 * * *"}


def _doc_with(**changes) -> dict:
    doc = copy.deepcopy(SYNCS_DOC)
    doc["syncs"][0].update(changes)
    return doc


@pytest.mark.parametrize("changes, message", [
    ({"mode": "upsrt"}, "syncs.0.mode\n  Input should be 'upsert', 'update', 'insert' or 'create_once'"),
    ({"destination": "marketo"}, "syncs.0.destination\n  Input should be 'salesforce' or 'hubspot'"),
    ({"nulls": "zero"}, "syncs.0.nulls\n  Input should be 'skip' or 'clear'"),
    ({"feilds": {}}, "syncs.0.feilds\n  Extra inputs are not permitted"),
    ({"key": {"column": "account_id"}}, "syncs.0.key.field\n  Field required"),
    ({"record_id": None}, "sync 'account_health', field 'record_id': mode 'update' on Salesforce needs"),
    ({"schedule": "every day"}, "sync 'account_health', field 'schedule': not a valid cron string"),
    ({"guards": {"max_change_share": 5}}, "syncs.0.guards.max_change_share\n  Input should be less than or equal to 1"),
    ({"guards": {"change_fields": ["Usage_Health_Bnd__c"]}},
     "sync 'account_health', field 'guards.change_fields': 'Usage_Health_Bnd__c' is not a CRM field this sync"),
    ({"salesforce": {"batch_size": 500}}, "syncs.0.salesforce.batch_size\n  Input should be less than or equal to 200"),
    ({"salesforce": None, "hubspot": {"batch_size": 50}},
     "sync 'account_health', field 'hubspot': options for hubspot, but the sync's destination is salesforce"),
    ({"fields": {"usage_health_score": "Renewal_Risk__c", "is_renewal_risk": "Renewal_Risk__c"}},
     "sync 'account_health', field 'fields': destination field(s) ['Renewal_Risk__c'] are written twice"),
])
def test_bad_declarations_name_the_sync_and_field(changes, message):
    with pytest.raises(SyncConfigError) as err:
        parse_syncs(_doc_with(**changes))
    assert message in str(err.value)


def test_unknown_model_is_an_error_when_the_manifest_exists():
    doc = _doc_with(model="activation_salesforce_acounts")
    with pytest.raises(SyncConfigError) as err:
        parse_syncs(doc, manifest=ACTIVATION_MANIFEST)
    assert "sync 'account_health', field 'model': unknown dbt model 'activation_salesforce_acounts'" in str(err.value)
    assert "activation_salesforce_accounts" in str(err.value)  # the near miss is listed


def test_unknown_column_is_an_error_naming_the_mapping():
    doc = _doc_with(fields={"usage_health_scor": "Usage_Health_Score__c"})
    with pytest.raises(SyncConfigError) as err:
        parse_syncs(doc, manifest=ACTIVATION_MANIFEST)
    assert ("sync 'account_health', field 'fields.usage_health_scor': column 'usage_health_scor' is not a "
            "documented column of model 'activation_salesforce_accounts'") in str(err.value)
    doc = _doc_with(key={"column": "acct", "field": "Product_Account_Id__c"})
    with pytest.raises(SyncConfigError, match="field 'key.column': column 'acct'"):
        parse_syncs(doc, manifest=ACTIVATION_MANIFEST)


def test_duplicate_sync_names_and_unknown_top_level_keys():
    doc = copy.deepcopy(SYNCS_DOC)
    doc["syncs"].append(copy.deepcopy(doc["syncs"][0]))
    with pytest.raises(SyncConfigError, match="sync 'account_health', field 'name': declared twice"):
        parse_syncs(doc)
    with pytest.raises(SyncConfigError, match="sync\n  Extra inputs are not permitted"):
        parse_syncs({**SYNCS_DOC, "sync": []})


def test_without_a_manifest_the_relation_must_be_given(tmp_path, monkeypatch):
    doc = _doc_with(table=None)
    spec = parse_syncs(doc)[0]
    monkeypatch.setattr(sync_spec, "manifest_path", lambda: tmp_path / "missing.json")
    with pytest.raises(SyncConfigError, match="no `table` given and the dbt manifest"):
        resolve_table(spec)


def test_yaml_file_round_trip(tmp_path):
    path = tmp_path / "defs.yaml"
    path.write_text(yaml.safe_dump(component_file(SYNCS_DOC)))
    specs = load_syncs(path, manifest=None)
    assert [s.asset_key.path for s in specs] == [
        ["sync", "salesforce", "account_health"], ["sync", "hubspot", "company_lifecycle"],
        ["sync", "salesforce", "renewal_risk_tasks"]]
    path.write_text("syncs: [unclosed")
    with pytest.raises(SyncConfigError, match="not valid YAML"):
        load_syncs(path, manifest=None)


def test_batch_limits_in_the_schema_are_the_destinations_own():
    schema = SyncsAttributes.model_json_schema()
    options = schema["$defs"]
    assert options["SalesforceOptions"]["properties"]["batch_size"]["maximum"] == 200
    assert options["HubSpotOptions"]["properties"]["batch_size"]["maximum"] == 100
    assert schema["$defs"]["Sync"]["additionalProperties"] is False
    assert "description" in schema["$defs"]["Sync"]["properties"]["mode"]  # documented in the UI


# A project of its own whose only component is a copy of the shipped syncs with three
# typos, one per sync: each must be reported with the file, its line and the field.
TYPOS = [
    ("      mode: update\n      key: {column: account_id", "      mode: upsrt\n      key: {column: account_id",
     "attributes.syncs.0.mode", "upsrt"),
    ("      key: {column: product_account_id, field: product_account_id}\n",
     "      key: {column: product_account_id, field: product_account_id}\n      hubspot: {batch_size: 250}\n",
     "attributes.syncs.1.hubspot", "250"),
    ("      object: companies\n", "      object: companies\n      constans: {name: x}\n", "attributes.syncs.1.constans",
     "constans"),
]


@pytest.fixture(scope="module")
def broken_project(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("broken_syncs_project")
    package = root / "broken_syncs"
    (package / "defs" / "syncs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "broken-syncs"
        version = "0"
        [tool.dg]
        directory_type = "project"
        [tool.dg.project]
        root_module = "broken_syncs"
        [tool.dg.cli]
        suppress_warnings = ["project_and_activated_venv_mismatch"]
        """))
    text = SYNCS_YAML.read_text()
    for old, new, _, _ in TYPOS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = package / "defs" / "syncs" / "defs.yaml"
    path.write_text(text)
    lines = text.splitlines()
    where = {label: next(i + 1 for i, line in enumerate(lines) if token in line and not line.lstrip().startswith("#"))
             for _, _, label, token in TYPOS}
    return root, where


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(settings.PROJECT_ROOT)])}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_dg_check_yaml_names_file_line_and_field_of_each_typo(broken_project):
    root, where = broken_project
    dg_cli = shutil.which("dg", path=str(Path(sys.executable).parent))
    result = _run([dg_cli, "check", "yaml"], root)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    path = root / "broken_syncs" / "defs" / "syncs" / "defs.yaml"
    assert f"{path}:{where['attributes.syncs.0.mode']} - " in out and "'upsrt' is not one of" in out
    assert f"{path}:{where['attributes.syncs.1.hubspot']} - " in out and "attributes.syncs.1.hubspot" in out
    assert "'constans' was unexpected" in out


def test_loading_names_file_line_and_field_of_each_typo(broken_project):
    root, where = broken_project
    code = "import dagster as dg, pathlib; dg.load_from_defs_folder(project_root=pathlib.Path.cwd())"
    result = _run([sys.executable, "-c", code], root)
    assert result.returncode != 0
    path = root / "broken_syncs" / "defs" / "syncs" / "defs.yaml"
    assert f"attributes.syncs.0.mode at {path}:{where['attributes.syncs.0.mode']}" in result.stderr
    assert "Input should be 'upsert', 'update', 'insert' or 'create_once'" in result.stderr
    assert f"attributes.syncs.1.hubspot.batch_size at {path}:{where['attributes.syncs.1.hubspot']}" in result.stderr
    assert f"attributes.syncs.1.constans at {path}:{where['attributes.syncs.1.constans']}" in result.stderr
    assert "Extra inputs are not permitted" in result.stderr
