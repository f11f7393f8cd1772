"""The time frame of a data set: every date and timestamp is derived from `as_of`.

Timestamps are handled as int64 epoch seconds (UTC) and days as int64 epoch days,
so that whole columns can be drawn and shifted with numpy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DAY = 86_400
HOUR = 3_600
_EPOCH = dt.date(1970, 1, 1)


def epoch_day(day: dt.date) -> int:
    return (day - _EPOCH).days


def to_date(epoch_days: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(epoch_days))


def add_years(day: dt.date, years: int) -> dt.date:
    """Same day `years` later or earlier; 29 February becomes the 28th in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Window:
    """`days` days of history ending the day before `as_of`.

    "Now" is as_of 00:00 UTC: no record is stamped at or after it, so a data set
    generated for a date reads as a complete export taken at the start of that day.
    Dates in the future (renewals, due dates) are still allowed.
    """

    as_of: dt.date
    days: int

    @property
    def end_day(self) -> int:
        """Epoch day of as_of: the first day after the history."""
        return epoch_day(self.as_of)

    @property
    def start_day(self) -> int:
        return self.end_day - self.days

    @property
    def now(self) -> int:
        return self.end_day * DAY

    @property
    def start(self) -> int:
        return self.start_day * DAY

    def day_index(self, ts: np.ndarray) -> np.ndarray:
        """Index into the history's days (0 = first day) of epoch-second timestamps."""
        return np.asarray(ts, dtype=np.int64) // DAY - self.start_day

    def weekdays(self) -> np.ndarray:
        """Weekday (Monday = 0) of each day of the history; 1970-01-01 was a Thursday."""
        return (np.arange(self.start_day, self.end_day) + 3) % 7
