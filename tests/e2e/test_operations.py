"""Operator RPC that changes the register, and sponsored programmes, through the contract."""
import json
import secrets

import pytest
from nameko.exceptions import RemoteError

from tests.conftest import eventually
from tests.e2e.test_register import employment, registered
from tests.e2e.test_walking_skeleton import settled

pytestmark = pytest.mark.e2e


def audited(rpc_as, method):
    auditor = rpc_as("auditor")
    rows, after_id = [], 0
    while page := auditor.enrolment.audit_log(after_id=after_id, limit=1000):
        rows += [r for r in page if r["method"] == method]
        after_id = page[-1]["id"]
    return rows


def new_programme(rpc_as, budget=10_000_000, **extra):
    code = f"P{secrets.token_hex(4).upper()}"
    programme = dict({"programme_code": code, "name": "Thẻ BHYT cho người khó khăn",
                      "sponsors": ["Bank A", "Insurer B"], "goal_books": 10, "goal_cards": 20,
                      "budget": budget}, **extra)
    created = rpc_as("planner").enrolment.create_programme(programme)
    assert created["remaining_budget"] == budget and created["cards"] == 0
    return code


def grant(code, citizen_id, benefit="health_card", months=12, amount=1_263_600, sponsor="Bank A"):
    return {"programme_code": code, "sponsor": sponsor, "citizen_id": citizen_id,
            "benefit": benefit, "months": months, "amount": amount}


def test_sponsored_cards_and_books_count_against_goal_and_budget(intake, rpc_as):
    clerk = rpc_as("clerk")
    # a card for 12 months: 4.5% of 2,340,000 = 105,300 a month (grant dated 2024-01-16:
    # base salary 1,800,000 then, so 81,000 a month)
    code = new_programme(rpc_as, budget=2_000_000)
    citizen_id = registered(intake, clerk, province="17")
    wrong = settled(clerk, intake.publish("sponsorship.granted", grant(code, citizen_id, amount=1)))
    assert "expected 972,000 VND" in wrong["reasons"]["payload.amount"][0]
    assert settled(clerk, intake.publish("sponsorship.granted", grant(
        code, citizen_id, amount=972_000)))["status"] == "applied"
    [card] = clerk.enrolment.get_participant(citizen_id)["cards"]
    assert card["group_code"] == "GD"

    # voluntary SI with a book: 22% of the poverty line 1,500,000 = 330,000, less 10% support
    # ("other", before 1 Jul 2025) = 297,000 a month
    other = registered(intake, clerk)
    assert settled(clerk, intake.publish("sponsorship.granted", grant(
        code, other, "si_book", 3, 891_000, sponsor="Insurer B")))["status"] == "applied"
    assert clerk.enrolment.get_participant(other)["book"] is not None

    over = settled(clerk, intake.publish("sponsorship.granted", grant(
        code, registered(intake, clerk), amount=972_000)))
    assert over["reasons"]["payload.amount"][0].startswith("over_budget: the programme has 137,000 VND")
    stranger = settled(clerk, intake.publish("sponsorship.granted", grant(
        code, other, sponsor="Nobody")))
    assert stranger["reasons"]["payload.sponsor"][0].startswith("unknown_sponsor:")

    [programme] = [p for p in clerk.enrolment.list_programmes() if p["programme_code"] == code]
    assert (programme["cards"], programme["books"], programme["spent"]) == (1, 1, 1_863_000)
    assert (programme["cards_to_goal"], programme["books_to_goal"]) == (19, 9)
    assert audited(rpc_as, "create_programme")


def test_a_programme_code_is_created_once(rpc_as):
    code = new_programme(rpc_as)
    with pytest.raises(RemoteError) as err:
        rpc_as("planner").enrolment.create_programme({
            "programme_code": code, "name": "again", "sponsors": ["X"], "goal_books": 0,
            "goal_cards": 0, "budget": 0})
    assert err.value.exc_type == "Conflict"


def test_a_correction_is_audited_reaches_benefits_and_keeps_the_id_digits(intake, rpc_as):
    clerk, assessor = rpc_as("clerk"), rpc_as("assessor")
    citizen_id = registered(intake, clerk, born="1985-03-02")
    corrected = clerk.enrolment.correct_person(citizen_id, {"date_of_birth": "1985-12-24",
                                                            "full_name": "Lê Văn C"})
    assert corrected["date_of_birth"] == "1985-12-24" and corrected["full_name"] == "Lê Văn C"
    eventually(lambda: assessor.benefits.get_person(citizen_id)["date_of_birth"] == "1985-12-24")
    with pytest.raises(RemoteError) as err:
        clerk.enrolment.correct_person(citizen_id, {"date_of_birth": "1986-01-01"})
    assert err.value.exc_type == "ValidationError"
    assert "date_of_birth" in json.loads(err.value.value)
    rows = audited(rpc_as, "correct_person")
    assert [r["outcome"] for r in rows if r["detail"]["args"][0] == citizen_id] == ["ok", "failed"]


def test_a_lost_card_is_replaced_with_the_same_code(intake, rpc_as):
    clerk = rpc_as("clerk")
    citizen_id = registered(intake, clerk)
    intake.publish("employment.started", employment(citizen_id, start="2024-03-01"))
    settled(clerk, intake.publish("employment.changed", {
        "citizen_id": citizen_id, "employer_code": "DN0001", "monthly_salary": 11_000_000,
        "effective_date": "2024-06-01"}))
    replaced = clerk.enrolment.replace_card(citizen_id, "lost")
    cards = clerk.enrolment.get_participant(citizen_id)["cards"]
    assert [c["status"] for c in cards] == ["superseded", "valid"]
    assert cards[0]["card_number"] == cards[1]["card_number"] == replaced["card_number"]
    with pytest.raises(RemoteError) as err:
        clerk.enrolment.replace_card(registered(intake, clerk))
    assert err.value.exc_type == "NotFound"


def test_monthly_compulsory_contributions_are_recorded_once(intake, rpc_as):
    clerk, finance = rpc_as("clerk"), rpc_as("finance")
    citizen_id = registered(intake, clerk)
    assert settled(clerk, intake.publish("employment.started", employment(
        citizen_id, employer=f"E{secrets.token_hex(3).upper()}", salary=10_000_000,
        start="2019-01-01")))["status"] == "applied"
    first = finance.enrolment.record_contributions("2019-02")
    assert first["recorded"] >= 1
    again = finance.enrolment.record_contributions("2019-02")
    assert again["recorded"] == 0
    assert again["already_recorded"] == first["recorded"] + first["already_recorded"]
    with pytest.raises(RemoteError) as err:
        clerk.enrolment.record_contributions("2019-03")
    assert err.value.exc_type == "Unauthorized"
