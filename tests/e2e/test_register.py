"""The register through the contract: employments, coverage, books, holds, deaths, order."""
import time

import pytest

from tests.conftest import HOLD_SECONDS, eventually
from tests.e2e.test_walking_skeleton import person, settled

pytestmark = pytest.mark.e2e


def employment(citizen_id, employer="DN0001", salary=10_000_000, start="2025-03-01", region=1, **extra):
    return dict({"citizen_id": citizen_id, "employer_code": employer, "monthly_salary": salary,
                 "start_date": start, "region": region}, **extra)


def registered(intake, clerk, **kwargs):
    payload = person(**kwargs)
    assert settled(clerk, intake.publish("person.registered", payload))["status"] == "applied"
    return payload["citizen_id"]


def scheme_count(planner, province, scheme):
    rows = [r for r in planner.reporting.coverage(province_code=province) if r["scheme"] == scheme]
    return rows[0]["participants"] if rows else 0


def active(participant):
    return sorted(c["scheme"] for c in participant["coverages"] if c["status"] == "active")


def test_an_employment_opens_si_health_and_ui_and_issues_the_book(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    before = scheme_count(planner, "38", "compulsory_si")
    citizen_id = registered(intake, clerk, province="38")
    started = intake.publish("employment.started", employment(citizen_id, group_code="HC"))
    assert settled(clerk, started)["status"] == "applied"

    participant = clerk.enrolment.get_participant(citizen_id)
    assert active(participant) == ["compulsory_si", "health", "unemployment"]
    health = [c for c in participant["coverages"] if c["scheme"] == "health"][0]
    assert health["group_code"] == "HC" and health["valid_from"] == "2025-03-01"
    assert participant["book"]["book_number"] == participant["si_code"]
    eventually(lambda: scheme_count(planner, "38", "compulsory_si") == before + 1)

    assert settled(clerk, intake.publish("employment.changed", {
        "citizen_id": citizen_id, "employer_code": "DN0001", "monthly_salary": 12_000_000,
        "effective_date": "2025-06-01"}))["status"] == "applied"
    ended = intake.publish("employment.ended", {"citizen_id": citizen_id, "employer_code": "DN0001",
                                                "end_date": "2025-09-30", "reason": "resigned"})
    assert settled(clerk, ended)["status"] == "applied"
    participant = clerk.enrolment.get_participant(citizen_id)
    assert active(participant) == []
    assert {c["valid_to"] for c in participant["coverages"]} == {"2025-09-30"}
    eventually(lambda: scheme_count(planner, "38", "compulsory_si") == before)


@pytest.mark.parametrize("payload,field,code", [
    (dict(salary=4_000_000, start="2025-03-01", region=1), "payload.monthly_salary", "below_minimum_wage"),
    (dict(salary=5_000_000, start="2026-01-05", region=1), "payload.monthly_salary", "below_minimum_wage"),
    (dict(region=5), "payload.region", "invalid_choice"),
    (dict(start="2099-01-01"), "payload.start_date", "in_future"),
])
def test_employments_outside_the_rules_are_rejected_per_field(intake, rpc_as, payload, field, code):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk)
    status = settled(clerk, intake.publish("employment.started", employment(citizen_id, **payload)))
    assert status["status"] == "rejected"
    assert status["reasons"][field][0].split(":")[0] == code


def test_a_change_or_end_without_an_open_employment_is_rejected(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk)
    status = settled(clerk, intake.publish("employment.ended", {
        "citizen_id": citizen_id, "employer_code": "NOSUCH", "end_date": "2025-01-31"}))
    assert status["reasons"]["payload.employer_code"][0].startswith("no_open_employment:")


def test_an_event_for_an_unregistered_person_is_held_then_applied_when_they_arrive(intake, rpc_as):
    clerk = rpc_as("clerk")
    payload = person(province="42")
    started = intake.publish("employment.started", employment(payload["citizen_id"]))
    assert settled(clerk, started)["status"] == "held"
    assert settled(clerk, intake.publish("person.registered", payload))["status"] == "applied"
    assert clerk.enrolment.intake_status(started)["status"] == "applied"
    assert "compulsory_si" in active(clerk.enrolment.get_participant(payload["citizen_id"]))


def test_a_held_event_is_rejected_as_unknown_citizen_after_the_hold_period(intake, rpc_as):
    clerk = rpc_as("clerk")
    held = intake.publish("employment.started", employment(person()["citizen_id"]))
    assert settled(clerk, held)["status"] == "held"
    time.sleep(HOLD_SECONDS)
    status = eventually(lambda: (lambda s: s if s["status"] == "rejected" else None)(
        clerk.enrolment.intake_status(held)), timeout=15)
    assert status["reasons"]["payload.citizen_id"][0].startswith("unknown_citizen:")
    assert held in {r["event_id"] for r in clerk.enrolment.list_rejections(limit=1000)}


def test_death_ends_every_coverage_and_later_events_are_rejected(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk)
    intake.publish("employment.started", employment(citizen_id))
    died = intake.publish("person.died", {"citizen_id": citizen_id, "date_of_death": "2025-10-02"})
    assert settled(clerk, died)["status"] == "applied"
    participant = clerk.enrolment.get_participant(citizen_id)
    assert participant["status"] == "deceased"
    assert active(participant) == []
    assert {c["valid_to"] for c in participant["coverages"]} == {"2025-10-02"}
    later = settled(clerk, intake.publish("employment.started", employment(citizen_id, "DN0002")))
    assert later["reasons"]["payload.citizen_id"][0].startswith("deceased:")


def test_a_burst_for_one_person_takes_effect_in_publish_order(intake, rpc_as):
    clerk = rpc_as("clerk")
    payload = person()
    citizen_id = payload["citizen_id"]
    # every event depends on the one before: out of order, some would be rejected
    ids = [intake.publish("person.registered", payload)]
    for n in range(1, 41):
        employer = f"DN{n:04d}"
        ids.append(intake.publish("employment.started",
                                  employment(citizen_id, employer, start=f"2020-{n % 12 + 1:02d}-01")))
        ids.append(intake.publish("employment.ended", {
            "citizen_id": citizen_id, "employer_code": employer,
            "end_date": f"2020-{n % 12 + 1:02d}-15"}))
    ids.append(intake.publish("employment.started", employment(citizen_id, "LAST", start="2021-01-01")))
    statuses = [settled(clerk, event_id) for event_id in ids]
    assert [s["status"] for s in statuses] == ["applied"] * len(ids), [
        s["reasons"] for s in statuses if s["status"] != "applied"]
    participant = clerk.enrolment.get_participant(citizen_id)
    assert active(participant) == ["compulsory_si", "health", "unemployment"]
    assert {c["valid_from"] for c in participant["coverages"] if c["status"] == "active"} == {"2021-01-01"}


def paid(citizen_id, scheme, period, months, amount, **extra):
    return dict({"citizen_id": citizen_id, "scheme": scheme, "period_start": period, "months": months,
                 "amount_paid": amount, "channel": "post-office"}, **extra)


def test_voluntary_si_payment_is_checked_against_the_rules_and_opens_cover(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk, province="17", born="1980-05-05")
    # 22% of 1,500,000 = 330,000 a month, less 50% of it for a poor household from 1 Jul 2025
    wrong = settled(clerk, intake.publish("contribution.paid", paid(
        citizen_id, "voluntary_si", "2025-08", 3, 500_000, declared_income=1_500_000,
        support_group="poor")))
    assert wrong["status"] == "rejected"
    assert "expected 495,000 VND" in wrong["reasons"]["payload.amount_paid"][0]
    right = settled(clerk, intake.publish("contribution.paid", paid(
        citizen_id, "voluntary_si", "2025-08", 3, 495_000, declared_income=1_500_000,
        support_group="poor")))
    assert right["status"] == "applied"
    participant = clerk.enrolment.get_participant(citizen_id)
    voluntary = [c for c in participant["coverages"] if c["scheme"] == "voluntary_si"]
    assert [(c["valid_from"], c["valid_to"]) for c in voluntary] == [("2025-08-01", "2025-10-31")]
    assert participant["book"]["book_number"] == participant["si_code"]
    again = settled(clerk, intake.publish("contribution.paid", paid(
        citizen_id, "voluntary_si", "2025-10", 1, 165_000, declared_income=1_500_000,
        support_group="poor")))
    assert again["reasons"]["payload.period_start"][0].startswith("already_paid:")


def test_household_members_pay_by_position_and_get_gd_cards(intake, rpc_as):
    clerk = rpc_as("clerk")
    household = f"HH-{person()['citizen_id'][-6:]}"
    first = registered(intake, clerk, province="42", household_id=household)
    second = registered(intake, clerk, province="42", sex="female", household_id=household)
    # base salary 2,340,000 in Jan 2025: 105,300 then 73,710 a month
    assert settled(clerk, intake.publish("contribution.paid", paid(
        first, "household_hi", "2025-01", 3, 315_900, household_id=household)))["status"] == "applied"
    second_wrong = settled(clerk, intake.publish("contribution.paid", paid(
        second, "household_hi", "2025-01", 3, 315_900, household_id=household)))
    assert "expected 221,130 VND" in second_wrong["reasons"]["payload.amount_paid"][0]
    assert settled(clerk, intake.publish("contribution.paid", paid(
        second, "household_hi", "2025-01", 3, 221_130, household_id=household)))["status"] == "applied"

    participant = clerk.enrolment.get_participant(first)
    [card] = participant["cards"]
    assert card["card_number"] == "GD442" + participant["si_code"] and len(card["card_number"]) == 15
    # first-time household participant: covered 30 days after paying (paid 2024-01-16)
    assert (card["valid_from"], card["valid_to"]) == ("2024-02-15", "2024-05-14")


def test_a_new_card_supersedes_the_old_one(intake, rpc_as):
    clerk = rpc_as("clerk")
    household = f"HH-{person()['citizen_id'][-6:]}"
    citizen_id = registered(intake, clerk, household_id=household)
    intake.publish("contribution.paid", paid(citizen_id, "household_hi", "2025-01", 3, 315_900,
                                             household_id=household))
    assert settled(clerk, intake.publish("employment.started", employment(
        citizen_id, start="2024-03-01", group_code="HC")))["status"] == "applied"
    cards = clerk.enrolment.get_participant(citizen_id)["cards"]
    assert [(c["group_code"], c["status"]) for c in cards] == [("GD", "superseded"), ("HC", "valid")]
    assert cards[1]["card_number"].startswith("HC4")


def test_a_child_under_six_is_covered_to_school_age(intake, rpc_as):
    clerk = rpc_as("clerk")
    child = registered(intake, clerk, born="2021-03-10", province="79")
    assert settled(clerk, intake.publish("health.enrolled", {
        "citizen_id": child, "group_code": "TE", "valid_from": "2021-03-10", "months": 12,
        "payer": "state"}))["status"] == "applied"
    [card] = clerk.enrolment.get_participant(child)["cards"]
    assert card["card_number"].startswith("TE179")
    # 6th birthday 10 Mar 2027 is before 30 Sep: covered to 30 Sep 2027
    assert (card["valid_from"], card["valid_to"]) == ("2021-03-10", "2027-09-30")


def test_unknown_hi_group_is_rejected(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk)
    status = settled(clerk, intake.publish("health.enrolled", {
        "citizen_id": citizen_id, "group_code": "ZZ", "valid_from": "2025-01-01", "months": 12}))
    assert status["reasons"]["payload.group_code"][0].startswith("unknown_group:")
