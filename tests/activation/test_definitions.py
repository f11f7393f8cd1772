"""The syncs as Dagster definitions: asset keys and lineage, automation that waits
for the model's blocking checks, the in-asset check gate, and the dry-run job."""

from __future__ import annotations

import json

import dagster as dg

from cs_platform import settings
from cs_platform.activation import spec as sync_spec
from cs_platform.activation.assets import AUTOMATION_SENSOR, DRY_RUN_JOB, build_definitions, build_sync_asset
from cs_platform.activation.component import load_syncs, parse_syncs
from tests.activation.support import (
    ACCOUNTS_TABLE,
    COMPANIES_TABLE,
    SYNCS_DOC,
    TASKS_TABLE,
    account_rows,
    company_rows,
    materialize,
    metadata,
    spec_of,
    task_rows,
    write_model,
)
from tests.activation.test_component import ACTIVATION_MANIFEST


def test_shipped_definitions(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(ACTIVATION_MANIFEST))
    monkeypatch.setattr(sync_spec, "manifest_path", lambda: path)
    unused = dg.ResourceDefinition.none_resource()
    defs = dg.Definitions.merge(build_definitions(load_syncs()), dg.Definitions(
        resources={"warehouse": unused, "salesforce": unused, "hubspot": unused}))
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    account = specs[dg.AssetKey(["sync", "salesforce", "account_health"])]
    assert [d.asset_key for d in account.deps] == [dg.AssetKey("activation_salesforce_accounts")]
    assert account.kinds == {"salesforce", settings.warehouse_kind()}
    assert account.owners == [settings.OWNER] and account.group_name == "activation"
    assert "eager" in account.automation_condition.get_label()
    assert dg.AssetKey(["sync", "hubspot", "company_lifecycle"]) in specs
    assets_def = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition)
                      and account.key in a.keys)
    assert assets_def.op.pool == settings.WAREHOUSE_POOL
    sensor = next(s for s in defs.sensors if s.name == AUTOMATION_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    schedule = next(iter(defs.schedules))
    assert schedule.default_status == settings.schedule_default_status()
    assert {j.name for j in defs.jobs} >= {DRY_RUN_JOB, "activation_syncs"}


def _model_with_check(passes: dict):
    @dg.asset(key="activation_salesforce_accounts",
              check_specs=[dg.AssetCheckSpec("scores_in_range", asset="activation_salesforce_accounts",
                                             blocking=True)])
    def model():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="scores_in_range", passed=passes["ok"])

    return model


def test_sync_waits_for_the_models_blocking_checks(sandbox, crm, warehouse, resources):
    passes = {"ok": False}
    model = _model_with_check(passes)
    spec = spec_of("account_health")
    sync = build_sync_asset(spec)
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, 20))
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[model, sync],
                          resources={"warehouse": warehouse, "salesforce": resources["salesforce"]})

    result = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert result.get_num_requested(spec.asset_key) == 0  # the model was never built

    dg.materialize([model], instance=instance, raise_on_error=False)  # built; its blocking check failed
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert result.get_num_requested(spec.asset_key) == 0

    # Started by hand (or by the schedule), the sync refuses too, naming the check.
    run = dg.materialize([model, sync], selection=[spec.asset_key], instance=instance,
                         resources={"warehouse": warehouse, "salesforce": resources["salesforce"]},
                         raise_on_error=False)
    assert not run.success
    assert "blocking check(s) ['scores_in_range'] of model 'activation_salesforce_accounts' failed" \
        in _failure_text(run)
    assert sandbox.calls("salesforce")["total"] == 0

    passes["ok"] = True
    dg.materialize([model], instance=instance)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert result.get_num_requested(spec.asset_key) == 1
    run = dg.materialize([model, sync], selection=[spec.asset_key], instance=instance,
                         resources={"warehouse": warehouse, "salesforce": resources["salesforce"]})
    assert metadata(run)["succeeded"] == 20


def _failure_text(result) -> str:
    return " ".join(str(e.step_failure_data.user_failure_data.description)
                    for e in result.all_events if e.is_step_failure and e.step_failure_data.user_failure_data)


def test_dry_run_job_plans_every_sync_and_sends_nothing(sandbox, crm, warehouse, resources):
    write_model(warehouse, ACCOUNTS_TABLE, account_rows(crm, 30))
    write_model(warehouse, COMPANIES_TABLE, company_rows(30))
    write_model(warehouse, TASKS_TABLE, task_rows(crm, range(3)))
    defs = dg.Definitions.merge(build_definitions(parse_syncs(SYNCS_DOC)), dg.Definitions(resources=resources))
    job = defs.resolve_job_def(DRY_RUN_JOB)
    before = len(sandbox.writes())
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())  # the job's own preset config
    assert result.success
    observations = {e.asset_key.path[-1]: {k: v.value for k, v in
                                           e.event_specific_data.asset_observation.metadata.items()}
                    for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert {k: v["planned"] for k, v in observations.items()} == {
        "account_health": 30, "company_lifecycle": 30, "renewal_risk_tasks": 3}
    assert not result.get_asset_materialization_events()
    assert len(sandbox.writes()) == before  # the preflight reads the CRM's schema; nothing is written
    assert warehouse.columns("activation.sync_state") is None  # a dry run records nothing


def test_failure_metadata_names_the_sync(sandbox, crm, warehouse, resources):
    spec = spec_of("company_lifecycle")
    write_model(warehouse, COMPANIES_TABLE, company_rows(10))
    assert materialize(spec, resources).success
    write_model(warehouse, COMPANIES_TABLE, company_rows(0))
    result = materialize(spec, resources)
    failure = next(e for e in result.all_events if e.is_step_failure)
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("sync/hubspot/company_lifecycle: sync 'company_lifecycle' refused")
