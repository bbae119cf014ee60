"""The demo's synthetic province: reproducible, valid against the intake contract, priced exactly.

The events are replayed here against the contract's rules that need no
database (envelope, payload schemas, citizen-id digits, registration rules,
wage floors, prices, order per person); tests/e2e/test_demo_data.py publishes
them to the real services.
"""
import datetime as dt
import json
from collections import Counter, defaultdict

import pytest

from deploy.synthetic import SyntheticProvince, generate, olds_of
from services.enrolment.domain.cards import hi_group
from services.enrolment.domain.citizen_id import citizen_id_contradictions, citizen_id_format_errors
from services.enrolment.domain.compulsory import salary_below_minimum
from services.enrolment.domain.contributions import household_hi, voluntary_si
from services.enrolment.domain.register import registration_errors
from services.enrolment.reference import REFERENCE
from services.enrolment.schemas import PAYLOAD_SCHEMAS
from shared.envelope import parse_envelope
from shared.provinces import REORGANISED_ON, provinces_on

TODAY = dt.date(2026, 11, 23)
VIETNAM = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture(scope="module")
def province():
    made = SyntheticProvince("42", 3_000, seed=7, today=TODAY)
    made.event_list = list(made.events())
    return made


def event_day(envelope):
    return dt.datetime.fromisoformat(envelope["occurred_at"]).astimezone(VIETNAM).date()


def month(text):
    return dt.date.fromisoformat(text + "-01")


def months_of(first, count):
    return [(first.year * 12 + first.month - 1 + i) for i in range(count)]


def test_the_same_seed_gives_the_same_events_and_another_seed_others():
    first = list(generate("42", 500, seed=11, today=TODAY))
    assert first == list(generate("42", 500, seed=11, today=TODAY))
    other = list(generate("42", 500, seed=12, today=TODAY))
    assert {e["event_id"] for _, e in first}.isdisjoint({e["event_id"] for _, e in other})
    assert [e["payload"] for _, e in first] != [e["payload"] for _, e in other]


def test_every_envelope_and_payload_loads_as_the_contract_says(province):
    ids = set()
    for event_type, envelope in province.event_list:
        loaded, reasons = parse_envelope(json.dumps(envelope).encode("utf-8"), event_type)
        assert reasons == {}, (event_type, envelope)
        assert loaded["event_type"] == event_type
        PAYLOAD_SCHEMAS[event_type].load(envelope["payload"])   # raises on any shape error
        ids.add(envelope["event_id"])
    assert len(ids) == len(province.event_list)
    kinds = Counter(t for t, _ in province.event_list)
    assert set(kinds) == set(PAYLOAD_SCHEMAS), kinds


def test_citizen_ids_satisfy_the_digit_rules_and_agree_with_sex_and_birth_year(province):
    registrations = [e["payload"] for t, e in province.event_list if t == "person.registered"]
    assert len(registrations) == 3_000
    assert len({p["citizen_id"] for p in registrations}) == 3_000
    for person in registrations:
        citizen_id, born = person["citizen_id"], dt.date.fromisoformat(person["date_of_birth"])
        assert citizen_id_format_errors(citizen_id) == []
        assert citizen_id_contradictions(citizen_id, person["sex"], born) == {}
        century = 1900 if citizen_id[3] in "01" else 2000
        assert century + int(citizen_id[4:6]) == born.year
        assert ("male", "female")[int(citizen_id[3]) % 2] == person["sex"]


def test_registrations_pass_the_register_rules_of_their_date(province):
    for event_type, envelope in province.event_list:
        if event_type != "person.registered":
            continue
        person = PAYLOAD_SCHEMAS[event_type].load(envelope["payload"])
        registered_on = event_day(envelope)
        assert registration_errors(person, registered_on, TODAY) == {}
        assert person["province_code"] in provinces_on(registered_on)


def test_a_merged_province_registers_in_its_old_units_before_july_2025_and_its_new_code_after():
    seen = defaultdict(set)
    for event_type, envelope in generate("25", 1_500, seed=3, today=TODAY):
        if event_type == "person.registered":
            seen[event_day(envelope) >= REORGANISED_ON].add(envelope["payload"]["province_code"])
            if event_day(envelope) >= REORGANISED_ON:
                assert envelope["payload"].get("district_code") is None
    assert seen[True] == {"25"}
    assert seen[False] <= set(olds_of("25")) and len(seen[False]) > 1


def test_each_persons_events_replay_in_a_valid_order_with_exact_amounts(province):
    """A replay of the register's rules that need no database, in publish order."""
    people, open_jobs, paid = {}, defaultdict(dict), defaultdict(set)
    supported = Counter()
    household_positions = Counter()
    died = set()
    programme = province.programme()
    spent = 0
    last_day = TODAY - dt.timedelta(days=1)
    for event_type, envelope in province.event_list:
        payload, day = envelope["payload"], event_day(envelope)
        assert dt.date(2016, 1, 1) <= day <= last_day
        citizen_id = payload["citizen_id"]
        if event_type == "person.registered":
            assert citizen_id not in people
            people[citizen_id] = dt.date.fromisoformat(payload["date_of_birth"])
            continue
        assert citizen_id in people, "registered first"
        assert citizen_id not in died, "nothing after a death"
        born = people[citizen_id]
        jobs = open_jobs[citizen_id]
        if event_type == "employment.started":
            start = dt.date.fromisoformat(payload["start_date"])
            assert born <= start <= last_day and payload["employer_code"] not in jobs
            assert salary_below_minimum(REFERENCE, payload["monthly_salary"], payload["region"],
                                        start) is None
            if payload.get("group_code"):
                assert REFERENCE.value("employer_kind_groups", day)[payload["employer_kind"]] \
                    == payload["group_code"]
            jobs[payload["employer_code"]] = (start, payload["region"])
        elif event_type == "employment.changed":
            start, region = jobs[payload["employer_code"]]
            effective = dt.date.fromisoformat(payload["effective_date"])
            assert start <= effective <= last_day
            assert salary_below_minimum(REFERENCE, payload["monthly_salary"], region, effective) is None
        elif event_type == "employment.ended":
            start, _ = jobs.pop(payload["employer_code"])
            assert start <= dt.date.fromisoformat(payload["end_date"]) <= last_day
        elif event_type == "contribution.paid":
            first = month(payload["period_start"])
            months = months_of(first, payload["months"])
            assert not paid[(citizen_id, payload["scheme"])] & set(months), "already_paid"
            paid[(citizen_id, payload["scheme"])].update(months)
            if payload["scheme"] == "voluntary_si":
                assert not jobs, "in_compulsory_si"
                assert born.replace(year=born.year + 15) <= first or (born.month, born.day) == (2, 29)
                priced = voluntary_si(REFERENCE, payload["declared_income"], payload["months"],
                                      payload["support_group"], first, supported[citizen_id]).amounts
                assert payload["amount_paid"] == priced["total_payable"]
                supported[citizen_id] += priced["supported_months"]
            else:
                key = (payload["household_id"], payload["period_start"])
                household_positions[key] += 1
                position = household_positions[key]
                priced = household_hi(REFERENCE, position, payload["months"], first).amounts
                assert payload["amount_paid"] == priced["members"][position - 1]["total"]
        elif event_type == "health.enrolled":
            hi_group(REFERENCE, payload["group_code"], day)   # in the table on the event date
            assert dt.date.fromisoformat(payload["valid_from"]) >= born
        elif event_type == "sponsorship.granted":
            assert payload["programme_code"] == programme["programme_code"]
            assert payload["sponsor"] in programme["sponsors"]
            if payload["benefit"] == "health_card":
                expected = household_hi(REFERENCE, 1, 12, day).amounts["members"][0]["monthly"] \
                    * payload["months"]
            else:
                assert not jobs, "in_compulsory_si"
                poverty_line = REFERENCE.value("rural_poverty_line", day)
                expected = voluntary_si(REFERENCE, poverty_line, payload["months"], "other", day,
                                        supported[citizen_id]).amounts["total_payable"]
                months = months_of(day.replace(day=1), payload["months"])
                assert not paid[(citizen_id, "voluntary_si")] & set(months)
                paid[(citizen_id, "voluntary_si")].update(months)
            assert payload["amount"] == expected
            spent += payload["amount"]
        elif event_type == "person.died":
            assert born <= dt.date.fromisoformat(payload["date_of_death"]) <= last_day
            died.add(citizen_id)
    assert spent <= programme["budget"]
    assert len(supported) > 0 and len(household_positions) > 0


def test_the_programme_has_seven_sponsors_the_goal_of_the_news_and_a_budget_that_covers_it(province):
    programme = province.programme()
    assert len(programme["sponsors"]) == 7 and len(set(programme["sponsors"])) == 7
    assert (programme["goal_books"], programme["goal_cards"]) == (630, 1_260)
    assert programme["budget"] >= 630 * province.book_price() + 1_260 * province.card_price()
    grants = Counter(e["payload"]["benefit"] for t, e in province.event_list if t == "sponsorship.granted")
    # 3,000 people: 3% of the share a province of 100,000 gets
    assert grants == {"si_book": round(630 * 0.85 * 0.03), "health_card": round(1_260 * 0.85 * 0.03)}


def test_the_province_has_the_structure_and_the_shares_of_the_handbook(province):
    stats = province.stats
    people = [e["payload"] for t, e in province.event_list if t == "person.registered"]
    ages = [(TODAY - dt.date.fromisoformat(p["date_of_birth"])).days / 365.25 for p in people]
    share = lambda test: sum(1 for a in ages if test(a)) / len(ages)  # noqa: E731
    assert 0.19 <= share(lambda a: a < 15) <= 0.27           # 22.8% in the pyramid
    assert 0.62 <= share(lambda a: 15 <= a < 60) <= 0.72     # 67.6%
    assert 0.07 <= share(lambda a: a >= 65) <= 0.13          # 9.5%
    assert 0.47 <= stats["sex.male"] / stats["population"] <= 0.53
    households = Counter(p["household_id"] for p in people)
    assert 3.1 <= len(people) / len(households) <= 3.8       # about 3.5 people
    walf = stats["working_age_labour_force"]
    assert abs(stats["employed"] / walf - 0.386) < 0.02      # compulsory SI
    assert abs(stats["voluntary"] / walf - 0.065) < 0.02     # voluntary SI paying now
    assert abs(stats["health_covered"] / stats["population"] - 0.9516) < 0.02
    assert 0.002 <= stats["deaths"] / stats["people"] <= 0.012
    kinds = Counter(e["payload"]["employer_kind"] for t, e in province.event_list
                    if t == "employment.started")
    assert kinds.most_common(1)[0][0] == "enterprise" and len(kinds) >= 5
    regions = Counter(e["payload"]["region"] for t, e in province.event_list
                      if t == "employment.started")
    assert regions[1] == 0 and regions[3] + regions[4] > regions[2]   # Hà Tĩnh: regions 2-4
    groups = Counter(e["payload"]["group_code"] for t, e in province.event_list
                     if t == "health.enrolled")
    assert {"TE", "HS", "HN", "CN", "HT"} <= set(groups)
    assert stats["events.employment.changed"] > 0 and stats["events.employment.ended"] > 0


def test_careers_reach_back_to_1995_and_claims_rest_on_their_months(province):
    starts = [dt.date.fromisoformat(e["payload"]["start_date"]) for t, e in province.event_list
              if t == "employment.started"]
    assert min(starts) < dt.date(2000, 1, 1) and min(starts) >= dt.date(1995, 1, 1)
    claims = [c for h in province.households() for c in h.claims]
    kinds = Counter(c["kind"] for c in claims)
    assert kinds["pension"] and kinds["lump_sum"] and kinds["unemployment"]
    for claim in claims:
        assert dt.date.fromisoformat(claim["claim_date"]) < TODAY
        if claim["kind"] == "pension":
            assert claim["expected_months"] >= 180
        if claim["kind"] == "lump_sum":
            assert 0 < claim["expected_months"] < 240 and claim["reason"] == "out_of_system"
