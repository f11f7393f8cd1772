"""Column casting in `sources/loading.py`: the vectorised paths give exactly what
the per-value parsers give, for every format the sources send."""

import datetime as dt

import numpy as np
import pandas as pd

from cs_platform.sources.loading import _cast, _parse_date, parse_timestamp


def test_dates_from_every_format_the_sources_send():
    values = pd.Series([
        "2026-11-01",                      # product DB on SQLite, Airtable
        dt.date(2026, 11, 2),              # product DB on PostgreSQL / MySQL
        "20261103",                        # GA4 Data API
        "2026-11-04T10:20:30Z",            # an ISO timestamp where a date is expected
        pd.Timestamp("2026-11-05 23:59"),  # already a datetime
        "2026/11/06",                      # odd formats still go through the per-value parser
        None, np.nan,                      # missing stays missing
        "not a date",                      # unparseable -> NaT, which the loader quarantines
    ], dtype=object)

    cast = _cast(values, "date")

    expected = values.map(_parse_date, na_action="ignore").astype("datetime64[us]").dt.normalize()
    pd.testing.assert_series_equal(cast, expected)
    assert list(cast[:6].dt.day) == [1, 2, 3, 4, 5, 6]
    assert cast[6:].isna().all()


def test_timestamps_from_every_format_the_sources_send():
    values = pd.Series([
        "2026-11-01T10:20:30.000+0000",    # Salesforce
        "2026-11-01T10:20:30.123Z",        # HubSpot
        "2026-11-01T19:20:30+09:00",       # Freshdesk / KARTE with an offset
        1793528430000,                     # HubSpot email events: epoch milliseconds
        "1793528430000",
        None,
        "yesterday",
    ], dtype=object)

    cast = _cast(values, "timestamp")

    expected = values.map(parse_timestamp, na_action="ignore").astype("datetime64[us]")
    pd.testing.assert_series_equal(cast, expected)
    assert cast[0] == cast[2] == pd.Timestamp("2026-11-01 10:20:30")
    assert cast[5:].isna().all()
