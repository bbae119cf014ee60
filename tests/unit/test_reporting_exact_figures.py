"""Reporting's figures computed in integers give exactly what the Decimal arithmetic gave
(issue 5: the national views' Python cut): the same values, types and JSON, at halves,
near them and at random, and the indexed denominators answer as ``denominator_for``."""
import datetime as dt
import json
import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from services.reporting.domain import figures


# -- the code as it was before (fc3a2e7), Decimal throughout ----------------------------

def old_rounded(value, places=1):
    return float(Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def old_coverage_rate(participants, denominator):
    if not denominator:
        return None
    return old_rounded(Decimal(participants) * 100 / Decimal(denominator), 2)


def old_target_progress(target, achieved, starts_on, ends_on, as_of, whole=True, baseline=0):
    target, achieved, base = Decimal(str(target)), Decimal(str(achieved)), Decimal(str(baseline))
    total_days = (ends_on - starts_on).days + 1
    elapsed = min(max((as_of - starts_on).days + 1, 0), total_days)
    expected = base + (target - base) * elapsed / total_days
    projected = base + (achieved - base) * total_days / elapsed if elapsed else base
    shown = (lambda v: int(v.quantize(Decimal(1), rounding=ROUND_HALF_UP))) if whole \
        else (lambda v: old_rounded(v, 2))
    return {"percent": old_rounded(achieved * 100 / target, 1),
            "remaining": shown(max(target - achieved, Decimal(0))),
            "expected_by_now": shown(expected), "on_pace": projected >= target,
            "elapsed_days": elapsed, "total_days": total_days}


def same(new, old):
    """Equal values of the same types, and the same JSON."""
    assert json.dumps(new) == json.dumps(old)
    if isinstance(new, dict):
        assert {k: type(v) for k, v in new.items()} == {k: type(v) for k, v in old.items()}
    else:
        assert type(new) is type(old)
    assert new == old


# -- coverage rates ----------------------------------------------------------------------

def rate_cases():
    rng = random.Random(5)
    cases = [(0, 1), (1, 3), (2, 3), (5, 10_000), (15, 100_000), (125, 1_000_000), (1, 8),
             (22_000_000, 48_780_488), (142_911, 667_808), (9_200_000, 101_300_000),
             (10 ** 10 - 1, 10 ** 10 - 1), (10 ** 10, 3), (3, 10 ** 10), (7, 10 ** 12),
             (-5, 1000), (-1, 3_000_000), (10, -7), (True, 3), (5, 0), (5, None)]
    for _ in range(3000):
        denominator = rng.choice([rng.randrange(1, 1000), rng.randrange(1, 10 ** 8),
                                  rng.randrange(1, 10 ** 10)])
        cases.append((rng.randrange(0, denominator * 2), denominator))
    for _ in range(2000):  # exactly at a half of a hundredth of a percent, and one either side
        # participants * 10000 / denominator = q + 0.5 with denominator = 20000 m: (2q + 1) m
        m, q = rng.randrange(1, 5000), rng.randrange(0, 20_000)
        participants, denominator = (2 * q + 1) * m, 20_000 * m
        cases += [(participants - 1, denominator), (participants, denominator),
                  (participants + 1, denominator)]
    for _ in range(500):
        cases.append((Decimal(rng.randrange(0, 10 ** 6)), Decimal(rng.randrange(1, 10 ** 7))))
    return cases


def test_a_coverage_rate_is_what_decimal_gave():
    for participants, denominator in rate_cases():
        same(figures.coverage_rate(participants, denominator),
             old_coverage_rate(participants, denominator))


def test_halves_are_rounded_up_and_a_negative_zero_stays():
    assert figures.coverage_rate(1, 8) == 12.5
    assert figures.coverage_rate(1, 80_000) == 0.0  # 0.00125 %
    assert figures.coverage_rate(1, 20_000) == 0.01  # 0.005 % -> 0.01 (half up)
    assert json.dumps(figures.coverage_rate(-1, 3_000_000)) == "-0.0"


# -- target progress ---------------------------------------------------------------------

def progress_cases():
    rng = random.Random(6)
    year = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    cases = [(107_895, 66_895, *year, dt.date(2026, 11, 22), True, 0),
             (107_895, 66_895, *year, dt.date(2026, 6, 1), True, 0),
             (107_895, 120_000, *year, dt.date(2026, 12, 31), True, 0),
             (365, 0, *year, dt.date(2025, 12, 1), True, 0),  # not begun: nothing elapsed
             (365, 0, *year, dt.date(2026, 1, 1), True, 0),
             (730, 1, *year, dt.date(2026, 1, 1), True, 0),  # expected 2, on pace exactly
             (2, 1, dt.date(2026, 1, 1), dt.date(2026, 1, 4), dt.date(2026, 1, 2), True, 0),
             (3, 1, dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 1), True, 0),
             (Decimal("1200"), 17, *year, dt.date(2026, 3, 3), True, 0),
             (Decimal("1200.00"), 17, *year, dt.date(2026, 3, 3), True, 0),
             (Decimal("1200.5"), 17, *year, dt.date(2026, 3, 3), True, 0),
             (10 ** 10, 17, *year, dt.date(2026, 3, 3), True, 0),
             (95, 92.57, *year, dt.date(2026, 11, 23), False, 91.3),
             (45, 43.21, *year, dt.date(2026, 11, 23), False, 40),
             (35, 21.4, *year, dt.date(2026, 11, 23), False, 0)]
    for _ in range(4000):
        first = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
        last = first + dt.timedelta(days=rng.choice([0, 1, 6, 29, 30, rng.randrange(400)]))
        as_of = first + dt.timedelta(days=rng.randrange(-10, (last - first).days + 10))
        target = rng.choice([1, 2, 3, 7, rng.randrange(1, 1000), rng.randrange(1, 10 ** 7)])
        achieved = rng.choice([0, target, target - 1, target + 1, rng.randrange(0, 2 * target + 2)])
        cases.append((target, max(achieved, 0), first, last, as_of, True, 0))
    for _ in range(1000):  # percent at a half of a tenth: achieved (2q + 1) m, target 2000 m
        m, q = rng.randrange(1, 500), rng.randrange(0, 3000)
        for achieved in ((2 * q + 1) * m - 1, (2 * q + 1) * m, (2 * q + 1) * m + 1):
            cases.append((2000 * m, max(achieved, 0), *year,
                          dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365)), True, 0))
    for _ in range(1000):  # expected exactly at a half: target * elapsed / total = k + 0.5
        total = rng.choice([2, 4, 10, 30, 366])
        elapsed = rng.randrange(1, total + 1)
        for target in range(1, 40):
            if (2 * target * elapsed) % total == 0 and (2 * target * elapsed // total) % 2 == 1:
                first = dt.date(2026, 1, 1)
                cases.append((target, rng.randrange(0, 2 * target), first,
                              first + dt.timedelta(days=total - 1),
                              first + dt.timedelta(days=elapsed - 1), True, 0))
                break
    for _ in range(300):
        target = Decimal(rng.randrange(1, 10 ** 6))
        cases.append((target, rng.randrange(0, 10 ** 6), *year,
                      dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365)), True, 0))
    return cases


def test_target_progress_is_what_decimal_gave():
    for target, achieved, first, last, as_of, whole, baseline in progress_cases():
        same(figures.target_progress(target, achieved, first, last, as_of, whole, baseline),
             old_target_progress(target, achieved, first, last, as_of, whole, baseline))


def test_expected_by_now_rounds_a_half_up():
    # 3 over 2 days, 1 day elapsed: 1.5 expected, shown 2
    progress = figures.target_progress(3, 1, dt.date(2026, 1, 1), dt.date(2026, 1, 2),
                                       dt.date(2026, 1, 1))
    assert progress["expected_by_now"] == 2 and progress["percent"] == 33.3


# -- denominators ------------------------------------------------------------------------

def test_indexed_denominators_answer_as_denominator_for():
    rows = [
        {"province_code": "VN", "year": 2025, "working_age_labour_force": 48780488,
         "source": "VSS", "verify": True},
        {"province_code": "VN", "year": 2024, "population": 101300000, "source": "GSO"},
        {"province_code": "42", "year": 2023, "working_age_labour_force": 600000, "source": "old"},
        {"province_code": "42", "year": 2024, "working_age_labour_force": 667808, "source": "news"},
        {"province_code": "79", "year": 2026, "population": 0, "source": "zero"},
    ]
    index = figures.Denominators(rows)
    for province in ("VN", "42", "79", "17"):
        for scheme in figures.SCHEMES + ("other",):
            for year in (2020, 2023, 2024, 2025, 2026):
                day = dt.date(year, 6, 30)
                assert index.of(province, scheme, day) == \
                    figures.denominator_for(rows, province, scheme, day)
                assert index.of(province, scheme, day) == \
                    figures.denominator_for(rows, province, scheme, day)  # kept, the same


@pytest.mark.parametrize("value", [0, 1, 10 ** 10 - 1, Decimal(5), Decimal("5.0")])
def test_whole_values_in_range_take_the_integer_path(value):
    assert figures._exact(value)


@pytest.mark.parametrize("value", [-1, 10 ** 10, 1.0, True, Decimal("5.5"), Decimal("NaN"), None])
def test_other_values_keep_decimal(value):
    assert not figures._exact(value)
