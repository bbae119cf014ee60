"""Retirement age and the monthly pension, with the figures of the law and the domain reference."""
import datetime as dt
import json

import pytest

from services.benefits.domain import REFERENCE_FILE
from services.benefits.domain.history import ContributionMonth, Person, add_months
from services.benefits.domain.pension import pension, pension_rate
from services.benefits.domain.retirement import retirement_age
from services.enrolment.domain import REFERENCE_FILE as ENROLMENT_REFERENCE_FILE
from shared.reference import ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
MAN_1964 = Person("male", dt.date(1964, 5, 20))
WOMAN_1968 = Person("female", dt.date(1968, 3, 10))
SEPT_2025 = dt.date(2025, 9, 5)


def career(count, wage=10_000_000, start=dt.date(1990, 1, 1), kind="compulsory"):
    return [ContributionMonth(add_months(start, i), kind, wage) for i in range(count)]


@pytest.mark.parametrize("sex,born,years,months", [
    ("male", dt.date(1960, 12, 1), 60, 0),
    ("male", dt.date(1961, 1, 1), 60, 3), ("male", dt.date(1961, 9, 30), 60, 3),
    ("male", dt.date(1961, 10, 1), 60, 6), ("male", dt.date(1962, 6, 1), 60, 6),
    ("male", dt.date(1962, 7, 1), 60, 9), ("male", dt.date(1963, 3, 1), 60, 9),
    ("male", dt.date(1963, 4, 1), 61, 0), ("male", dt.date(1963, 12, 1), 61, 0),
    ("male", dt.date(1964, 1, 1), 61, 3), ("male", dt.date(1964, 9, 1), 61, 3),
    ("male", dt.date(1966, 3, 1), 61, 9), ("male", dt.date(1966, 4, 1), 62, 0),
    ("female", dt.date(1965, 12, 1), 55, 0), ("female", dt.date(1966, 1, 1), 55, 4),
    ("female", dt.date(1966, 9, 1), 55, 8), ("female", dt.date(1975, 1, 1), 59, 8),
    ("female", dt.date(1980, 1, 1), 60, 0),
])
def test_retirement_age_follows_decree_135_appendix_i(sex, born, years, months):
    age = retirement_age(REFERENCE, sex, born)
    assert (age.years, age.months) == (years, months)
    assert age.reached_on == add_months(born, years * 12 + months)


def test_a_man_born_may_1964_retires_at_61_years_3_months_in_september_2025():
    age = retirement_age(REFERENCE, "male", MAN_1964.date_of_birth)
    assert age.reached_on == dt.date(2025, 8, 20)
    assert age.retirement_month == dt.date(2025, 9, 1)
    sentence = age.sentence("male", MAN_1964.date_of_birth)
    assert "a man born 1964-05: 61 years 3 months" in sentence and "Decree 135/2020/NĐ-CP" in sentence


def test_retirement_age_is_reached_on_the_last_day_of_a_shorter_month():
    assert retirement_age(REFERENCE, "male", dt.date(1961, 8, 31)).reached_on == dt.date(2021, 11, 30)


@pytest.mark.parametrize("sex,month_count,as_of,rate", [
    ("female", 180, SEPT_2025, "45"),
    ("male", 360, SEPT_2025, "65"),
    ("male", 204, SEPT_2025, "42"),
    ("male", 364, SEPT_2025, "66"),   # 4 odd months: half a year
    ("male", 367, SEPT_2025, "67"),   # 7 odd months: a full year
    ("male", 420, SEPT_2025, "75"),
    ("male", 456, SEPT_2025, "75"),
    ("male", 240, dt.date(2017, 6, 1), "55"),
    ("female", 240, dt.date(2017, 6, 1), "60"),
    ("male", 240, dt.date(2018, 6, 1), "53"),
    ("male", 240, dt.date(2019, 6, 1), "51"),
    ("male", 240, dt.date(2020, 6, 1), "49"),
    ("male", 240, dt.date(2021, 6, 1), "47"),
    ("male", 240, dt.date(2022, 6, 1), "45"),
    ("female", 240, dt.date(2022, 6, 1), "55"),
])
def test_pension_rate_by_years_sex_and_year_of_retirement(sex, month_count, as_of, rate):
    assert pension_rate(REFERENCE, sex, month_count, as_of)[0] == pytest.approx(float(rate))


@pytest.mark.parametrize("person,months,claim,monthly,start", [
    (WOMAN_1968, career(180), SEPT_2025, 4_500_000, dt.date(2025, 9, 1)),
    (MAN_1964, career(180, 8_000_000) + career(180, 11_625_000, dt.date(2005, 1, 1)), SEPT_2025,
     6_378_125, dt.date(2025, 9, 1)),
    (MAN_1964, career(204), SEPT_2025, 4_200_000, dt.date(2025, 9, 1)),
    (MAN_1964, career(456), SEPT_2025, 7_500_000, dt.date(2025, 9, 1)),
    (MAN_1964, career(360), dt.date(2026, 2, 10), 6_500_000, dt.date(2026, 2, 1)),
])
def test_pension_is_the_rate_times_the_average_contribution_wage(person, months, claim, monthly, start):
    decision = pension(REFERENCE, person, months, claim)
    assert decision.status == "approved", decision.reasons
    assert (decision.monthly_amount, decision.start_month) == (monthly, start)
    assert decision.rule_period == "Law 41/2024/QH15 (from 2025-07-01)"


def test_a_man_with_30_years_explains_rate_average_and_revaluation():
    decision = pension(REFERENCE, MAN_1964, career(180, 8_000_000) + career(180, 11_625_000,
                                                                           dt.date(2005, 1, 1)), SEPT_2025)
    text = "\n".join(decision.explanation)
    assert "rate 45% for 20 years + 2% × 10 years = 65%" in text
    assert "average contribution wage 9,812,500 VND over 360 months" in text
    assert "coefficients are not in the data" in text and "Law 41/2024/QH15 Art. 66" in text


def test_the_rate_is_capped_at_75_percent():
    decision = pension(REFERENCE, MAN_1964, career(456), SEPT_2025)
    assert any("= 81%, capped at 75%" in line for line in decision.explanation)


def test_a_man_with_17_years_before_1_july_2025_has_too_few_years():
    decision = pension(REFERENCE, Person("male", dt.date(1963, 4, 2)), career(204), dt.date(2025, 3, 1))
    assert decision.status == "rejected"
    assert decision.reasons[0].startswith("insufficient_contributions: 204 months")
    assert "240 months" in decision.reasons[0]
    assert decision.rule_period == "Law 58/2014/QH13 (to 2025-06-30)"


def test_a_pension_is_not_below_the_base_salary_after_20_years_of_compulsory_contributions():
    decision = pension(REFERENCE, MAN_1964, career(240, 2_000_000), SEPT_2025)
    assert decision.monthly_amount == 2_340_000
    assert any(line.startswith("floor applied: 900,000 VND") for line in decision.explanation)


def test_no_floor_with_fewer_than_20_years_of_compulsory_contributions():
    months = career(180, 2_000_000) + career(60, 2_000_000, dt.date(2010, 1, 1), "voluntary_si")
    decision = pension(REFERENCE, MAN_1964, months, SEPT_2025)
    assert decision.monthly_amount == 900_000
    assert any(line.startswith("no floor") for line in decision.explanation)


def test_a_claim_before_retirement_age_is_refused():
    decision = pension(REFERENCE, MAN_1964, career(360), dt.date(2025, 8, 19))
    assert decision.reasons == ["below_retirement_age: retirement age is reached on 2025-08-20,"
                                " after the claim of 2025-08-19"]


def months_until(claim):
    """Monthly contributions from January 2000 to the month before the claim, at most 25 years."""
    return career(min(300, (claim.year - 2000) * 12 + claim.month - 1), start=dt.date(2000, 1, 1))


@pytest.mark.parametrize("lost,claim,status,monthly", [
    (65, dt.date(2025, 10, 1), "approved", 5_200_000),   # 1 year 9 months early: 55% - 2% - 1%
    (65, dt.date(2026, 4, 1), "approved", 5_200_000),    # 1 year 6 months early: 55% - 2% - 1%
    (65, dt.date(2026, 5, 1), "approved", 5_300_000),    # 1 year 5 months early: 55% - 2%
    (50, dt.date(2025, 10, 1), "rejected", None),        # under 61%: no early retirement
    (65, dt.date(2020, 10, 1), "rejected", None),        # 5 years 6 months early: over 5 years
    (85, dt.date(2020, 10, 1), "approved", 4_000_000),   # 81%+: up to 10 years; 51% - 11%
])
def test_early_retirement_for_reduced_capacity_costs_2_percent_a_year(lost, claim, status, monthly):
    person = Person("male", dt.date(1966, 4, 10))
    decision = pension(REFERENCE, person, months_until(claim), claim,
                       {"reason": "reduced_capacity", "lost_capacity_percent": lost})
    assert (decision.status, decision.monthly_amount) == (status, monthly), decision.explanation
    if status == "approved":
        assert decision.start_month == claim.replace(day=1)
    else:
        assert decision.reasons[0].startswith("below_retirement_age")


def test_a_claim_before_the_first_law_in_the_data_is_answered_not_guessed():
    decision = pension(REFERENCE, MAN_1964, career(360), dt.date(2015, 12, 31))
    assert decision.status == "rejected" and decision.rule_period is None
    assert decision.reasons[0].startswith("rules_not_in_data: ")


def test_a_claim_after_the_last_change_uses_the_latest_rules_and_says_so():
    decision = pension(REFERENCE, MAN_1964, career(360), dt.date(2031, 1, 1))
    assert decision.status == "approved"
    assert "no later change is in the data" in decision.explanation[0]
    assert "Law 41/2024/QH15 (from 2025-07-01)" in decision.explanation[0]


def test_no_pension_is_decided_for_a_person_who_died_before_the_claim():
    person = Person("male", dt.date(1964, 5, 20), date_of_death=dt.date(2025, 9, 1))
    assert pension(REFERENCE, person, career(360), SEPT_2025).reasons[0].startswith("deceased: ")


def test_a_month_given_twice_is_an_invalid_history():
    decision = pension(REFERENCE, MAN_1964, career(360) + career(1), SEPT_2025)
    assert decision.reasons == ["invalid_history: month 1990-01 appears twice"]


def test_a_decision_turns_into_json_friendly_values():
    data = pension(REFERENCE, MAN_1964, career(360), SEPT_2025).to_dict()
    assert data["start_month"] == "2025-09" and data["monthly_amount"] == 6_500_000
    assert json.loads(json.dumps(data)) == data


def test_pension_rates_start_at_or_below_the_minimum_years_of_their_day():
    for row in REFERENCE.history("pension_rate"):
        minimum = REFERENCE.value("pension_minimum_years", row.valid_from)
        assert all(min(b["base_years"] for b in bands) <= minimum
                   for sex, bands in row.value.items() if sex != "max_percent")


def test_benefits_keep_the_same_base_salary_and_minimum_wages_as_enrolment():
    enrolment = json.loads(ENROLMENT_REFERENCE_FILE.read_text(encoding="utf-8"))["parameters"]
    benefits = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))["parameters"]
    for name in ("base_salary", "regional_minimum_wage"):
        assert benefits[name] == enrolment[name]
