"""How a failed dbt test's stored rows become the offending keys a check names."""

import pandas as pd

from cs_platform.models.results import markdown_table, offending_keys


def test_unique_failures_name_the_key_and_its_count():
    rows = pd.DataFrame({"unique_field": ["001A", "001B"], "n_records": [2, 3]})
    assert offending_keys(rows, ["unique_field"], "Id") == ["Id=001A (2 rows)", "Id=001B (3 rows)"]


def test_composite_key_failures_name_every_key_column():
    rows = pd.DataFrame({"account_id": ["A1"], "usage_date": ["2026-03-01"], "feature_key": ["alerts"],
                         "n_records": [2]})
    assert offending_keys(rows, ["account_id", "usage_date", "feature_key"]) == \
        ["account_id=A1, usage_date=2026-03-01, feature_key=alerts (2 rows)"]


def test_a_null_key_is_named_by_other_fields_of_its_record():
    rows = pd.DataFrame({"id": [None], "_loaded_at": ["2026-03-01"], "company_id": [7], "subject": ["Help"],
                         "type": [None], "status": [2]})
    assert offending_keys(rows, ["id"]) == ["id=null, company_id=7, subject=Help, status=2"]


def test_rows_without_a_known_key_fall_back_to_their_first_fields():
    rows = pd.DataFrame({"score_name": ["usage_health"], "weight_total": [1.1]})
    assert offending_keys(rows, ["component_name"]) == ["score_name=usage_health, weight_total=1.1"]


def test_failing_rows_render_as_a_markdown_table():
    table = markdown_table(pd.DataFrame({"a": [1, None], "b": ["x", "y"]}))
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| 1.0 | x |", "| null | y |"]
