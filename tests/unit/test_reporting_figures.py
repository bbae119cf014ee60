"""Reporting's figures: denominators, rates, year-on-year, targets and pace, today's units."""
import datetime as dt
import random
from collections import Counter

import pytest

from services.reporting.domain import aggregates, figures
from services.reporting.queries import codes_of
from services.reporting.store import _month_after, _spans
from shared.provinces import NEW_PROVINCES, OLD_PROVINCES

DENOMINATORS = [
    {"province_code": "VN", "year": 2025, "working_age_labour_force": 48780488, "source": "VSS", "verify": True},
    {"province_code": "VN", "year": 2024, "population": 101300000, "source": "GSO"},
    {"province_code": "42", "year": 2023, "working_age_labour_force": 600000, "source": "old"},
    {"province_code": "42", "year": 2024, "working_age_labour_force": 667808, "source": "news"},
]


def test_the_national_si_rate_of_2025_is_45_1_percent_of_the_working_age_labour_force():
    denominator = figures.denominator_for(DENOMINATORS, "VN", "social_insurance", dt.date(2025, 12, 31))
    assert (denominator["kind"], denominator["value"], denominator["year"]) == (
        "working_age_labour_force", 48780488, 2025)
    assert denominator["source"].endswith("(verify)")
    assert figures.coverage_rate(22_000_000, denominator["value"]) == 45.1


def test_ha_tinh_142_911_in_si_is_21_4_percent():
    denominator = figures.denominator_for(DENOMINATORS, "42", "compulsory_si", dt.date(2025, 6, 1))
    assert denominator["year"] == 2024  # the latest figure up to the year asked
    assert figures.coverage_rate(142_911, denominator["value"]) == 21.4


def test_health_is_taken_of_the_population_and_an_unknown_figure_says_so():
    assert figures.denominator_for(DENOMINATORS, "VN", "health", dt.date(2025, 1, 1))["value"] == 101300000
    unknown = figures.denominator_for(DENOMINATORS, "17", "health", dt.date(2025, 1, 1))
    assert unknown["value"] is None and unknown["source"].startswith("not known")
    assert figures.coverage_rate(1000, None) is None
    assert figures.denominator_for(DENOMINATORS, "VN", "registered", dt.date(2025, 1, 1))["kind"] is None


def test_year_on_year_change_2_73_trillion_is_plus_13_1_percent():
    assert figures.change_percent(2_730_000_000_000, 2_413_793_103_448) == 13.1
    assert figures.change_percent(5, 0) is None


@pytest.mark.parametrize("achieved,as_of,percent,remaining,on_pace", [
    # 62% of the voluntary SI target reached, 41,000 to go (a target of 107,895)
    (66_895, dt.date(2026, 11, 22), 62.0, 41_000, False),
    (66_895, dt.date(2026, 6, 1), 62.0, 41_000, True),
    (120_000, dt.date(2026, 12, 31), 111.2, 0, True),
])
def test_target_progress_and_pace(achieved, as_of, percent, remaining, on_pace):
    progress = figures.target_progress(107_895, achieved, dt.date(2026, 1, 1), dt.date(2026, 12, 31), as_of)
    assert (progress["percent"], progress["remaining"], progress["on_pace"]) == (percent, remaining, on_pace)


def test_a_rate_target_keeps_two_decimals():
    progress = figures.target_progress(45, 43.21, dt.date(2026, 1, 1), dt.date(2026, 12, 31),
                                       dt.date(2026, 12, 31), whole=False)
    assert (progress["remaining"], progress["percent"]) == (1.79, 96.0)


@pytest.mark.parametrize("code,today", [("17", "25"), ("26", "25"), ("10", "15"), ("15", "15"),
                                        ("42", "42"), ("74", "79"), ("27", "24"), ("24", "24")])
def test_old_and_new_codes_map_to_todays_province(code, today):
    assert figures.today_unit(code) == today


def test_coverage_is_dated_from_valid_from_and_ends_the_day_after_valid_to():
    started = aggregates.dated_changes("coverage_started", {
        "valid_from": "2025-03-01", "province_code": "42", "scheme": "health"})
    ended = aggregates.dated_changes("coverage_ended", {
        "valid_to": "2025-09-30", "province_code": "42", "scheme": "health"})
    assert started == [(dt.date(2025, 3, 1), "42", "health", 1, 0, 0, 0, 0)]
    assert ended == [(dt.date(2025, 10, 1), "42", "health", 0, 1, 0, 0, 0)]


def test_a_resumed_period_and_a_move_are_no_new_participants():
    resumed = aggregates.dated_changes("coverage_started", {
        "valid_from": "2025-03-01", "province_code": "42", "scheme": "voluntary_si", "resumed": True})
    assert resumed == [(dt.date(2025, 3, 1), "42", "voluntary_si", 0, 0, 1, 0, 0)]
    moved = aggregates.dated_changes("participant_corrected", {
        "occurred_at": "2025-03-01T01:00:00+00:00", "province_code": "40",
        "previous_province_code": "42", "schemes": []})
    assert moved == [(dt.date(2025, 3, 1), "42", "registered", 0, 0, 0, 0, 1),
                     (dt.date(2025, 3, 1), "40", "registered", 0, 0, 0, 1, 0)]


def test_a_payment_run_gives_one_row_per_province_and_kind():
    body = {"period": "2024-11", "totals": [
        {"province_code": "17", "kind": "pension", "payments": 36384, "amount": 200_000_000_000}]}
    assert aggregates.payment_rows(body) == [(dt.date(2024, 11, 1), "17", "pension", 36384,
                                              200_000_000_000)]


def test_rows_sharing_a_key_are_summed_once():
    rows = [(dt.date(2025, 1, 1), "42", "health", 1, 0), (dt.date(2025, 1, 1), "42", "health", 0, 1),
            (dt.date(2025, 1, 2), "42", "health", 1, 0)]
    assert aggregates.merge_rows(rows, 3) == [(dt.date(2025, 1, 1), "42", "health", 1, 1),
                                              (dt.date(2025, 1, 2), "42", "health", 1, 0)]


def test_breakdown_counts_health_under_the_group_entered_with_and_follow_a_move():
    started = aggregates.group_deltas("coverage_started", {
        "province_code": "11", "commune_code": "12345", "scheme": "health", "group_code": "HC"})
    assert aggregates.group_deltas("coverage_started", {
        "province_code": "11", "scheme": "health", "group_code": "HC"}) == []  # an older event
    ended = aggregates.group_deltas("coverage_ended", {
        "province_code": "11", "commune_code": None, "scheme": "unemployment", "group_code": None})
    assert started == [("11", "12345", "health", "HC", 1)]
    assert ended == [("11", "", "unemployment", "", -1)]
    moved = aggregates.group_deltas("participant_corrected", {
        "province_code": "42", "commune_code": None, "previous_province_code": "11",
        "previous_commune_code": "12345", "schemes": ["health"], "health_group": "HC"})
    assert moved == [("11", "12345", "health", "HC", -1), ("42", "", "health", "HC", 1)]


def test_a_rate_target_is_paced_from_where_the_rate_stood_when_the_year_began():
    # from 39% on 1 Jan to 45% by year end: +0.2 points in January reaches 41.4% at that pace
    slow = figures.target_progress(45, 39.2, dt.date(2026, 1, 1), dt.date(2026, 12, 31),
                                   dt.date(2026, 1, 31), whole=False, baseline=39)
    assert (slow["on_pace"], slow["expected_by_now"]) == (False, 39.51)
    # +1 point in January is ahead of the 0.51 an even pace needs
    fast = figures.target_progress(45, 40, dt.date(2026, 1, 1), dt.date(2026, 12, 31),
                                   dt.date(2026, 1, 31), whole=False, baseline=39)
    assert fast["on_pace"] is True


def test_the_codes_read_for_a_province_are_exactly_those_that_map_to_it():
    every = set(OLD_PROVINCES) | set(NEW_PROVINCES) | {"VN", "99"}
    for units in [{u} for u in sorted(every)] + [{"25", "79"}, {"25", "VN"}, set()]:
        assert codes_of(units) == {c for c in every if figures.today_unit(c) in units}, units
    assert codes_of({"25"}) == {"17", "25", "26"}
    assert codes_of({"17"}) == set()  # an old code is no province of today


def test_the_month_after_a_day_even_at_the_end_of_the_calendar():
    assert _month_after(dt.date(2025, 1, 31)) == dt.date(2025, 2, 1)
    assert _month_after(dt.date(2024, 2, 29)) == dt.date(2024, 3, 1)
    assert _month_after(dt.date(2025, 12, 1)) == dt.date(2026, 1, 1)
    assert _month_after(dt.date(9999, 12, 31)) is None


def test_a_range_of_days_is_read_as_whole_months_plus_or_minus_days_covering_each_day_once():
    rng = random.Random(11)
    window = (dt.date(2023, 1, 1), dt.date(2027, 12, 31))  # every day checked in here

    def weights(first, end):
        m1, m2, runs = _spans(first, end)
        total = Counter()
        day = window[0]
        while day <= window[1]:
            if m1 is not None and day.replace(day=1) >= m1 and (m2 is None or day.replace(day=1) < m2):
                total[day] += 1
            for lo, hi, sign in runs:
                if lo <= day and (hi is None or day < hi):
                    total[day] += sign
            day += dt.timedelta(days=1)
        assert len(runs) <= 2
        return {d: n for d, n in total.items() if n}

    ranges = [(dt.date(2025, 3, 1), dt.date(2025, 4, 1)), (dt.date(2025, 3, 2), dt.date(2025, 3, 30)),
              (dt.date(2025, 3, 31), dt.date(2025, 4, 2)), (dt.date(2025, 1, 30), dt.date(2025, 11, 24)),
              (dt.date(2025, 1, 3), dt.date(2025, 11, 5)), (dt.date(2025, 6, 30), None),
              (dt.date(2025, 7, 1), None), (dt.date(2025, 7, 2), None), (dt.date(2025, 7, 29), None)]
    for _ in range(300):
        first = window[0] + dt.timedelta(days=rng.randrange(1200))
        ranges.append((first, first + dt.timedelta(days=rng.randrange(1, 300))))
    for first, end in ranges:
        last = end or window[1] + dt.timedelta(days=1)
        expected = {first + dt.timedelta(days=i): 1 for i in range((last - first).days)}
        assert weights(first, end) == expected, (first, end)
    # the calendar's last month has no month after it: read as days
    assert _spans(dt.date(9999, 12, 5), None) == (None, None, [(dt.date(9999, 12, 5), None, 1)])
    assert _spans(dt.date(9999, 11, 5), dt.date(9999, 12, 31))[2][-1][2] == 1
