"""Pure logic of the engine: value normalisation and hashing, planning, guards."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_platform.activation.destinations.salesforce import _split_bulk_error, same_value
from cs_platform.activation.engine import build_records, evaluate_guards, make_plan, normalize
from tests.activation.support import spec_of


def test_normalize_gives_one_json_form_per_value():
    assert normalize(np.float64(72.10000000001)) == 72.1
    assert normalize(np.int64(3)) == 3 and normalize(np.bool_(True)) is True
    assert normalize(float("nan")) is None and normalize(pd.NA) is None and normalize(pd.NaT) is None
    assert normalize(pd.Timestamp("2026-06-15"), as_date=True) == "2026-06-15"
    assert normalize(pd.Timestamp("2026-06-15 10:30", tz="Europe/Paris")) == "2026-06-15T08:30:00.000Z"
    assert normalize(date(2026, 6, 15)) == "2026-06-15"


def _tasks(**changes) -> pd.DataFrame:
    row = {"task_key": "t1", "salesforce_account_id": "001A", "owner_id": None, "subject": "s",
           "due_date": pd.Timestamp("2026-06-15"), "priority": "High", "description": "d"}
    row.update(changes)
    return pd.DataFrame([row])


def test_payload_hash_is_stable_and_skips_nulls():
    spec = spec_of("renewal_risk_tasks")
    a, _, _ = build_records(spec, _tasks())
    b, _, _ = build_records(spec, _tasks())
    assert a["t1"].hash == b["t1"].hash
    assert "OwnerId" not in a["t1"].payload  # nulls: skip
    assert a["t1"].payload["ActivityDate"] == "2026-06-15" and a["t1"].payload["Status"] == "Not Started"
    c, _, _ = build_records(spec, _tasks(description="other"))
    assert c["t1"].hash != a["t1"].hash


def test_plan_sends_changed_and_failed_and_counts_the_rest():
    spec = spec_of("account_health")
    df = pd.DataFrame([{"account_id": f"A{i}", "salesforce_account_id": f"001{i}", "usage_health_score": 50.0 + i,
                        "usage_health_band": "x", "renewal_likelihood_score": 1.0, "renewal_likelihood_band": "y",
                        "usage_health_change_28d": 0.0, "top_dropping_component": None, "is_renewal_risk": False,
                        "has_upsell_signal": False, "report_url": "u"} for i in range(4)])
    records, _, _ = build_records(spec, df)
    state = {"A0": {"status": "synced", "synced_hash": records["A0"].hash},
             "A1": {"status": "synced", "synced_hash": "old"},
             "A2": {"status": "failed", "synced_hash": records["A2"].hash}}
    plan = make_plan(spec, df, state)
    assert sorted(r.key for r in plan.records) == ["A1", "A2", "A3"]
    assert (plan.unchanged, plan.retrying, plan.previously_synced, plan.changed_previously_synced) == (1, 1, 3, 1)
    assert evaluate_guards(spec, plan, previous_rows=4) is None
    assert "4 rows, down from 10" in evaluate_guards(spec, plan, previous_rows=10)


def test_bulk_error_and_round_trip_comparison():
    assert _split_bulk_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:Id --") == (
        "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access:Id")
    assert same_value("47.0", 47.0) and same_value("true", True) and same_value(None, None)
    assert same_value("2026-06-15T00:00:00.000+0000", "2026-06-15") and not same_value("48", 47.0)
