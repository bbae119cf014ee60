"""Benefits through the contract: careers from intake events, claims, payment runs, abuse flags.

Payment runs are per month for the whole register, so each test uses months
of its own and reads its people's payments with ``payments_for``.
"""
import threading

import pytest
from nameko.exceptions import RemoteError

from tests.conftest import eventually
from tests.e2e.test_register import employment, registered
from tests.e2e.test_walking_skeleton import settled

pytestmark = pytest.mark.e2e


def career(intake, rpc_as, start, end, salary, sex="male", born="1985-03-02", province="22"):
    """A registered person with one job from ``start`` to ``end`` (or still open), its
    contributions recorded month by month, and benefits caught up with all of it."""
    clerk, finance, assessor = rpc_as("clerk"), rpc_as("finance"), rpc_as("assessor")
    citizen_id = registered(intake, clerk, province=province, sex=sex, born=born)
    assert settled(clerk, intake.publish("employment.started", employment(
        citizen_id, "FIRM", salary=salary, start=start)))["status"] == "applied"
    if end:
        assert settled(clerk, intake.publish("employment.ended", {
            "citizen_id": citizen_id, "employer_code": "FIRM", "end_date": end}))["status"] == "applied"
    last = (end or "2026-10")[:7]
    finance.enrolment.record_contributions(start[:7], last)
    months = (int(last[:4]) - int(start[:4])) * 12 + int(last[5:7]) - int(start[5:7]) + 1

    def caught_up():
        kinds = assessor.benefits.contribution_history(citizen_id)["kinds"]
        jobs = assessor.benefits.contribution_history(citizen_id)["employments"]
        return kinds and kinds[0]["months"] == months and jobs and (jobs[0]["end_date"] or not end)
    eventually(lambda: _quietly(caught_up), timeout=30)
    return citizen_id


def _quietly(check):
    try:
        return check()
    except RemoteError:  # NotFound until the person reaches benefits
        return None


def test_a_woman_with_15_years_gets_45_percent_under_law_41(intake, rpc_as):
    assessor = rpc_as("assessor")
    # 180 months at 6,000,000 VND, born 1966-01: retirement age 55y4m reached 2021-05
    citizen_id = career(intake, rpc_as, "2007-01-01", "2021-12-31", 6_000_000, sex="female",
                        born="1966-01-15")
    claim = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                            "claim_date": "2025-08-01"})
    assert claim["status"] == "approved", claim["reasons"]
    assert claim["monthly_amount"] == 2_700_000 and claim["start_month"] == "2025-08"
    assert claim["rule_period"].startswith("Law 41/2024/QH15")
    assert any("45%" in line for line in claim["explanation"])
    assert assessor.benefits.get_claim(claim["claim_id"]) == claim
    again = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                            "claim_date": "2025-08-01"})
    assert again["claim_id"] == claim["claim_id"]
    with pytest.raises(RemoteError) as err:
        assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                        "claim_date": "2025-09-01"})
    assert err.value.exc_type == "Conflict"
    flags = assessor.benefits.list_fraud_flags(limit=1000)
    assert any(f["kind"] == "duplicate_claim" and f["citizen_id"] == citizen_id for f in flags)
    # the pension pays these months: no lump sum on them while it is open
    lump = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "lump_sum",
                                           "claim_date": "2025-09-01", "reason": "settling_abroad"})
    assert lump["status"] == "rejected" and lump["reasons"][0].startswith("other_benefit_open:")


def test_unemployment_is_paid_once_per_month_and_a_new_job_stops_it(intake, rpc_as):
    assessor, finance, clerk = rpc_as("assessor"), rpc_as("finance"), rpc_as("clerk")
    # 30 months of UI contributions on 8,000,000: 3 months at 60% = 4,800,000 from 2024-03
    citizen_id = career(intake, rpc_as, "2021-07-01", "2023-12-31", 8_000_000, born="1990-04-04")
    claim = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "unemployment",
                                            "claim_date": "2024-02-01"})
    assert (claim["status"], claim["monthly_amount"], claim["duration_months"],
            claim["start_month"], claim["end_month"]) == ("approved", 4_800_000, 3, "2024-03", "2024-05")

    first = finance.benefits.run_payments("2024-03")
    again = finance.benefits.run_payments("2024-03")
    assert again == first and first["status"] == "completed"
    assert finance.benefits.run_payments("2024-04")["payments"] >= 1
    assert [(p["period"], p["amount"]) for p in assessor.benefits.payments_for(citizen_id)] == [
        ("2024-03", 4_800_000), ("2024-04", 4_800_000)]

    # a job that started in April, learnt after April was paid: stopped, April flagged
    assert settled(clerk, intake.publish("employment.started", employment(
        citizen_id, "NEWJOB", salary=9_000_000, start="2024-04-10")))["status"] == "applied"
    flag = eventually(lambda: [f for f in assessor.benefits.list_fraud_flags(limit=1000)
                               if f["citizen_id"] == citizen_id])
    assert [(f["kind"], f["amount"]) for f in flag] == [("benefit_while_employed", 4_800_000)]
    may = finance.benefits.run_payments("2024-05")
    assert may["skipped"].get("re_employed", 0) >= 1
    assert len(assessor.benefits.payments_for(citizen_id)) == 2
    assert assessor.benefits.get_claim(claim["claim_id"])["stopped_from"] == "2024-04"


def test_a_death_stops_payments_and_flags_months_paid_after_it(intake, rpc_as):
    assessor, finance, clerk = rpc_as("assessor"), rpc_as("finance"), rpc_as("clerk")
    citizen_id = career(intake, rpc_as, "2007-01-01", "2021-12-31", 6_000_000, sex="female",
                        born="1966-02-15")
    assert assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                           "claim_date": "2025-08-01"})["status"] == "approved"
    finance.benefits.run_payments("2025-10")
    assert settled(clerk, intake.publish("person.died", {
        "citizen_id": citizen_id, "date_of_death": "2025-09-20"}))["status"] == "applied"
    flags = eventually(lambda: [f for f in assessor.benefits.list_fraud_flags(limit=1000)
                                if f["citizen_id"] == citizen_id])
    assert [(f["kind"], f["amount"], f["detail"]["periods"]) for f in flags] == [
        ("paid_after_death", 2_700_000, ["2025-10"])]
    november = finance.benefits.run_payments("2025-11")
    assert november["skipped"].get("deceased", 0) >= 1
    assert [p["period"] for p in assessor.benefits.payments_for(citizen_id)] == ["2025-10"]


def test_a_lump_sum_is_paid_once_and_pays_out_the_history(intake, rpc_as):
    assessor, finance = rpc_as("assessor"), rpc_as("finance")
    # 96 months from 2016 at 6,000,000: 8 years x 2 months = 96,000,000 VND
    citizen_id = career(intake, rpc_as, "2016-01-01", "2023-12-31", 6_000_000, born="1990-04-04")
    claim = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "lump_sum",
                                            "claim_date": "2025-02-01", "reason": "out_of_system"})
    assert (claim["status"], claim["lump_sum_amount"]) == ("approved", 96_000_000), claim["reasons"]
    finance.benefits.run_payments("2025-02")
    finance.benefits.run_payments("2025-03")
    assert [(p["period"], p["kind"], p["amount"]) for p in assessor.benefits.payments_for(citizen_id)] \
        == [("2025-02", "lump_sum", 96_000_000)]
    history = assessor.benefits.contribution_history(citizen_id)["kinds"]
    assert history[0]["settled"] == 96
    later = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "lump_sum",
                                            "claim_date": "2025-04-01", "reason": "out_of_system"})
    assert later["status"] == "rejected"


def test_concurrent_payment_runs_pay_nobody_twice(intake, rpc_as):
    assessor = rpc_as("assessor")
    citizen_id = career(intake, rpc_as, "2007-01-01", "2021-12-31", 6_000_000, sex="female",
                        born="1966-03-15")
    assert assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                           "claim_date": "2025-08-01"})["status"] == "approved"
    results = []

    def run():
        results.append(rpc_as("finance").benefits.run_payments("2025-12"))
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0] == results[1]
    assert [p["period"] for p in assessor.benefits.payments_for(citizen_id)] == ["2025-12"]


def test_proof_of_life_overdue_suspends_until_confirmed(intake, rpc_as):
    assessor, finance = rpc_as("assessor"), rpc_as("finance")
    citizen_id = career(intake, rpc_as, "2007-01-01", "2021-12-31", 6_000_000, sex="female",
                        born="1966-04-15")
    assert assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                           "claim_date": "2025-08-01"})["status"] == "approved"
    # last confirmed alive on the claim date: more than 12 months before Sep 2026
    overdue = finance.benefits.run_payments("2026-09")
    assert overdue["skipped"].get("proof_of_life_overdue", 0) >= 1
    assessor.benefits.confirm_alive(citizen_id, "2026-10-01")
    finance.benefits.run_payments("2026-10")
    assert [p["period"] for p in assessor.benefits.payments_for(citizen_id)] == ["2026-10"]


def test_a_suspended_claim_is_skipped_until_resumed(intake, rpc_as):
    assessor, finance = rpc_as("assessor"), rpc_as("finance")
    citizen_id = career(intake, rpc_as, "2007-01-01", "2021-12-31", 6_000_000, sex="female",
                        born="1966-05-15")
    claim = assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                            "claim_date": "2025-08-01"})
    assert assessor.benefits.suspend_claim(claim["claim_id"])["suspended"] is True
    assert finance.benefits.run_payments("2026-07")["skipped"].get("suspended", 0) >= 1
    assert assessor.benefits.suspend_claim(claim["claim_id"], False)["suspended"] is False
    finance.benefits.run_payments("2026-08")
    assert [p["period"] for p in assessor.benefits.payments_for(citizen_id)] == ["2026-08"]


def test_one_bank_account_on_two_peoples_claims_is_flagged(intake, rpc_as):
    clerk, assessor = rpc_as("clerk"), rpc_as("assessor")
    people = [registered(intake, clerk, province="22") for _ in range(2)]
    for citizen_id in people:
        eventually(lambda: _quietly(lambda: assessor.benefits.get_person(citizen_id)))
        assessor.benefits.submit_claim({"citizen_id": citizen_id, "kind": "pension",
                                        "claim_date": "2025-08-01", "bank_account": "VCB-0011223344"})
    flags = [f for f in assessor.benefits.list_fraud_flags(limit=1000) if f["citizen_id"] == people[1]]
    assert [f["kind"] for f in flags] == ["shared_bank_account"]


@pytest.mark.parametrize("claim,field", [
    ({"kind": "pension", "claim_date": "2099-01-01"}, "claim_date"),
    ({"kind": "pension", "claim_date": "2025-01-01", "reason": "settling_abroad"}, "reason"),
    ({"kind": "lump_sum", "claim_date": "2025-01-01"}, "reason"),
    ({"kind": "sickness", "claim_date": "2025-01-01"}, "kind"),
])
def test_malformed_claims_are_refused_per_field(intake, rpc_as, claim, field):
    with pytest.raises(RemoteError) as err:
        rpc_as("assessor").benefits.submit_claim(dict(claim, citizen_id="001085000001"))
    assert err.value.exc_type == "ValidationError" and field in err.value.value


def test_claims_and_runs_need_their_roles_and_are_audited(rpc_as):
    with pytest.raises(RemoteError) as err:
        rpc_as("clerk").benefits.run_payments("2024-01")
    assert err.value.exc_type == "Unauthorized"
    rpc_as("finance").benefits.run_payments("2023-01")
    rows = rpc_as("auditor").benefits.audit_log(limit=1000)
    assert any(r["method"] == "run_payments" and r["outcome"] == "refused" for r in rows)
    assert any(r["method"] == "run_payments" and r["outcome"] == "ok" for r in rows)
