"""HI cards: group table, card code, validity dates and one valid card at a time."""
import datetime as dt
import pytest

from services.enrolment.domain import REFERENCE_FILE
from services.enrolment.domain.cards import (
    card_number, card_validity, employment_group, hi_group, supersedes)
from services.enrolment.domain.contributions import RuleViolation
from shared.reference import ReferenceData

REFERENCE = ReferenceData.load(REFERENCE_FILE)
AUG_2025 = dt.date(2025, 8, 1)
D = dt.date.fromisoformat


@pytest.mark.parametrize("code,level,payer", [
    ("DN", 4, "employer_employee"), ("XK", 4, "employer_employee"), ("HT", 3, "si_fund"),
    ("TN", 4, "si_fund"), ("HN", 2, "state"), ("TE", 1, "state"), ("CC", 1, "state"),
    ("QN", 5, "state"), ("CA", 5, "state"), ("CN", 3, "state_partial"),
    ("SV", 4, "state_partial"), ("GD", 4, "household"),
])
def test_hi_group_gives_benefit_level_and_payer_by_decision_1351(code, level, payer):
    group = hi_group(REFERENCE, code, AUG_2025)
    assert (group["group_code"], group["benefit_level"], group["payer"]) == (code, level, payer)
    assert "1351/QĐ-BHXH" in group["basis"] and "(verify)" in group["basis"]


def test_every_group_code_of_the_handbook_is_in_the_table():
    codes = "DN HC HX CH NN TK XK HT TB TN HN DT TE CC QN CA CN HS SV GD".split()
    assert set(codes) <= set(REFERENCE.value("hi_groups", AUG_2025))


@pytest.mark.parametrize("code", ["ZZ", "gd", None])
def test_unknown_group_code_is_refused(code):
    with pytest.raises(RuleViolation) as err:
        hi_group(REFERENCE, code, AUG_2025)
    assert err.value.reasons["group_code"][0].startswith("unknown_group: ")


def test_card_code_is_group_level_province_and_si_code():
    code = card_number("GD", 4, "42", "4200000017")
    assert code == "GD4424200000017"
    assert len(code) == 15


@pytest.mark.parametrize("args,field", [
    (("GD", 4, "42", "420000001"), "si_code"),
    (("GD", 4, "42", "42000000170"), "si_code"),
    (("GD", 4, "42", "42000000A7"), "si_code"),
    (("GD", 4, "42", 4200000017), "si_code"),
    (("G", 4, "42", "4200000017"), "group_code"),
    (("gd", 4, "42", "4200000017"), "group_code"),
    (("GD", 6, "42", "4200000017"), "benefit_level"),
    (("GD", True, "42", "4200000017"), "benefit_level"),
    (("GD", 4, "00", "4200000017"), "province_code"),
    (("GD", 4, 42, "4200000017"), "province_code"),
])
def test_card_code_refuses_a_malformed_part(args, field):
    with pytest.raises(RuleViolation) as err:
        card_number(*args)
    assert list(err.value.reasons) == [field]


def validity(paid_on, months=12, previous_valid_to=None, participation="household", date_of_birth=None):
    return card_validity(paid_on=D(paid_on), months=months,
                         previous_valid_to=previous_valid_to and D(previous_valid_to),
                         participation=participation,
                         date_of_birth=date_of_birth and D(date_of_birth))


@pytest.mark.parametrize("kwargs,valid_from,valid_to", [
    # continuous: paid before the old card ends, the new one follows on the next day
    (dict(paid_on="2025-01-20", previous_valid_to="2025-01-31"), "2025-02-01", "2026-01-31"),
    # continuous but paid after the old card ended (under 3 months): no backdating
    (dict(paid_on="2025-03-10", previous_valid_to="2025-01-31"), "2025-03-10", "2026-03-09"),
    # exactly 3 months after the old card ended still counts as continuous
    (dict(paid_on="2025-04-30", previous_valid_to="2025-01-31"), "2025-04-30", "2026-04-29"),
    # lapsed 3+ months, household: 30 days after payment
    (dict(paid_on="2025-05-01", previous_valid_to="2025-01-31"), "2025-05-31", "2026-05-30"),
    # first-time voluntary: 30 days after payment
    (dict(paid_on="2025-03-01", participation="voluntary"), "2025-03-31", "2026-03-30"),
    # first-time employment: the day of payment
    (dict(paid_on="2025-03-01", participation="employment", months=1), "2025-03-01", "2025-03-31"),
    # lapsed employment: the day of payment, no waiting period
    (dict(paid_on="2025-06-15", participation="employment", previous_valid_to="2025-01-31"),
     "2025-06-15", "2026-06-14"),
])
def test_card_validity_start_by_participation_history(kwargs, valid_from, valid_to):
    result = validity(**kwargs)
    assert (result.valid_from, result.valid_to) == (D(valid_from), D(valid_to))
    assert result.explanation


@pytest.mark.parametrize("valid_from,months,valid_to", [
    ("2025-02-01", 12, "2026-01-31"),
    ("2025-01-31", 1, "2025-02-27"),  # 31 Jan + 1 month is 28 Feb (clamped), less one day
    ("2024-01-31", 1, "2024-02-28"),  # leap year: 29 Feb less one day
    ("2025-03-31", 6, "2025-09-29"),  # 30 Sep (clamped) less one day
    ("2025-08-31", 6, "2026-02-27"),
    ("2025-12-01", 3, "2026-02-28"),
])
def test_valid_to_is_months_on_less_one_day_clamped_to_month_end(valid_from, months, valid_to):
    assert validity(valid_from, months=months, participation="employment").valid_to == D(valid_to)


@pytest.mark.parametrize("born,valid_to", [
    ("2021-03-10", "2027-09-30"),  # 6th birthday before 30 Sep: covered to 30 Sep
    ("2020-11-15", "2026-11-14"),  # 6th birthday after 30 Sep: to the day before it
    ("2020-09-30", "2026-09-30"),
    ("2020-10-01", "2026-09-30"),
])
def test_child_under_6_is_covered_to_school_age_whatever_the_months(born, valid_to):
    result = validity("2025-01-10", months=None, participation="state", date_of_birth=born)
    assert (result.valid_from, result.valid_to) == (D("2025-01-10"), D(valid_to))


def test_a_child_of_6_gets_the_months_paid():
    result = validity("2027-03-10", months=12, participation="household", date_of_birth="2021-03-10")
    assert result.valid_to == D("2028-04-08")


@pytest.mark.parametrize("kwargs,field", [
    (dict(months=0), "months"),
    (dict(months=None), "months"),
    (dict(participation="lottery"), "participation"),
    (dict(date_of_birth="2025-02-01"), "date_of_birth"),
])
def test_card_validity_refuses_what_the_rules_do_not_allow(kwargs, field):
    with pytest.raises(RuleViolation) as err:
        validity("2025-01-10", **kwargs)
    assert list(err.value.reasons) == [field]


def test_a_payment_after_the_day_of_decision_is_refused():
    with pytest.raises(RuleViolation) as err:
        card_validity(paid_on=D("2025-02-01"), months=12, previous_valid_to=None,
                      participation="voluntary", date_of_birth=None, as_of=D("2025-01-31"))
    assert err.value.reasons["paid_on"][0].startswith("in_future: ")


def card(number, valid_from, valid_to):
    return {"card_number": number, "valid_from": D(valid_from), "valid_to": D(valid_to)}


def test_a_new_card_supersedes_every_card_valid_on_or_after_its_start():
    household = card("GD4424200000017", "2025-01-01", "2025-12-31")
    expired = card("GD4424200000017", "2024-01-01", "2024-12-31")
    later = card("HS4424200000017", "2026-01-01", "2026-09-30")
    employment = card("DN4424200000017", "2025-06-01", "2025-06-30")
    assert supersedes([later, household, expired], employment) == ["GD4424200000017", "HS4424200000017"]


def test_a_continuous_renewal_supersedes_nothing_and_not_itself():
    old = card("GD4424200000017", "2025-01-01", "2025-12-31")
    renewal = card("GD4424200000017", "2026-01-01", "2026-12-31")
    assert supersedes([old, renewal], renewal) == []


@pytest.mark.parametrize("kind,group", [("enterprise", "DN"), ("civil_service", "HC"),
                                        ("cooperative", "HX"), ("state_body", "CH"),
                                        ("foreign_organisation", "NN"), ("other_employer", "TK"),
                                        ("commune_part_time", "XK")])
def test_the_kind_of_employer_decides_the_employment_hi_group(kind, group):
    assert employment_group(REFERENCE, kind, None, dt.date(2025, 3, 1))[0] == group


def test_without_a_kind_the_declared_group_or_dn_applies():
    assert employment_group(REFERENCE, None, "HC", dt.date(2025, 3, 1))[0] == "HC"
    assert employment_group(REFERENCE, None, None, dt.date(2025, 3, 1))[0] == "DN"


@pytest.mark.parametrize("kind,group,field", [("enterprise", "HC", "group_code"),
                                              ("bakery", None, "employer_kind")])
def test_a_group_contradicting_the_kind_or_an_unknown_kind_is_refused(kind, group, field):
    with pytest.raises(RuleViolation) as err:
        employment_group(REFERENCE, kind, group, dt.date(2025, 3, 1))
    assert field in err.value.reasons
