"""Unemployment benefit: who qualifies, how much, for how long."""
import datetime as dt

import pytest

from services.benefits.domain import REFERENCE_FILE
from services.benefits.domain.history import ContributionMonth, Employment, Person, add_months
from services.benefits.domain.unemployment import ui_duration, unemployment
from shared.reference import ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
WORKER = Person("female", dt.date(1990, 3, 1))
ENDED = dt.date(2025, 6, 30)
JOB = Employment("0101234567", 1, dt.date(2010, 1, 1), ENDED)
CLAIM = dt.date(2025, 7, 15)


def ui_months(count, wage=10_000_000, last=dt.date(2025, 6, 1)):
    """``count`` months with UI contributions ending with ``last``."""
    return [ContributionMonth(add_months(last, i - count + 1), "compulsory", wage, wage)
            for i in range(count)]


def test_30_months_give_3_months_at_60_percent_of_the_last_6_months():
    months = ui_months(24, 10_000_000, dt.date(2024, 12, 1)) + ui_months(6, 12_000_000)
    decision = unemployment(REFERENCE, WORKER, [JOB], months, CLAIM)
    assert decision.status == "approved", decision.reasons
    assert (decision.monthly_amount, decision.duration_months) == (7_200_000, 3)
    assert decision.start_month == dt.date(2025, 8, 1)
    assert decision.rule_period == "Law on Employment 38/2013/QH13 (to 2025-12-31)"
    assert decision.to_dict()["start_month"] == "2025-08"


@pytest.mark.parametrize("count,duration", [(12, 3), (36, 3), (47, 3), (48, 4), (60, 5), (143, 11),
                                            (144, 12), (200, 12)])
def test_duration_is_3_months_plus_1_per_further_12_months_at_most_12(count, duration):
    assert ui_duration(REFERENCE, count, CLAIM)[0] == duration


@pytest.mark.parametrize("count,duration", [(48, 4), (200, 12)])
def test_the_decision_counts_every_ui_month_of_the_history(count, duration):
    assert unemployment(REFERENCE, WORKER, [JOB], ui_months(count), CLAIM).duration_months == duration


@pytest.mark.parametrize("ended,claim,region,cap", [
    (ENDED, CLAIM, 1, 24_800_000),                               # 5 × 4,960,000
    (dt.date(2026, 3, 31), dt.date(2026, 4, 10), 1, 26_550_000),  # 5 × 5,310,000
    (ENDED, CLAIM, 4, 17_250_000),                               # 5 × 3,450,000
])
def test_the_benefit_is_capped_at_5_times_the_regional_minimum_wage(ended, claim, region, cap):
    job = Employment("0101234567", region, dt.date(2010, 1, 1), ended)
    months = ui_months(24, 50_000_000, ended.replace(day=1))
    decision = unemployment(REFERENCE, WORKER, [job], months, claim)
    assert decision.monthly_amount == cap
    assert any(line.startswith("cap applied") for line in decision.explanation)


def test_12_months_in_the_24_months_to_the_end_of_the_job_are_needed():
    assert unemployment(REFERENCE, WORKER, [JOB], ui_months(12), CLAIM).status == "approved"
    decision = unemployment(REFERENCE, WORKER, [JOB], ui_months(11), CLAIM)
    assert decision.reasons[0].startswith("insufficient_ui_contributions: 11 months")
    old = ui_months(30, last=dt.date(2023, 5, 1))  # all before the window 2023-07 to 2025-06
    assert unemployment(REFERENCE, WORKER, [JOB], old, CLAIM).reasons[0].startswith(
        "insufficient_ui_contributions: 0 months")


@pytest.mark.parametrize("jobs,claim", [
    ([Employment("0101234567", 1, dt.date(2010, 1, 1))], CLAIM),
    ([JOB, Employment("0309876543", 2, dt.date(2025, 7, 1))], CLAIM),
    ([JOB], dt.date(2025, 6, 20)),
])
def test_no_benefit_while_still_employed(jobs, claim):
    decision = unemployment(REFERENCE, WORKER, jobs, ui_months(24), claim)
    assert decision.reasons[0].startswith("still_employed: ")


@pytest.mark.parametrize("claim,status", [(dt.date(2025, 9, 30), "approved"),
                                          (dt.date(2025, 10, 1), "rejected")])
def test_the_claim_is_made_within_3_months_of_the_end_of_the_job(claim, status):
    decision = unemployment(REFERENCE, WORKER, [JOB], ui_months(24), claim)
    assert decision.status == status
    if status == "rejected":
        assert decision.reasons == ["late_claim: claimed on 2025-10-01, more than 3 months after the job"
                                    f" ended ({REFERENCE.rule('ui_claim_deadline_months', claim).cite()})"]


@pytest.mark.parametrize("ended,claim,status", [
    (dt.date(2025, 11, 30), dt.date(2025, 12, 15), "approved"),
    (dt.date(2025, 12, 31), dt.date(2026, 1, 15), "rejected"),
])
def test_from_2026_no_benefit_for_someone_who_qualifies_for_a_pension(ended, claim, status):
    man = Person("male", dt.date(1963, 4, 2))  # retirement age reached in April 2024
    job = Employment("0101234567", 1, dt.date(2005, 1, 1), ended)
    decision = unemployment(REFERENCE, man, [job], ui_months(240, last=ended.replace(day=1)), claim)
    assert decision.status == status
    if status == "rejected":
        assert decision.reasons[0].startswith("pension_eligible: ")


def test_claims_before_the_data_or_before_regional_minimum_wages_are_not_guessed():
    job = Employment("0101234567", 1, dt.date(2010, 1, 1), dt.date(2019, 5, 31))
    for claim in (dt.date(2014, 12, 31), dt.date(2019, 6, 10)):
        decision = unemployment(REFERENCE, WORKER, [job], ui_months(24, last=dt.date(2019, 5, 1)), claim)
        assert decision.reasons[0].startswith("rules_not_in_data: ")


def test_a_claim_in_the_latest_period_says_no_later_change_is_in_the_data():
    job = Employment("0101234567", 1, dt.date(2020, 1, 1), dt.date(2027, 2, 28))
    decision = unemployment(REFERENCE, WORKER, [job], ui_months(24, last=dt.date(2027, 2, 1)),
                            dt.date(2027, 3, 10))
    assert decision.status == "approved"
    assert decision.rule_period == "Law on Employment 74/2025/QH15 (from 2026-01-01)"
    assert "no later change is in the data" in decision.explanation[0]
