"""Cover over time: employer kinds, two jobs, lapsing paid cover, the support limit, moves."""
import pytest

from tests.conftest import eventually
from tests.e2e.test_register import active, employment, paid, registered, scheme_count
from tests.e2e.test_walking_skeleton import settled

pytestmark = pytest.mark.e2e


def test_the_kind_of_employer_decides_the_card_group(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="30")
    assert settled(clerk, intake.publish("employment.started", employment(
        citizen_id, employer_kind="civil_service")))["status"] == "applied"
    [card] = clerk.enrolment.get_participant(citizen_id)["cards"]
    assert card["card_number"].startswith("HC430")
    contradicting = settled(clerk, intake.publish("employment.started", employment(
        citizen_id, "COOP1", employer_kind="cooperative", group_code="DN")))
    assert contradicting["reasons"]["payload.group_code"][0].startswith("contradicts_employer_kind:")


def test_ending_one_of_two_jobs_leaves_the_other_jobs_card_open(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="30")
    for event in (employment(citizen_id, "FIRM1", start="2025-01-01"),
                  employment(citizen_id, "FIRM2", start="2025-02-01"),
                  {"citizen_id": citizen_id, "employer_code": "FIRM1", "end_date": "2025-03-31"}):
        kind = "employment.ended" if "end_date" in event else "employment.started"
        assert settled(clerk, intake.publish(kind, event))["status"] == "applied"
    participant = clerk.enrolment.get_participant(citizen_id)
    valid = [c for c in participant["cards"] if c["status"] == "valid"]
    assert len(valid) == 1 and valid[0]["valid_to"] is None
    assert active(participant) == ["compulsory_si", "health", "unemployment"]


def test_ending_the_job_whose_card_is_valid_hands_cover_to_the_other_job(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="30")
    for event in (employment(citizen_id, "FIRM1", start="2025-01-01"),
                  employment(citizen_id, "OFFICE", start="2025-02-01", group_code="HC"),
                  {"citizen_id": citizen_id, "employer_code": "OFFICE", "end_date": "2025-04-30"}):
        kind = "employment.ended" if "end_date" in event else "employment.started"
        assert settled(clerk, intake.publish(kind, event))["status"] == "applied"
    cards = clerk.enrolment.get_participant(citizen_id)["cards"]
    assert [(c["group_code"], c["status"], c["valid_from"], c["valid_to"]) for c in cards] == [
        ("DN", "superseded", "2025-01-01", None), ("HC", "superseded", "2025-02-01", None),
        ("DN", "valid", "2025-05-01", None)]


def test_paid_voluntary_cover_lapses_when_its_months_are_over(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    before = scheme_count(planner, "49", "voluntary_si")

    def in_february():  # while the paid months ran
        return [r["participants"] for r in planner.reporting.coverage("2025-02-15", "49")
                if r["scheme"] == "voluntary_si"] or [0]
    february = in_february()[0]
    citizen_id = registered(intake, clerk, province="49", born="1980-05-05")
    # 2025-01..03 at 1,500,000, support 'other' 10% before Jul 2025: 297,000 a month
    assert settled(clerk, intake.publish("contribution.paid", paid(
        citizen_id, "voluntary_si", "2025-01", 3, 891_000, declared_income=1_500_000)))["status"] \
        == "applied"
    eventually(lambda: active(clerk.enrolment.get_participant(citizen_id)) == [])
    [cover] = clerk.enrolment.get_participant(citizen_id)["coverages"]
    assert (cover["valid_to"], cover["status"]) == ("2025-03-31", "ended")
    eventually(lambda: in_february() == [february + 1])
    eventually(lambda: scheme_count(planner, "49", "voluntary_si") == before)
    # paying again later opens a new period rather than reviving the lapsed one
    assert settled(clerk, intake.publish("contribution.paid", paid(
        citizen_id, "voluntary_si", "2025-06", 1, 297_000, declared_income=1_500_000)))["status"] \
        == "applied"
    periods = [(c["valid_from"], c["valid_to"]) for c in
               clerk.enrolment.get_participant(citizen_id)["coverages"]]
    assert periods == [("2025-01-01", "2025-03-31"), ("2025-06-01", "2025-06-30")]


def test_a_household_card_for_an_employee_does_not_count_health_twice(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    household = "HH-TWICE-54"
    citizen_id = registered(intake, clerk, province="54", household_id=household)
    before = scheme_count(planner, "54", "health")
    assert settled(clerk, intake.publish("employment.started", employment(
        citizen_id, start="2024-01-01")))["status"] == "applied"
    assert settled(clerk, intake.publish("contribution.paid", paid(
        citizen_id, "household_hi", "2024-01", 3, 243_000, household_id=household)))["status"] \
        == "applied"
    marker = registered(intake, clerk, province="54")
    assert settled(clerk, intake.publish("employment.started", employment(marker)))["status"] \
        == "applied"
    # the marker's coverage_started comes after the household payment's events
    eventually(lambda: scheme_count(planner, "54", "health") >= before + 2)
    assert scheme_count(planner, "54", "health") == before + 2


def test_a_corrected_province_moves_the_persons_counts(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    # Quảng Trị's old code 45 is shown in today's Quảng Trị (44); the person moves to Hà Tĩnh (42)
    citizen_id = registered(intake, clerk, province="45")
    assert settled(clerk, intake.publish("employment.started", employment(citizen_id)))["status"] \
        == "applied"
    eventually(lambda: scheme_count(planner, "44", "compulsory_si") >= 1)
    old_si, new_si = scheme_count(planner, "44", "compulsory_si"), scheme_count(planner, "42", "compulsory_si")
    old_reg = scheme_count(planner, "44", "registered")
    clerk.enrolment.correct_person(citizen_id, {"province_code": "42"})
    eventually(lambda: scheme_count(planner, "42", "compulsory_si") == new_si + 1)
    assert scheme_count(planner, "44", "compulsory_si") == old_si - 1
    assert scheme_count(planner, "44", "registered") == old_reg - 1


def test_a_card_dated_before_the_hi_group_table_is_rejected_not_dead_lettered(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="30")
    status = settled(clerk, intake.publish("health.enrolled", {
        "citizen_id": citizen_id, "group_code": "HN", "valid_from": "2015-03-01", "months": 12},
        occurred_at="2015-03-01T08:00:00+07:00"))
    assert status["status"] == "rejected"
    assert status["reasons"]["occurred_at"][0].startswith("out_of_range:")


def test_state_support_for_voluntary_si_stops_after_120_months(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="30", born="1975-02-02")

    def twelve_months(year, amount):
        return intake.publish("contribution.paid", paid(
            citizen_id, "voluntary_si", f"{year}-01", 12, amount, declared_income=2_200_000))

    for year in range(2022, 2032):  # ten years of 12 supported months
        price = clerk.enrolment.quote_voluntary_si(2_200_000, 12, "other", f"{year}-01-01")
        assert settled(clerk, twelve_months(year, price["total_payable"]))["status"] == "applied"
    supported = clerk.enrolment.quote_voluntary_si(2_200_000, 12, "other", "2032-01-01")
    refused = settled(clerk, twelve_months(2032, supported["total_payable"]))
    full = supported["monthly_gross"] * 12
    assert f"expected {full:,} VND" in refused["reasons"]["payload.amount_paid"][0]
    assert settled(clerk, twelve_months(2032, full))["status"] == "applied"


def test_paying_for_earlier_months_leaves_cover_paid_ahead_in_place(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="30", born="1979-09-09")
    for period, as_of in (("2027-01", "2027-01-01"), ("2026-09", "2026-09-01")):
        price = clerk.enrolment.quote_voluntary_si(2_200_000, 3, "other", as_of)["total_payable"]
        assert settled(clerk, intake.publish("contribution.paid", paid(
            citizen_id, "voluntary_si", period, 3, price, declared_income=2_200_000)))["status"] \
            == "applied"
    periods = [(c["valid_from"], c["valid_to"], c["status"]) for c in
               clerk.enrolment.get_participant(citizen_id)["coverages"]]
    assert ("2027-01-01", "2027-03-31", "active") in periods
    assert periods[0][:2] == ("2026-09-01", "2026-11-30")
