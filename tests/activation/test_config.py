"""Sync declarations are validated at load time, with errors naming the sync and the field."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from cs_platform.activation import config
from cs_platform.activation.config import SyncConfigError, load_syncs, parse_syncs, resolve_table
from tests.activation.support import (
    ACCOUNT_COLUMNS,
    COMPANY_COLUMNS,
    SYNCS_DOC,
    TASK_COLUMNS,
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
    specs = config.parse_syncs(yaml.safe_load(config.SYNCS_FILE.read_text()), manifest=ACTIVATION_MANIFEST)
    assert {s.name: (s.destination, s.object, s.mode) for s in specs} == {
        "account_health": ("salesforce", "Account", "update"),
        "company_lifecycle": ("hubspot", "companies", "update"),
        "renewal_risk_tasks": ("salesforce", "Task", "create_once"),
    }
    # The relation comes from the manifest, not from the engine.
    assert {resolve_table(s, ACTIVATION_MANIFEST) for s in specs} == {
        "marts.activation_salesforce_accounts", "marts.activation_hubspot_companies",
        "marts.activation_salesforce_renewal_risk_tasks"}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(ACTIVATION_MANIFEST))
    assert config.read_manifest(path) == ACTIVATION_MANIFEST


def _doc_with(**changes) -> dict:
    doc = copy.deepcopy(SYNCS_DOC)
    doc["syncs"][0].update(changes)
    return doc


@pytest.mark.parametrize("changes, message", [
    ({"mode": "upsrt"}, "sync 'account_health', field 'mode': unknown mode 'upsrt'"),
    ({"destination": "marketo"}, "sync 'account_health', field 'destination': unknown destination 'marketo'"),
    ({"nulls": "zero"}, "sync 'account_health', field 'nulls': unknown null handling 'zero'"),
    ({"feilds": {}}, "sync 'account_health', field 'feilds': unknown field"),
    ({"key": {"column": "account_id"}}, "sync 'account_health', field 'key'"),
    ({"record_id": None}, "sync 'account_health', field 'record_id': mode 'update' on Salesforce needs"),
    ({"schedule": "every day"}, "sync 'account_health', field 'schedule': not a valid cron string"),
    ({"guards": {"max_change_share": 5}}, "sync 'account_health', field 'guards.max_change_share'"),
    ({"salesforce": {"batch_size": 500}}, "sync 'account_health', field 'salesforce.batch_size': must be 1..200"),
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
    with pytest.raises(SyncConfigError, match="unknown top-level keys"):
        parse_syncs({**SYNCS_DOC, "sync": []})


def test_without_a_manifest_the_relation_must_be_given(tmp_path, monkeypatch):
    doc = _doc_with(table=None)
    spec = parse_syncs(doc)[0]
    monkeypatch.setattr(config, "manifest_path", lambda: tmp_path / "missing.json")
    with pytest.raises(SyncConfigError, match="no `table` given and the dbt manifest"):
        resolve_table(spec)


def test_yaml_file_round_trip(tmp_path):
    path = tmp_path / "syncs.yaml"
    path.write_text(yaml.safe_dump(SYNCS_DOC))
    specs = load_syncs(path, manifest=None)
    assert [s.asset_key.path for s in specs] == [
        ["sync", "salesforce", "account_health"], ["sync", "hubspot", "company_lifecycle"],
        ["sync", "salesforce", "renewal_risk_tasks"]]
    path.write_text("syncs: [unclosed")
    with pytest.raises(SyncConfigError, match="not valid YAML"):
        load_syncs(path, manifest=None)
