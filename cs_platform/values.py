"""Tests on single values shared by every stage: what counts as missing, and
whether a value read back from a CRM is the one that was written."""

from __future__ import annotations

import math

import pandas as pd


def is_missing(value) -> bool:
    """None and pandas' missing markers (NaN, NaT, pd.NA); a list or dict is never missing."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # array-likes: pd.isna answers per element
        return False


def plain(value):
    """A pandas/numpy scalar as a plain Python value for JSON: None for missing
    markers, numpy numbers as int/float/bool, Timestamps as datetimes."""
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
        return value.item()
    return value


def same_value(actual, intended) -> bool:
    """Is the value a CRM holds the one we meant to write? Tolerates the type
    changes of the round trip (numbers as text from a CSV load or HubSpot's text
    properties, dates vs datetimes)."""
    if intended is None:
        return actual in (None, "")
    if actual is None:
        return False
    if isinstance(intended, bool):
        return str(actual).lower() == str(intended).lower()
    if isinstance(intended, (int, float)):
        try:
            return math.isclose(float(actual), float(intended), rel_tol=1e-9, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    a, b = str(actual), str(intended)
    return a == b or (len(b) == 10 and a[:10] == b)  # a date sent, a datetime read back
