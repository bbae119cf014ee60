"""Lump-sum SI: who may take it on which date, and how much."""
import datetime as dt

import pytest

from services.benefits.domain import REFERENCE_FILE
from services.benefits.domain.history import ContributionMonth, Person, add_months
from services.benefits.domain.lump_sum import lump_sum, months_since_last_contribution
from shared.reference import ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
WOMAN = Person("female", dt.date(1985, 2, 14))
MAN_1963 = Person("male", dt.date(1963, 4, 2))  # reached retirement age (61) in April 2024
AUG_2025, MAY_2025 = dt.date(2025, 8, 1), dt.date(2025, 5, 1)


def career(count, wage=6_000_000, start=dt.date(2000, 1, 1), kind="compulsory"):
    return [ContributionMonth(add_months(start, i), kind, wage) for i in range(count)]


@pytest.mark.parametrize("months,amount", [
    # 100 months before 2014 (8 years + 4 odd months moved on) and 50 after: 54 months = 4.5 years;
    # 1.5 × 8 + 2 × 4.5 = 21 months of wage
    (career(100, start=dt.date(2005, 9, 1)) + career(50, start=dt.date(2014, 1, 1)), 126_000_000),
    (career(67, start=dt.date(2015, 1, 1)), 72_000_000),     # 5 years 7 months = 6 years × 2
    (career(61, start=dt.date(2015, 1, 1)), 66_000_000),     # 5 years 1 month = 5.5 years × 2
    (career(15, start=dt.date(2012, 1, 1)), 15_000_000),     # 1 year × 1.5 + 3 months moved: 0.5 × 2
    (career(8, 5_000_000, dt.date(2024, 1, 1)), 8_800_000),  # under a year: 22% of 40,000,000
    (career(11, 5_000_000, dt.date(2024, 1, 1)), 10_000_000),  # 22% of 55,000,000, at most 2 months
])
def test_lump_sum_counts_1_5_months_a_year_before_2014_and_2_from_2014(months, amount):
    decision = lump_sum(REFERENCE, WOMAN, months, AUG_2025, "settling_abroad")
    assert decision.status == "approved", decision.reasons
    assert decision.lump_sum_amount == amount
    assert decision.monthly_amount is None and decision.start_month is None


def test_the_lump_sum_explains_the_moved_odd_months():
    months = career(100, start=dt.date(2005, 9, 1)) + career(50, start=dt.date(2014, 1, 1))
    text = "\n".join(lump_sum(REFERENCE, WOMAN, months, AUG_2025, "settling_abroad").explanation)
    assert "100 months before 2014-01-01: 8 whole years" in text
    assert "the 4 odd months move to the part from 2014-01-01" in text
    assert "1.5 × 8 + 2 × 4.5 = 21 months × 6,000,000 = 126,000,000 VND" in text


@pytest.mark.parametrize("person,months,claim,reason,lost,status", [
    (MAN_1963, career(204), MAY_2025, "retirement_age", None, "approved"),   # under 20 years
    (MAN_1963, career(204), AUG_2025, "retirement_age", None, "rejected"),   # 15+: a pension instead
    (MAN_1963, career(144), AUG_2025, "retirement_age", None, "approved"),
    (WOMAN, career(144), AUG_2025, "retirement_age", None, "rejected"),      # not yet 56
    (WOMAN, career(144), MAY_2025, "serious_illness", None, "approved"),
    (WOMAN, career(144), AUG_2025, "serious_illness", None, "approved"),
    (WOMAN, career(144), AUG_2025, "lost_capacity", 85, "approved"),
    (WOMAN, career(144), AUG_2025, "lost_capacity", 70, "rejected"),
    (WOMAN, career(144), MAY_2025, "lost_capacity", 85, "rejected"),         # not a reason before
    (WOMAN, career(120), AUG_2025, "out_of_system", None, "approved"),       # last month 2009-12
    (WOMAN, career(240), AUG_2025, "out_of_system", None, "rejected"),       # 20 years
    (WOMAN, career(12, start=dt.date(2024, 8, 1)), AUG_2025, "out_of_system", None, "rejected"),
    (WOMAN, career(12, start=dt.date(2025, 7, 1)), dt.date(2027, 8, 1), "out_of_system", None,
     "rejected"),                                                            # only contributed after
])
def test_who_may_take_a_lump_sum_depends_on_the_claim_date(person, months, claim, reason, lost, status):
    decision = lump_sum(REFERENCE, person, months, claim, reason, lost)
    assert decision.status == status, decision.explanation
    if status == "rejected":
        assert decision.reasons[0].startswith("not_eligible: ")


def test_months_out_of_the_system_run_from_the_last_contribution_to_the_claim():
    months = career(12, start=dt.date(2023, 7, 1))
    assert months_since_last_contribution(months, dt.date(2025, 7, 10)) == 12
    assert lump_sum(REFERENCE, WOMAN, months, dt.date(2025, 7, 10), "out_of_system").status == "approved"
    assert lump_sum(REFERENCE, WOMAN, months, dt.date(2025, 7, 10), "out_of_system",
                    months_out_of_system=11).status == "rejected"


def test_an_unknown_reason_or_no_months_is_refused_with_its_code():
    assert lump_sum(REFERENCE, WOMAN, career(12), AUG_2025, "bored").reasons[0].startswith("invalid_reason")
    assert lump_sum(REFERENCE, WOMAN, [], AUG_2025, "settling_abroad").reasons[0].startswith(
        "insufficient_contributions")


def test_voluntary_months_say_that_state_support_is_not_deducted():
    months = career(24, 3_000_000, dt.date(2020, 1, 1), "voluntary_si")
    decision = lump_sum(REFERENCE, WOMAN, months, AUG_2025, "settling_abroad")
    assert decision.lump_sum_amount == 12_000_000
    assert "state support" in decision.explanation[-1]


def test_a_lump_sum_claimed_before_2016_is_not_in_the_data():
    decision = lump_sum(REFERENCE, WOMAN, career(24), dt.date(2015, 6, 1), "settling_abroad")
    assert decision.reasons[0].startswith("rules_not_in_data: ")
