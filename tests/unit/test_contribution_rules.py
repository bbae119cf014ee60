"""Household HI and voluntary SI, with the figures of the domain reference."""
import datetime as dt
import pytest

from services.enrolment.domain import REFERENCE_FILE
from services.enrolment.domain.contributions import RuleViolation, household_hi, voluntary_si
from shared.money import vnd
from shared.reference import OutOfRange, ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
JAN_2025, AUG_2025 = dt.date(2025, 1, 15), dt.date(2025, 8, 1)


def test_household_tiers_at_a_base_salary_of_2_340_000():
    quote = household_hi(REFERENCE, 6, 12, dt.date(2025, 1, 1)).amounts
    assert [m["monthly"] for m in quote["members"]] == [105300, 73710, 63180, 52650, 42120, 42120]
    assert quote["members"][0]["total"] == 105300 * 12
    assert quote["total"] == (105300 + 73710 + 63180 + 52650 + 42120 * 2) * 12


def test_first_household_member_pays_4_5_percent_of_the_base_salary_of_the_day():
    assert household_hi(REFERENCE, 1, 3, dt.date(2024, 6, 30)).amounts["members"][0]["monthly"] == 81000
    assert household_hi(REFERENCE, 1, 3, dt.date(2026, 7, 1)).amounts["members"][0]["monthly"] == 113850


@pytest.mark.parametrize("members,months,field", [(0, 12, "member_count"), (2, 1, "months"),
                                                  (True, 3, "member_count")])
def test_household_quote_refuses_what_the_rules_do_not_allow(members, months, field):
    with pytest.raises(RuleViolation) as err:
        household_hi(REFERENCE, members, months, JAN_2025)
    assert field in err.value.reasons


@pytest.mark.parametrize("group,support", [("poor", 99000), ("near_poor", 82500),
                                           ("ethnic_minority", 33000), ("other", 33000)])
def test_voluntary_support_before_1_july_2025(group, support):
    quote = voluntary_si(REFERENCE, 1500000, 1, group, JAN_2025).amounts
    assert quote["monthly_gross"] == 330000
    assert quote["monthly_state_support"] == support
    assert quote["monthly_payable"] == 330000 - support


@pytest.mark.parametrize("group,support", [("poor", 165000), ("near_poor", 132000),
                                           ("ethnic_minority", 99000), ("other", 66000)])
def test_voluntary_support_from_1_july_2025(group, support):
    quote = voluntary_si(REFERENCE, 5000000, 12, group, AUG_2025).amounts
    assert quote["monthly_gross"] == 1100000
    assert quote["monthly_state_support"] == support
    assert quote["total_payable"] == (1100000 - support) * 12


@pytest.mark.parametrize("income,months,group,field", [
    (1499999, 1, "other", "declared_income"),
    (20 * 2340000 + 1, 1, "other", "declared_income"),
    (2000000, 2, "other", "months"),
    (2000000, 1, "rich", "support_group"),
    ("2000000", 1, "other", "declared_income"),
])
def test_voluntary_quote_refuses_what_the_rules_do_not_allow(income, months, group, field):
    with pytest.raises(RuleViolation) as err:
        voluntary_si(REFERENCE, income, months, group, AUG_2025)
    assert list(err.value.reasons) == [field]


def test_the_explanation_cites_the_rules_used():
    lines = voluntary_si(REFERENCE, 1500000, 1, "poor", AUG_2025).explanation
    assert any("Decree 159/2025/NĐ-CP" in line for line in lines)
    assert any("Decree 73/2024/NĐ-CP" in line or "poverty line" in line for line in lines)


def test_reference_data_reaches_back_to_1993_and_refuses_earlier_dates():
    assert REFERENCE.value("base_salary", dt.date(1993, 1, 1)) == 120000
    assert REFERENCE.value("base_salary", dt.date(2005, 9, 30)) == 290000
    assert REFERENCE.value("base_salary", dt.date(2005, 10, 1)) == 350000
    assert REFERENCE.rule("base_salary", dt.date(2026, 7, 1)).verify
    with pytest.raises(OutOfRange):
        REFERENCE.rule("base_salary", dt.date(1992, 12, 31))


def test_regional_minimum_wages_change_on_their_dates():
    assert REFERENCE.value("regional_minimum_wage", dt.date(2025, 12, 31))["1"] == 4960000
    assert REFERENCE.value("regional_minimum_wage", dt.date(2026, 1, 1))["4"] == 3700000


@pytest.mark.parametrize("amount,expected", [("0.5", 1), ("1.4999", 1), ("105300.0", 105300),
                                             ("73709.5", 73710), ("-0.5", -1)])
def test_money_rounds_half_away_from_zero_to_the_dong(amount, expected):
    assert vnd(amount) == expected


def test_state_support_stops_after_120_supported_months_in_a_lifetime():
    # 22% of 1,500,000 = 330,000 gross; poor from Aug 2025: 165,000 support a month
    fresh = voluntary_si(REFERENCE, 1500000, 12, "poor", AUG_2025).amounts
    assert (fresh["supported_months"], fresh["total_payable"]) == (12, 165000 * 12)
    nearly = voluntary_si(REFERENCE, 1500000, 12, "poor", AUG_2025, support_months_used=115).amounts
    assert nearly["supported_months"] == 5
    assert nearly["total_payable"] == 165000 * 5 + 330000 * 7
    spent = voluntary_si(REFERENCE, 1500000, 3, "poor", AUG_2025, support_months_used=120).amounts
    assert (spent["supported_months"], spent["total_payable"]) == (0, 330000 * 3)
