"""Reporting through the contract: figures equal a direct count of what was sent,
exactly once, rebuildable, in today's province units, with targets and denominators."""
import datetime as dt
import json
import random
import time
import uuid
from collections import Counter

import pytest
from kombu import Connection, Exchange

from tests.conftest import eventually
from tests.e2e.test_operations import grant, new_programme
from tests.e2e.test_register import registered
from tests.e2e.test_walking_skeleton import citizen_id as make_id, settled

pytestmark = pytest.mark.e2e

# old province -> its province of today (Resolution 202/2025/QH15)
BEFORE = {"17": "25", "26": "25", "10": "15", "42": "42", "74": "79"}
AFTER = ("25", "15", "42", "79")
SCHEMES = ("registered", "compulsory_si", "health", "unemployment")


def counts(planner):
    return {(r["province_code"], r["scheme"]): r["participants"] for r in planner.reporting.coverage()
            if r["scheme"] in SCHEMES}


def test_figures_equal_a_direct_count_of_a_few_thousand_mixed_events(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    rng = random.Random(20261122)
    before = counts(planner)
    expected, last_ids = Counter(), []
    people = []
    for n in range(700):  # registrations both sides of the 1 Jul 2025 reorganisation
        old = n % 2 == 0
        province = rng.choice(sorted(BEFORE)) if old else rng.choice(AFTER)
        sex = rng.choice(("male", "female"))
        cid = make_id(province if old else "01", sex, 1980 + n % 20)
        when = "2024-05-10T10:00:00+07:00" if old else "2025-09-10T10:00:00+07:00"
        intake.publish("person.registered", {
            "citizen_id": cid, "full_name": "Nguyễn Văn A", "date_of_birth": f"{1980 + n % 20}-02-03",
            "sex": sex, "province_code": province}, occurred_at=when)
        unit = BEFORE.get(province, province) if old else province
        expected[(unit, "registered")] += 1
        people.append((cid, unit))
    for n, (cid, unit) in enumerate(people):
        if n % 2:
            continue
        intake.publish("employment.started", {
            "citizen_id": cid, "employer_code": f"E{n % 37}", "monthly_salary": 7_000_000,
            "start_date": "2025-10-01", "region": 2})
        for scheme in SCHEMES[1:]:
            expected[(unit, scheme)] += 1
        if n % 3 == 0:
            last_ids.append(intake.publish("employment.ended", {
                "citizen_id": cid, "employer_code": f"E{n % 37}", "end_date": "2025-12-31"}))
            for scheme in SCHEMES[1:]:
                expected[(unit, scheme)] -= 1
        elif n % 7 == 0:
            last_ids.append(intake.publish("person.died", {"citizen_id": cid,
                                                          "date_of_death": "2026-01-05"}))
            for scheme in SCHEMES[1:]:
                expected[(unit, scheme)] -= 1
    for event_id in last_ids:
        assert settled(clerk, event_id)["status"] == "applied"

    def delta():
        now = counts(planner)
        return {key: now.get(key, 0) - before.get(key, 0) for key in set(now) | set(before)}

    wanted = {k: v for k, v in expected.items() if v}
    eventually(lambda: {k: v for k, v in delta().items() if v and k[0] != "VN"} == wanted, timeout=180)
    national = {scheme: sum(v for (p, s), v in wanted.items() if s == scheme) for scheme in SCHEMES}
    assert {s: delta().get(("VN", s), 0) for s in SCHEMES} == national


def publish_event(amqp_uri, exchange, event_type, body):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(json.dumps(body), exchange=Exchange(exchange, "topic", durable=True),
                                routing_key=event_type, content_type="application/json",
                                delivery_mode=2, mandatory=True, retry=True)


def test_a_redelivered_event_changes_nothing(amqp_uri, rpc_as):
    planner = rpc_as("planner")
    before = counts(planner).get(("56", "health"), 0)
    body = {"event_id": str(uuid.uuid4()), "occurred_at": "2025-09-01T03:00:00+00:00",
            "citizen_id": "056190000001", "si_code": "5600000001", "scheme": "health",
            "group_code": "GD", "valid_from": "2025-09-01", "province_code": "56"}
    for _ in range(3):
        publish_event(amqp_uri, "enrolment.events", "coverage_started", body)
    eventually(lambda: counts(planner).get(("56", "health"), 0) == before + 1)
    marker = dict(body, event_id=str(uuid.uuid4()), province_code="58")
    publish_event(amqp_uri, "enrolment.events", "coverage_started", marker)
    eventually(lambda: counts(planner).get(("56", "health"), 0) == before + 2)  # 58 is now part of 56
    assert counts(planner).get(("56", "health")) == before + 2


def run_completed(period, totals):
    return {"event_id": str(uuid.uuid4()), "occurred_at": f"{period}-28T10:00:00+00:00",
            "run_id": 900000 + int(period.replace("-", "")) % 100000, "period": period,
            "payments": sum(t["payments"] for t in totals),
            "total_amount": sum(t["amount"] for t in totals), "skipped": {}, "totals": totals}


def test_year_on_year_compares_the_same_units_across_the_merger(amqp_uri, rpc_as):
    planner = rpc_as("planner")
    # Jun 2022 in Hòa Bình (17) and Vĩnh Phúc (26), Jun 2023 in the merged Phú Thọ (25)
    publish_event(amqp_uri, "benefits.events", "payment_run_completed", run_completed("2022-06", [
        {"province_code": "17", "kind": "pension", "payments": 300, "amount": 1_500_000_000},
        {"province_code": "26", "kind": "pension", "payments": 100, "amount": 500_000_000},
        {"province_code": "17", "kind": "lump_sum", "payments": 5, "amount": 250_000_000}]))
    publish_event(amqp_uri, "benefits.events", "payment_run_completed", run_completed("2023-06", [
        {"province_code": "25", "kind": "pension", "payments": 420, "amount": 2_262_000_000}]))
    summary = eventually(lambda: (lambda rows: rows if rows[0]["amount"] else None)(
        planner.reporting.benefits_summary("2023-06", "25")))
    pension = {r["kind"]: r for r in summary}["pension"]
    assert (pension["beneficiaries"], pension["amount"]) == (420, 2_262_000_000)
    assert pension["amount_same_period_last_year"] == 2_000_000_000
    assert pension["beneficiaries_same_period_last_year"] == 400
    assert pension["change_percent"] == 13.1
    lump = {r["kind"]: r for r in summary}["lump_sum"]
    assert (lump["amount"], lump["amount_same_period_last_year"], lump["change_percent"]) == (
        0, 250_000_000, -100.0)


def test_targets_with_denominators_progress_and_pace(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    year = dt.date.today().year
    planner.reporting.set_denominator("86", year, "test figure for Vĩnh Long",
                                      working_age_labour_force=1000)
    before = {r["scheme"]: r for r in planner.reporting.coverage(province_code="86")}
    people = [registered(intake, clerk, province="86") for _ in range(3)]
    for cid in people:
        assert settled(clerk, intake.publish("employment.started", {
            "citizen_id": cid, "employer_code": "VL1", "monthly_salary": 6_000_000,
            "start_date": f"{year}-01-05", "region": 3}))["status"] == "applied"
    planner.reporting.set_target(year, "86", "compulsory_si", 4)
    planner.reporting.set_target(year, "86", "compulsory_si", 50, measure="coverage_rate")
    planner.reporting.set_target(year, "86", "compulsory_si", 2, name="January campaign",
                                 starts_on=f"{year}-01-01", ends_on=f"{year}-01-31")
    row = eventually(lambda: [r for r in planner.reporting.coverage(province_code="86")
                              if r["scheme"] == "compulsory_si" and
                              r["participants"] == before.get("compulsory_si", {}).get("participants", 0) + 3])
    assert row[0]["denominator"] == 1000 and row[0]["denominator_source"] == "test figure for Vĩnh Long"
    assert row[0]["coverage_rate"] == round(row[0]["participants"] / 10, 2)
    progress = {(r["measure"], r["name"]): r for r in planner.reporting.target_progress(year, "86")}
    yearly = progress[("new_participants", "")]
    assert (yearly["target"], yearly["achieved"]) == (4, 3)
    assert (yearly["percent"], yearly["remaining"]) == (75.0, 1)
    campaign = progress[("new_participants", "January campaign")]
    assert (campaign["achieved"], campaign["percent"], campaign["on_pace"]) == (3, 150.0, True)
    rate = progress[("coverage_rate", "")]
    assert rate["achieved"] == row[0]["coverage_rate"]


def test_programme_summary_matches_the_grants(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    code = new_programme(rpc_as, budget=5_000_000)
    first, second = registered(intake, clerk, province="17"), registered(intake, clerk, province="26")
    for cid, benefit, months, amount, sponsor in ((first, "health_card", 12, 972_000, "Bank A"),
                                                  (first, "si_book", 3, 891_000, "Insurer B"),
                                                  (second, "health_card", 12, 972_000, "Bank A")):
        assert settled(clerk, intake.publish("sponsorship.granted", grant(
            code, cid, benefit, months, amount, sponsor)))["status"] == "applied"
    [row] = eventually(lambda: [r for r in planner.reporting.programme_summary(code)
                                if r["health_cards"] == 2])
    assert (row["people"], row["health_cards"], row["si_books"], row["amount"]) == (2, 2, 1, 2_835_000)
    assert (row["goal_cards"], row["cards_to_goal"], row["books_to_goal"]) == (20, 18, 9)
    assert {s["sponsor"]: s["amount"] for s in row["per_sponsor"]} == {"Bank A": 1_944_000,
                                                                     "Insurer B": 891_000}
    assert [p["province_code"] for p in row["per_province"]] == ["25"]  # both old provinces merged


def test_rebuilding_the_read_models_gives_identical_figures(rpc_as):
    planner, admin = rpc_as("planner"), rpc_as("admin")

    def figures():
        def strip(rows):
            return sorted((json.dumps({k: v for k, v in r.items() if k != "as_of"}, sort_keys=True)
                           for r in rows))
        return (strip(planner.reporting.coverage()), strip(planner.reporting.benefits_summary("2023-06")),
                strip(planner.reporting.programme_summary()), strip(planner.reporting.intake_rejections()),
                strip(planner.reporting.target_progress(dt.date.today().year)))
    before = None
    while before != (before := figures()):  # wait until events of earlier tests are all in
        time.sleep(1)
    assert admin.reporting.rebuild_reports()["replayed"] > 0
    after = figures()
    for name, was, now in zip(("coverage", "benefits", "programmes", "rejections", "targets"),
                              before, after):
        assert now == was, (name, sorted(set(was) - set(now)), sorted(set(now) - set(was)))


def test_breakdown_by_commune_and_hi_group(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    worker = registered(intake, clerk, province="11", commune_code="03160")
    child = registered(intake, clerk, province="11", commune_code="03160", born="2022-04-01")
    assert settled(clerk, intake.publish("employment.started", {
        "citizen_id": worker, "employer_code": "DB1", "monthly_salary": 6_000_000,
        "start_date": "2025-01-02", "region": 4, "employer_kind": "civil_service"}))["status"] == "applied"
    assert settled(clerk, intake.publish("health.enrolled", {
        "citizen_id": child, "group_code": "TE", "valid_from": "2026-04-01", "months": 12}))["status"] \
        == "applied"

    def rows():
        return {(r["commune_code"], r["scheme"], r["group_code"]): r["participants"]
                for r in planner.reporting.coverage_breakdown("11")}
    eventually(lambda: rows().get(("03160", "health", "TE")) == 1)
    assert rows()[("03160", "health", "HC")] == 1
    assert rows()[("03160", "compulsory_si", None)] == 1
    assert settled(clerk, intake.publish("employment.ended", {
        "citizen_id": worker, "employer_code": "DB1", "end_date": "2025-06-30"}))["status"] == "applied"
    eventually(lambda: ("03160", "health", "HC") not in rows())
    assert rows().get(("03160", "health", "TE")) == 1


def test_an_answer_asked_again_after_a_planner_s_change_shows_it_at_once(rpc_as):
    """Answers are kept while the read models are unchanged (services/reporting/replies.py):
    a target set since is in the very next answer, not a kept one."""
    planner = rpc_as("planner")
    year = dt.date.today().year
    for _ in range(2):  # the second is a kept answer
        assert not [r for r in planner.reporting.target_progress(year, "94") if r["name"] == "kept"]
    planner.reporting.set_target(year, "94", "voluntary_si", 7, name="kept")
    assert [r["target"] for r in planner.reporting.target_progress(year, "94")
            if r["name"] == "kept"] == [7]
    planner.reporting.set_target(year, "94", "voluntary_si", 9, name="kept")
    assert [r["target"] for r in planner.reporting.target_progress(year, "94")
            if r["name"] == "kept"] == [9]
