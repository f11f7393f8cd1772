"""Past renewal decisions with known causes: who renewed, churned or downgraded
inside the history, and why. They give the score lab (dbt models score_backtest,
score_surprises) a ground truth to be tested against.

Every population account (no story) whose previous annual contract ended inside the
history, at least MIN_LEAD_DAYS after its first day, made a renewal decision then:
scores from 30 days before it exist. Most renew, some churn, some downgrade:

- churned: no contract after the one that ended, a Closed Lost renewal opportunity,
  product status `churned`, and no usage from a few days after the contract ended;
- downgraded: the renewal was won at a lower ARR (the earlier contracts were larger);
  chosen among the accounts that use few of their plan's seats (cause `plan_fit`);
- renewed: as before.

Why churners churned depends on the run's `churn_cause` (generator option):

- `relationship` (default): warnings in what renewal likelihood measures: detractor
  NPS answers, an "At Risk"/"Concerned" CSM impression and resolved escalations in
  the weeks before the decision. One in five churners instead left for a reason no
  tool records (cause `budget_cut`) while every signal looked good (promoter NPS, a
  "Good" impression): the planted "churned while green" surprises. A few renewers
  show the relationship warnings and renew anyway (cause `rescued`): the planted
  "renewed while red" surprises.
- `usage`: churners' usage fades over the weeks before the decision (cause
  `usage_fade`); nothing renewal likelihood measures is touched, so it cannot see
  the churn coming while usage health can.
- `unobserved`: churners are chosen at random and nothing in the data hints at it.

The planted records are drawn from their own random streams and added after the
population's draws, so every other account's records stay as they were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from devkit.sample_data.window import Window, add_years, epoch_day, to_date

CHURN_CAUSES = ("relationship", "usage", "unobserved")
RENEWED, CHURNED, DOWNGRADED = "renewed", "churned", "downgraded"

MIN_LEAD_DAYS = 30  # a decision needs 30 days of scores before it
CHURN_SHARE = 0.25  # of the decisions inside the history
DOWNGRADE_SHARE = 0.15
SURPRISE_CHURN_SHARE = 0.2  # relationship runs: churners who left while everything looked good
RESCUED_SHARE = 0.1  # relationship runs: renewers who showed the warnings
DOWNGRADE_FROM = (1.25, 1.6)  # earlier contracts' ARR, as a multiple of the downgraded one
OFFBOARDING_DAYS = (0, 7)  # usage stops this many days after the contract ended
WARNING_DAYS_BEFORE = (35, 85)  # planted NPS answers, impressions, escalations: days before the decision
WARNING_NPS = (0, 4)
GOOD_NPS = (9, 10)
NPS_ANSWERS = 3
ESCALATIONS = (1, 2)
FADE_DAYS_BEFORE = (75, 20)  # usage_fade: usage falls linearly between these days before the decision ...
FADE_FLOOR = 0.3  # ... to this share of its normal level


@dataclass(frozen=True)
class Renewals:
    """The renewal decision of each account inside the history ("" for none)."""

    churn_cause: str
    decision_day: np.ndarray  # epoch day of the ended contract's EndDate, -1 for none
    outcome: list[str]  # RENEWED, CHURNED, DOWNGRADED or ""
    cause: list[str | None]  # why, for the planted ones
    offboarded_day: np.ndarray  # churners: epoch day of their last usage
    arr_uplift: np.ndarray  # downgraders: earlier contracts' ARR / the downgraded ARR

    def is_churned(self, account: int) -> bool:
        return self.outcome[account] == CHURNED

    def warnings(self, account: int) -> bool:
        """The relationship warnings are planted before this account's decision."""
        return self.cause[account] in ("relationship", "rescued")

    def looks_good(self, account: int) -> bool:
        return self.cause[account] == "budget_cut"

    def arr_before(self, account: int, arr: float) -> float:
        """ARR of the contracts before the decision."""
        return round(arr * float(self.arr_uplift[account]), 2) if self.outcome[account] == DOWNGRADED else arr


def previous_end_day(renewal_day: int) -> int:
    """Epoch day on which the contract before the current one ended."""
    current_start = add_years(to_date(renewal_day), -1) + dt.timedelta(days=1)
    return epoch_day(current_start) - 1


def draw(rng: np.random.Generator, churn_cause: str, story: np.ndarray, tenure: np.ndarray,
         renewal_day: np.ndarray, seat_ratio: np.ndarray, window: Window) -> Renewals:
    if churn_cause not in CHURN_CAUSES:
        raise ValueError(f"churn_cause must be one of {', '.join(CHURN_CAUSES)}, got {churn_cause!r}")
    n = len(story)
    ended = np.array([previous_end_day(int(d)) for d in renewal_day.tolist()], dtype=np.int64)
    eligible = np.flatnonzero((story < 0) & (tenure >= 1) & (ended - window.start_day >= MIN_LEAD_DAYS)
                              & (ended < window.end_day))
    decision_day = np.full(n, -1, dtype=np.int64)
    decision_day[eligible] = ended[eligible]
    outcome, cause = [""] * n, [None] * n
    for a in eligible.tolist():
        outcome[a] = RENEWED

    order = rng.permutation(eligible)
    n_churn = round(CHURN_SHARE * len(eligible))
    churners, rest = order[:n_churn], order[n_churn:]
    # Downgrades: among the remaining accounts using the fewest of their seats.
    n_down = round(DOWNGRADE_SHARE * len(eligible))
    low_fit = rest[np.argsort(seat_ratio[rest], kind="stable")][:max(2 * n_down, 1)]
    downgraders = rng.permutation(low_fit)[:n_down]
    renewers = np.setdiff1d(rest, downgraders)
    for a in churners.tolist():
        outcome[a] = CHURNED
        cause[a] = {"relationship": "relationship", "usage": "usage_fade", "unobserved": "unobserved"}[churn_cause]
    for a in downgraders.tolist():
        outcome[a], cause[a] = DOWNGRADED, "plan_fit"
    if churn_cause == "relationship":
        surprises = churners[:max(1, round(SURPRISE_CHURN_SHARE * len(churners)))] if len(churners) > 1 else []
        for a in list(surprises):
            cause[a] = "budget_cut"
        rescued = rng.permutation(renewers)[:max(1, round(RESCUED_SHARE * len(renewers)))] if len(renewers) else []
        for a in list(rescued):
            cause[a] = "rescued"
    offboarded = decision_day + rng.integers(OFFBOARDING_DAYS[0], OFFBOARDING_DAYS[1] + 1, size=n)
    offboarded = np.minimum(offboarded, window.end_day - 1)
    uplift = rng.uniform(*DOWNGRADE_FROM, size=n)
    return Renewals(churn_cause=churn_cause, decision_day=decision_day, outcome=outcome, cause=cause,
                    offboarded_day=np.where(decision_day >= 0, offboarded, -1), arr_uplift=uplift)


def warning_days(rng: np.random.Generator, decision_day: int, size: int, window: Window,
                 not_before: int) -> np.ndarray:
    """Epoch days for planted signals, WARNING_DAYS_BEFORE a decision, inside the history."""
    days = decision_day - rng.integers(WARNING_DAYS_BEFORE[0], WARNING_DAYS_BEFORE[1] + 1, size=size)
    return np.clip(days, max(window.start_day, not_before), window.end_day - 1)


def usage_factor(renewals: Renewals, lo: int, hi: int, window: Window) -> np.ndarray | None:
    """Share of each account's drawn usage that is kept per day, shape (accounts, days);
    None when no account of the chunk is touched."""
    day = window.start_day + np.arange(window.days)
    factor = np.ones((hi - lo, window.days))
    touched = False
    for c, a in enumerate(range(lo, hi)):
        if renewals.outcome[a] != CHURNED:
            continue
        touched = True
        decision = int(renewals.decision_day[a])
        if renewals.cause[a] == "usage_fade":
            start, end = decision - FADE_DAYS_BEFORE[0], decision - FADE_DAYS_BEFORE[1]
            factor[c] = 1 - (1 - FADE_FLOOR) * np.clip((day - start) / (end - start), 0, 1)
        factor[c, day > renewals.offboarded_day[a]] = 0.0
    return factor if touched else None


def thin_usage(factor: np.ndarray, active: np.ndarray, events: np.ndarray, session: int,
               rng: np.random.Generator) -> None:
    """Keep `factor` of each day's active users (in place); features never exceed the day's
    active users, and events shrink with the users who made them."""
    keep = factor[:, :, None]
    rows = np.flatnonzero((factor < 1).any(axis=1))
    if not len(rows):
        return
    old = active[rows]
    new = rng.binomial(old, np.broadcast_to(keep[rows], old.shape))
    new = np.minimum(new, new[:, :, session:session + 1])
    extra = events[rows] - old
    events[rows] = np.where(old > 0, new + (extra * new) // np.maximum(old, 1), 0)
    active[rows] = new


def ground_truth(account_ids: list[str], renewals: Renewals) -> dict:
    decisions = {
        account_ids[a]: {"renewal_date": to_date(int(renewals.decision_day[a])).isoformat(),
                         "outcome": renewals.outcome[a], "cause": renewals.cause[a]}
        for a in np.flatnonzero(renewals.decision_day >= 0).tolist()}
    return {"churn_cause": renewals.churn_cause, "renewal_decisions": decisions,
            "churned": sorted(a for a, d in decisions.items() if d["outcome"] == CHURNED),
            "churned_while_healthy": sorted(a for a, d in decisions.items() if d["cause"] == "budget_cut"),
            "renewed_despite_warnings": sorted(a for a, d in decisions.items() if d["cause"] == "rescued")}
