"""Preflight: the syncs checked against the CRM's own schema (Salesforce sObject
Describe, HubSpot CRM v3 properties) over real HTTP against the sandbox, and the
CRM setup the shipped syncs need, which must equal what the sandbox declares
(devkit/sandbox/crm_setup.yaml) so the two cannot drift apart."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cs_platform.activation.__main__ import main
from cs_platform.activation.component import parse_syncs
from cs_platform.activation.destinations import connect
from cs_platform.activation.plays.component import load_plays
from cs_platform.activation.plays.engine import TASK_COLUMNS as TASK_OUTBOX_COLUMNS
from cs_platform.activation.plays.engine import play_sync_specs
from cs_platform.activation.preflight import (
    ERROR,
    WARNING,
    CrmField,
    check,
    column_kind,
    create_hubspot_properties,
    fetch_schema,
    preflight,
    required_setup,
    setup_command,
)
from tests.activation.support import (
    ACCOUNT_COLUMNS,
    ACCOUNTS_TABLE,
    COMPANIES_TABLE,
    COMPANY_COLUMNS,
    SYNCS_DOC,
    TASK_COLUMNS,
    TASKS_TABLE,
    component_file,
    spec_of,
    syncs_doc,
)

CRM_SETUP = Path(__file__).parents[2] / "devkit" / "sandbox" / "crm_setup.yaml"
TABLES = {ACCOUNTS_TABLE: ACCOUNT_COLUMNS, COMPANIES_TABLE: COMPANY_COLUMNS, TASKS_TABLE: TASK_COLUMNS}


@pytest.fixture
def models(warehouse):
    """The activation models' tables, empty: their column types are what preflight reads."""
    for table, columns in TABLES.items():
        warehouse.write(table, pd.DataFrame(columns=list(columns)), columns, replace_all=True)
    return warehouse


def run_preflight(spec, resources, warehouse):
    destination = connect(spec, resources[spec.destination])
    try:
        return preflight(spec, destination, warehouse.column_types(spec.table))
    finally:
        destination.close()


def errors(problems):
    return [p for p in problems if p.severity == ERROR]


# --------------------------------------------------------------------------- against the sandbox

def test_shipped_syncs_pass_preflight(crm, resources, models):
    for spec in parse_syncs(SYNCS_DOC):
        problems = run_preflight(spec, resources, models)
        assert problems == [], f"{spec.name}: {[str(p) for p in problems]}"


def test_schema_reports_keys_and_writability(crm, resources):
    account = spec_of("account_health")
    destination = connect(account, resources["salesforce"])
    try:
        schema = fetch_schema(account, destination)
    finally:
        destination.close()
    assert schema["Product_Account_Id__c"].is_key and schema["Id"].is_key
    assert not schema["Name"].is_key
    assert schema["Usage_Health_Score__c"].raw_type == "double"
    assert schema["Usage_Health_Score__c"].writable_on_update
    assert not schema["CreatedDate"].writable_on_create and not schema["CreatedDate"].writable_on_update

    company = spec_of("company_lifecycle")
    destination = connect(company, resources["hubspot"])
    try:
        schema = fetch_schema(company, destination)
    finally:
        destination.close()
    assert schema["product_account_id"].is_key
    assert schema["cs_is_renewal_risk"].type == "boolean"
    assert not schema["hs_object_id"].writable_on_update


def test_misspelt_salesforce_field_is_named_with_a_fix(crm, resources, models):
    spec = spec_of("account_health", fields={"usage_health_score": "Usage_Health_Scroe__c"})
    problems = errors(run_preflight(spec, resources, models))
    assert len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert (p.sync, p.field) == ("account_health", "Usage_Health_Scroe__c")
    assert "did you mean Usage_Health_Score__c?" in p.message
    assert "create Account.Usage_Health_Scroe__c (Number(18,2))" in p.fix
    assert "defs.yaml" in p.fix and "Usage_Health_Score__c" in p.fix
    assert "account_health" in str(p) and "Usage_Health_Scroe__c" in str(p)


def test_salesforce_names_are_case_insensitive_hubspot_names_exact(crm, resources, models):
    spec = spec_of("account_health", fields={"usage_health_score": "usage_health_score__C"})
    assert errors(run_preflight(spec, resources, models)) == []

    spec = spec_of("company_lifecycle", fields={"usage_health_band": "CS_Usage_Health_Band"})
    problems = errors(run_preflight(spec, resources, models))
    assert [(p.sync, p.field) for p in problems] == [("company_lifecycle", "CS_Usage_Health_Band")]
    assert "did you mean cs_usage_health_band?" in problems[0].message
    assert "--create-hubspot-properties" in problems[0].fix


def test_upsert_keyed_on_a_field_that_is_not_an_external_id_fails(crm, resources, models):
    spec = spec_of("account_health", mode="upsert", key={"column": "account_id", "field": "Name"})
    problems = errors(run_preflight(spec, resources, models))
    assert [(p.sync, p.field) for p in problems] == [("account_health", "Name")]
    assert "not an External ID" in problems[0].message
    assert "External ID" in problems[0].fix and "Unique" in problems[0].fix


def test_a_type_that_cannot_fit_fails_and_text_into_a_number_field_warns(crm, resources, models):
    spec = spec_of("account_health", fields={"usage_health_score": "Usage_Health_Band__c",
                                             "usage_health_band": "Usage_Health_Score__c",
                                             "renewal_likelihood_score": "Upsell_Signal__c",
                                             "has_upsell_signal": "Renewal_Likelihood_Score__c"})
    problems = run_preflight(spec, resources, models)
    # A number into a text field is fine; a number into a checkbox or a boolean into a double is not.
    assert sorted(p.field for p in errors(problems)) == ["Renewal_Likelihood_Score__c", "Upsell_Signal__c"]
    by_field = {p.field: p for p in problems}
    assert "has_upsell_signal is a boolean (BOOLEAN)" in by_field["Renewal_Likelihood_Score__c"].message
    assert "double" in by_field["Renewal_Likelihood_Score__c"].message
    # Text into a number field: only the values that do not parse are refused (the engine isolates them).
    warning = by_field["Usage_Health_Score__c"]
    assert warning.severity == "warning" and "does not parse" in warning.message


def test_unknown_object_is_a_problem(crm, resources, models):
    spec = spec_of("renewal_risk_tasks", object="Tsak")
    problems = run_preflight(spec, resources, models)
    assert [(p.sync, p.field) for p in problems] == [("renewal_risk_tasks", "Tsak")]


def test_setup_lists_what_the_sandbox_declares(models):
    """The product's list of CRM setup (required_setup) and the sandbox's
    crm_setup.yaml must say the same: names, types and key flags."""
    declared = yaml.safe_load(CRM_SETUP.read_text())
    wanted: dict = {}
    duckdb_types = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP"}
    outbox = {c: duckdb_types[t] for c, t in {**TASK_OUTBOX_COLUMNS, "value": "string"}.items()}
    specs = [(s, models.column_types(s.table)) for s in parse_syncs(SYNCS_DOC)]
    specs += [(s, outbox) for s in play_sync_specs(load_plays(manifest=None).plays)]  # the shipped plays' syncs
    for spec, column_types in specs:
        for req in required_setup(spec, column_types):
            if req.standard:
                continue
            previous = wanted.setdefault(req.destination, {}).setdefault(req.object, {}).get(req.name)
            assert previous in (None, req.declaration), f"{req.name} required twice, differently"
            wanted[req.destination][req.object][req.name] = req.declaration
    sandbox = {dest: {obj: {name: {k: v for k, v in spec.items() if k != "length"}
                            for name, spec in fields.items()}
                      for obj, fields in objects.items()}
               for dest, objects in declared.items()}
    assert wanted == sandbox


def test_setup_prints_the_shipped_requirements(models):
    out = io.StringIO()
    assert setup_command(parse_syncs(SYNCS_DOC), {"warehouse": models}, out=out) == 0
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    assert "Number(18,2)" in lines["Usage_Health_Score__c"]
    assert "URL(255)" in lines["CS_Report_URL__c"]
    assert "Checkbox" in lines["Renewal_Risk__c"]
    assert "External ID, Unique" in lines["Product_Account_Id__c"]
    assert "External ID, Unique" in lines["CS_External_Id__c"]
    assert "standard, needs edit permission" in lines["WhatId"]
    assert "bool (booleancheckbox)" in lines["cs_is_renewal_risk"]
    assert "unique (hasUniqueValue)" in lines["product_account_id"]


def test_setup_without_the_model_table_says_types_come_from_the_model(warehouse):
    out = io.StringIO()
    assert setup_command([spec_of("account_health")], {"warehouse": warehouse}, out=out) == 0
    assert "does not exist yet" in out.getvalue()
    line = next(li for li in out.getvalue().splitlines() if "Usage_Health_Score__c" in li)
    assert "from the model" in line


def test_create_hubspot_properties_then_preflight_passes(crm, resources, models):
    spec = spec_of("company_lifecycle", fields={"is_renewal_risk": "cs_renewal_risk_flag",
                                                "usage_health_band": "cs_health_band_v2"})
    assert sorted(p.field for p in errors(run_preflight(spec, resources, models))) == [
        "cs_health_band_v2", "cs_renewal_risk_flag"]
    destination = connect(spec, resources["hubspot"])
    try:
        created = create_hubspot_properties(spec, destination, required_setup(spec, models.column_types(spec.table)))
        assert sorted(created) == ["cs_health_band_v2", "cs_renewal_risk_flag"]
        schema = fetch_schema(spec, destination)
        assert schema["cs_renewal_risk_flag"].raw_type.startswith("bool")
        assert schema["cs_health_band_v2"].raw_type.startswith("string")
        # Nothing left to create: a second call creates nothing.
        assert create_hubspot_properties(spec, destination, required_setup(spec, models.column_types(spec.table))) == []
    finally:
        destination.close()
    assert run_preflight(spec, resources, models) == []


# --------------------------------------------------------------------------- the CLI

@pytest.fixture
def cli_env(sandbox, models, tmp_path, monkeypatch):
    """The environment `python -m cs_platform.activation` reads, pointing at the sandbox."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CS_PLATFORM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DUCKDB_PATH", models.path)
    monkeypatch.delenv("CS_PLATFORM_ENV", raising=False)

    def syncs_file(doc) -> str:
        path = tmp_path / "syncs.yaml"
        path.write_text(yaml.safe_dump(component_file(doc)))
        return str(path)

    return syncs_file


def test_cli_setup_check_passes_on_the_shipped_syncs(crm, cli_env, capsys):
    assert main(["setup", "--syncs", cli_env(SYNCS_DOC), "--check"]) == 0
    out = capsys.readouterr().out
    # The three syncs, and the syncs the shipped plays' Tasks and HubSpot actions go through.
    assert out.count("check: OK") == 3 + len(play_sync_specs(load_plays(manifest=None).plays))


def test_cli_setup_check_names_the_problem_and_exits_1(crm, cli_env, capsys):
    doc = syncs_doc(account_health={"fields": {"usage_health_score": "Usage_Health_Scroe__c"}})
    assert main(["setup", "account_health", "--syncs", cli_env(doc), "--check"]) == 1
    out = capsys.readouterr().out
    assert "ERROR Usage_Health_Scroe__c" in out and "did you mean Usage_Health_Score__c?" in out
    assert "fix: create Account.Usage_Health_Scroe__c" in out


def test_cli_creates_missing_hubspot_properties(crm, cli_env, capsys):
    doc = syncs_doc(company_lifecycle={"fields": {"is_setup_incomplete": "cs_setup_incomplete_flag"}})
    path = cli_env(doc)
    assert main(["setup", "company_lifecycle", "--syncs", path, "--check"]) == 1
    assert "ERROR cs_setup_incomplete_flag" in capsys.readouterr().out
    assert main(["setup", "company_lifecycle", "--syncs", path, "--create-hubspot-properties", "--check"]) == 0
    out = capsys.readouterr().out
    assert "created HubSpot companies properties: cs_setup_incomplete_flag" in out
    assert "check: OK" in out


# --------------------------------------------------------------------------- the rules, without a CRM

def sf_field(name, raw, *, create=True, update=True, key=False, unique=None):
    from cs_platform.activation.preflight import _SF_KINDS

    return CrmField(name, _SF_KINDS.get(raw, "other"), create, update, key, raw, unique=unique)


def test_check_rules_on_a_hand_made_schema():
    spec = spec_of("renewal_risk_tasks")
    schema = {f.name: f for f in [
        sf_field("Id", "id", create=False, update=False, key=True),
        sf_field("CS_External_Id__c", "string", key=True, unique=False),
        sf_field("WhatId", "reference"), sf_field("OwnerId", "reference"),
        sf_field("Subject", "combobox"), sf_field("ActivityDate", "datetime"),
        sf_field("Priority", "picklist"), sf_field("Description", "textarea", create=False),
        sf_field("Status", "picklist")]}
    problems = check(spec, schema, {c: {"string": "VARCHAR", "date": "DATE"}[t] for c, t in TASK_COLUMNS.items()})
    by_field = {p.field: p for p in problems}
    assert set(by_field) == {"Description", "CS_External_Id__c"}
    assert by_field["Description"].severity == ERROR and "not createable" in by_field["Description"].message
    assert by_field["CS_External_Id__c"].severity == WARNING  # External ID but not Unique
    # Unknown column types: no type check (a date column into a number field is not noticed).
    schema["ActivityDate"] = sf_field("ActivityDate", "double")
    assert {p.field for p in check(spec, schema, None)} == {"Description", "CS_External_Id__c"}
    assert "ActivityDate" in {p.field for p in check(spec, schema, {"due_date": "DATE"})}


def test_hubspot_booleans_fit_a_true_false_enumeration():
    spec = spec_of("company_lifecycle")
    enum = CrmField("cs_is_renewal_risk", "choice", True, True, False, "enumeration (booleancheckbox)",
                    options=("true", "false"))
    text = CrmField("x", "text", True, True, False, "string")
    schema = {m.field: text for m in spec.fields} | {
        "product_account_id": CrmField("product_account_id", "text", True, True, True, "string"),
        "cs_is_renewal_risk": enum}
    types = {"is_renewal_risk": "BOOLEAN", "product_account_id": "VARCHAR"}
    assert check(spec, schema, types) == []
    schema["cs_is_renewal_risk"] = CrmField("cs_is_renewal_risk", "number", True, True, False, "number")
    assert [p.field for p in check(spec, schema, types)] == ["cs_is_renewal_risk"]
    # The key must be unique in update (idProperty).
    schema["product_account_id"] = CrmField("product_account_id", "text", True, True, False, "string")
    assert "product_account_id" in [p.field for p in check(spec, schema, types)]


@pytest.mark.parametrize(("warehouse_type", "kind"), [
    ("VARCHAR", "string"), ("DOUBLE", "number"), ("DECIMAL(18,3)", "number"), ("BIGINT", "integer"),
    ("INT64", "integer"), ("BOOLEAN", "boolean"), ("BOOL", "boolean"), ("DATE", "date"),
    ("TIMESTAMP WITH TIME ZONE", "timestamp"), ("TIMESTAMP", "timestamp"), ("STRING", "string"),
    ("VARCHAR[]", "other"), ("ARRAY<STRING>", "other"), (None, None)])
def test_column_kind(warehouse_type, kind):
    assert column_kind(warehouse_type) == kind


def test_duckdb_column_types(models, warehouse):
    types = warehouse.column_types(ACCOUNTS_TABLE)
    assert types["usage_health_score"] == "DOUBLE" and types["is_renewal_risk"] == "BOOLEAN"
    assert types["account_id"] == "VARCHAR"
    assert warehouse.column_types("marts.no_such_table") is None


def test_key_of_a_salesforce_update_by_id_is_not_sent():
    """account_health updates by Id: a missing key field is only a warning, and its
    writability and External ID flag are not checked."""
    spec = spec_of("account_health")
    schema = {f.name: f for f in [sf_field("Id", "id", create=False, update=False, key=True)]
              + [sf_field(m.field, "string") for m in spec.fields]}
    assert [(p.field, p.severity) for p in check(spec, schema, None)] == [("Product_Account_Id__c", WARNING)]
    schema["Product_Account_Id__c"] = sf_field("Product_Account_Id__c", "string", create=False, update=False)
    assert check(spec, schema, None) == []
