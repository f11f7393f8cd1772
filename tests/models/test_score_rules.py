"""The rules in seeds/health_score_settings.csv hold on every day of the score
history: a score is shown only with enough of its weight behind it, and a band
changes only after the score has been clearly inside the new band for some days,
so that a band change (a CRM field change, a play's trigger) means something."""

import pandas as pd
import pytest

SCORES = ["usage_health", "renewal_likelihood"]
BANDS = ("green", "yellow", "red")


def settings(built) -> pd.DataFrame:
    return built.query("select * from seeds.health_score_settings").set_index("score_name")


def cut_offs(built, score) -> tuple[int, int]:
    bands = built.query(f"select band, min_score from seeds.health_score_bands where score_name = '{score}'")
    by_band = dict(zip(bands["band"], bands["min_score"]))
    return by_band["green"], by_band["yellow"]


@pytest.mark.parametrize("score", SCORES)
def test_a_score_without_enough_weight_behind_it_shows_insufficient_data(built, score):
    minimum = settings(built).loc[score, "min_weight_share"]
    rows = built.query(f"select {score}_score as score, {score}_band as band, {score}_weight_share as share "
                       "from marts.health_score_history")
    thin = rows[rows["share"].isna() | (rows["share"] < minimum)]
    assert len(thin) > 0, "the sample has accounts with too little data on some days"
    assert thin["score"].isna().all() and (thin["band"] == "insufficient_data").all()
    shown = rows[rows["share"] >= minimum]
    assert shown["score"].notna().all() and shown["band"].isin(BANDS).all()


@pytest.mark.parametrize("score", SCORES)
def test_a_band_changes_only_after_the_score_stayed_clearly_in_the_new_band(built, score):
    rules = settings(built).loc[score]
    margin, days = int(rules["band_margin_points"]), int(rules["band_confirm_days"])
    assert margin > 0 and days > 1, "the shipped settings have hysteresis"
    green, yellow = cut_offs(built, score)
    history = built.query(
        f"select account_id, score_date, {score}_score as score, {score}_band as band "
        f"from marts.health_score_history order by account_id, score_date")

    def clearly_in(value, band) -> bool:
        if pd.isna(value):
            return False
        return {"green": value >= green + margin,
                "yellow": yellow + margin <= value < green - margin,
                "red": value < yellow - margin}[band]

    changes = 0
    for _, account in history.groupby("account_id"):
        bands, values = account["band"].tolist(), account["score"].tolist()
        for i in range(1, len(bands)):
            if bands[i] != bands[i - 1] and bands[i] in BANDS and bands[i - 1] in BANDS:
                changes += 1
                window = values[max(0, i - days + 1):i + 1]
                assert len(window) == days and all(clearly_in(v, bands[i]) for v in window), (
                    f"{account['account_id'].iloc[0]} {account['score_date'].iloc[i]}: "
                    f"{bands[i - 1]} -> {bands[i]} after scores {window}")
    assert changes > 0


def test_bands_do_not_flap(built):
    """Share of accounts whose usage band changed 4 or more times in the last 90 days
    (before hysteresis: about a fifth of them)."""
    flapping = built.query("""
        with days as (
            select account_id, score_date, usage_health_band as band,
                lag(usage_health_band) over (partition by account_id order by score_date) as previous
            from marts.health_score_history
        )
        select account_id, count(*) as changes
        from days
        where band <> previous and band <> 'insufficient_data' and previous <> 'insufficient_data'
          and score_date > (select max(score_date) - 90 from days)
        group by 1
        having count(*) >= 4""")
    accounts = built.query("select count(distinct account_id) as n from marts.health_score_history")["n"][0]
    assert len(flapping) <= 0.02 * accounts, flapping
