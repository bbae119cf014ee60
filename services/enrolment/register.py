"""Applying valid intake events to the register.

Each ``apply_*`` takes the unit of work, the envelope, the loaded payload and
(except for registration) the person's locked row, changes the register,
emits what happened, and returns per-field reasons when the rules refuse the
event (nothing is changed then) or None.
"""
import datetime as dt
import json

from services.enrolment import store
from services.enrolment.domain.cards import card_number, card_validity, hi_group
from services.enrolment.domain.compulsory import salary_below_minimum
from services.enrolment.domain.contributions import RuleViolation, household_hi, voluntary_si
from services.enrolment.domain.register import registration_errors
from services.enrolment.reference import REFERENCE
from shared.envelope import coded, today_in
from shared.reference import OutOfRange

VIETNAM = dt.timezone(dt.timedelta(hours=7))
EMPLOYMENT_SCHEMES = ("compulsory_si", "health", "unemployment")
SI_SCHEMES = ("compulsory_si", "voluntary_si")


def occurred_on(envelope):
    return envelope["occurred_at"].astimezone(VIETNAM).date()


def refuse(field, code, sentence):
    return {f"payload.{field}": [coded(code, sentence)]}


def apply_person_registered(uow, envelope, person):
    registered_on = occurred_on(envelope)
    reasons = registration_errors(person, registered_on, today_in())
    if reasons:
        return {f"payload.{k}": v for k, v in reasons.items()}
    si_code = store.insert_person(uow.cursor, person, registered_on, envelope["event_id"])
    if si_code is None:
        return refuse("citizen_id", "already_registered", "this citizen id is already on the register")
    uow.emit("participant_registered", {
        "citizen_id": person["citizen_id"], "si_code": si_code,
        "date_of_birth": person["date_of_birth"].isoformat(), "sex": person["sex"],
        "province_code": person["province_code"], "district_code": person["district_code"],
        "commune_code": person["commune_code"], "household_id": person["household_id"],
        "ethnic_minority": person["ethnic_minority"],
        "registered_on": registered_on.isoformat(), "source_event_id": envelope["event_id"]})
    return None


def _date_errors(field, day, person, today):
    if day > today:
        return refuse(field, "in_future", "the date is after today")
    if day < person["date_of_birth"]:
        return refuse(field, "before_birth", "the date is before the person's birth")
    return None


def _salary_errors(salary, region, day):
    try:
        reason = salary_below_minimum(REFERENCE, salary, region, day)
    except OutOfRange as exc:
        return {"payload.monthly_salary": [coded("out_of_range", str(exc))]}
    return {"payload.monthly_salary": [reason]} if reason else None


def _start_schemes(uow, envelope, person, schemes, group_code, valid_from, employment_id):
    """Open coverage; announce schemes newly covered; issue the SI book with the first SI cover."""
    cur = uow.cursor
    already = store.active_schemes(cur, person["citizen_id"])
    for scheme in schemes:
        scheme_group = group_code if scheme == "health" else None
        store.insert_coverage(cur, person["citizen_id"], scheme, scheme_group,
                              valid_from, employment_id, envelope["event_id"])
        if scheme not in already:
            _announce_started(uow, person, scheme, scheme_group, valid_from)
    if any(s in SI_SCHEMES for s in schemes):
        _issue_book_once(uow, envelope, person)


def _announce_started(uow, person, scheme, group_code, valid_from):
    uow.emit("coverage_started", {
        "citizen_id": person["citizen_id"], "si_code": person["si_code"], "scheme": scheme,
        "group_code": group_code, "valid_from": valid_from.isoformat(),
        "province_code": person["province_code"]})


def _issue_book_once(uow, envelope, person):
    """The SI book comes with the first SI coverage; its number is the SI code."""
    issued_on = occurred_on(envelope)
    if store.issue_book(uow.cursor, person["citizen_id"], person["si_code"], issued_on):
        uow.emit("book_issued", {"citizen_id": person["citizen_id"], "book_number": person["si_code"],
                                 "issued_on": issued_on.isoformat(),
                                 "province_code": person["province_code"]})


def _announce_ended(uow, person, ended, valid_to, reason):
    still = store.active_schemes(uow.cursor, person["citizen_id"])
    for scheme in sorted(ended - still):
        uow.emit("coverage_ended", {
            "citizen_id": person["citizen_id"], "si_code": person["si_code"], "scheme": scheme,
            "valid_to": valid_to.isoformat(), "reason": reason,
            "province_code": person["province_code"]})


def _issue_card(uow, envelope, person, group_code, valid_from, valid_to, reason):
    """Issue a card; the person's valid card, if any, is superseded by it."""
    cur = uow.cursor
    level = hi_group(REFERENCE, group_code, valid_from)["benefit_level"]
    card = {"card_number": card_number(group_code, level, person["province_code"], person["si_code"]),
            "group_code": group_code, "benefit_level": level,
            "valid_from": valid_from, "valid_to": valid_to}
    current = store.valid_card(cur, person["citizen_id"])
    if current:
        store.supersede_card(cur, current["id"])
    store.insert_card(cur, card, person["citizen_id"], occurred_on(envelope), reason,
                      envelope["event_id"])
    uow.emit("card_issued", {
        "citizen_id": person["citizen_id"], "card_number": card["card_number"],
        "group_code": group_code, "benefit_level": level, "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat() if valid_to else None, "reason": reason,
        "supersedes": current["card_number"] if current else None,
        "province_code": person["province_code"]})


def _months(first, count):
    return [dt.date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
            for i in range(count)]


def apply_employment_started(uow, envelope, payload, person):
    start = payload["start_date"]
    reasons = (_date_errors("start_date", start, person, today_in())
               or _salary_errors(payload["monthly_salary"], payload["region"], start))
    if reasons:
        return reasons
    cur = uow.cursor
    if store.open_employment(cur, person["citizen_id"], payload["employer_code"]):
        return refuse("employer_code", "already_employed",
                      "an employment with this employer is already open")
    employment_id = store.insert_employment(cur, person["citizen_id"], payload["employer_code"],
                                            payload["region"], payload["group_code"], start)
    store.insert_salary(cur, employment_id, start, payload["monthly_salary"], envelope["event_id"])
    _start_schemes(uow, envelope, person, EMPLOYMENT_SCHEMES, payload["group_code"], start,
                   employment_id)
    _issue_card(uow, envelope, person, payload["group_code"], start, None, "employment")
    return None


def _open_employment_on(cur, person, payload, field):
    """The open employment a change or an end refers to, and the reasons if none fits."""
    employment = store.open_employment(cur, person["citizen_id"], payload["employer_code"])
    if employment is None:
        return None, refuse("employer_code", "no_open_employment",
                            "no open employment with this employer")
    day = payload[field]
    if day < employment["start_date"]:
        return None, refuse(field, "before_start", "the date is before the employment started")
    return employment, _date_errors(field, day, person, today_in())


def apply_employment_changed(uow, envelope, payload, person):
    cur, day = uow.cursor, payload["effective_date"]
    employment, reasons = _open_employment_on(cur, person, payload, "effective_date")
    reasons = reasons or (employment and _salary_errors(
        payload["monthly_salary"], employment["region"], day))
    if reasons:
        return reasons
    store.insert_salary(cur, employment["id"], day, payload["monthly_salary"], envelope["event_id"])
    return None


def apply_employment_ended(uow, envelope, payload, person):
    cur, end = uow.cursor, payload["end_date"]
    employment, reasons = _open_employment_on(cur, person, payload, "end_date")
    if reasons:
        return reasons
    store.end_employment(cur, employment["id"], end, payload["reason"])
    store.close_open_card(cur, person["citizen_id"], employment["group_code"], end)
    ended = store.end_coverages(cur, person["citizen_id"], end, employment_id=employment["id"])
    _announce_ended(uow, person, ended, end, "employment_ended")
    return None


def apply_person_died(uow, envelope, payload, person):
    died = payload["date_of_death"]
    reasons = _date_errors("date_of_death", died, person, today_in())
    if reasons:
        return reasons
    cur = uow.cursor
    store.mark_deceased(cur, person["citizen_id"], died)
    store.end_open_employments(cur, person["citizen_id"], died, "death")
    card = store.valid_card(cur, person["citizen_id"])
    if card:
        store.supersede_card(cur, card["id"], "invalidated", min(card["valid_to"] or died, died))
    ended = store.end_coverages(cur, person["citizen_id"], died)
    _announce_ended(uow, person, ended, died, "death")
    uow.emit("participant_died", {"citizen_id": person["citizen_id"], "si_code": person["si_code"],
                                  "date_of_death": died.isoformat(),
                                  "province_code": person["province_code"]})
    return None


def _priced(price, *args, date_field="payload.period_start"):
    """A pricing rule's refusals as per-field reasons under ``payload.``."""
    try:
        return price(REFERENCE, *args), None
    except RuleViolation as exc:
        return None, {f"payload.{k}": v for k, v in exc.reasons.items()}
    except OutOfRange as exc:
        return None, {date_field: [coded("out_of_range", str(exc))]}


def _amount_errors(paid, expected, what):
    if paid == expected:
        return None
    return refuse("amount_paid", "amount_mismatch",
                  f"expected {expected:,} VND for {what}, got {paid:,} VND")


def _contribution_events(uow, person, rows, scheme):
    for row in rows:
        uow.emit("contribution_recorded", {
            "citizen_id": person["citizen_id"], "si_code": person["si_code"], "scheme": scheme,
            "month": row["month"].strftime("%Y-%m"), "contribution_wage": row.get("contribution_wage"),
            "amount": row["amount"], "state_support": row.get("state_support", 0),
            "province_code": person["province_code"]})


def apply_contribution_paid(uow, envelope, payload, person):
    if payload["scheme"] == "voluntary_si":
        return _voluntary_si_paid(uow, envelope, payload, person)
    return _household_hi_paid(uow, envelope, payload, person)


def _already_paid(cur, person, scheme, months):
    paid = store.months_paid(cur, person["citizen_id"], scheme, months)
    if paid:
        return refuse("period_start", "already_paid", "already paid for "
                      + ", ".join(sorted(m.strftime("%Y-%m") for m in paid)))
    return None


def _voluntary_si_paid(uow, envelope, payload, person):
    cur, first = uow.cursor, payload["period_start"]
    if "compulsory_si" in store.active_schemes(cur, person["citizen_id"]):
        return refuse("scheme", "in_compulsory_si",
                      "a person in compulsory SI cannot also pay voluntary SI")
    if _add_years(person["date_of_birth"], 15) > first:
        return refuse("period_start", "too_young", "voluntary SI is from the age of 15")
    group = payload["support_group"] or "other"
    priced, reasons = _priced(voluntary_si, payload["declared_income"], payload["months"], group, first)
    if reasons:
        return reasons
    amounts = priced.amounts
    months = _months(first, payload["months"])
    reasons = (_amount_errors(payload["amount_paid"], amounts["total_payable"],
                              f"{payload['months']} months at {payload['declared_income']:,} VND,"
                              f" support group {group}")
               or _already_paid(cur, person, "voluntary_si", months))
    if reasons:
        return reasons
    rows = [{"citizen_id": person["citizen_id"], "scheme": "voluntary_si", "month": month,
             "contribution_wage": payload["declared_income"], "amount": amounts["monthly_payable"],
             "state_support": amounts["monthly_state_support"], "channel": payload["channel"],
             "details": json.dumps({"support_group": group}), "source_event_id": envelope["event_id"]}
            for month in months]
    store.record_contributions(cur, rows)
    last_day = _months(months[-1], 2)[1] - dt.timedelta(days=1)
    if store.extend_or_open_coverage(cur, person["citizen_id"], "voluntary_si", None, first,
                                     last_day, envelope["event_id"]):
        _announce_started(uow, person, "voluntary_si", None, first)
    _issue_book_once(uow, envelope, person)
    _contribution_events(uow, person, [dict(r, amount=amounts["monthly_gross"]) for r in rows],
                         "voluntary_si")
    return None


def _household_hi_paid(uow, envelope, payload, person):
    cur, first = uow.cursor, payload["period_start"]
    position = store.household_members_paying(cur, payload["household_id"], first,
                                              person["citizen_id"]) + 1
    priced, reasons = _priced(household_hi, position, payload["months"], first)
    if reasons:
        return reasons
    member = priced.amounts["members"][position - 1]
    months = _months(first, payload["months"])
    reasons = (_amount_errors(payload["amount_paid"], member["total"],
                              f"household member {position} for {payload['months']} months")
               or _already_paid(cur, person, "household_hi", months))
    if reasons:
        return reasons
    validity, reasons = _validity(occurred_on(envelope), payload["months"], person, "household", cur)
    if reasons:
        return reasons
    rows = [{"citizen_id": person["citizen_id"], "scheme": "household_hi", "month": month,
             "amount": member["monthly"], "household_id": payload["household_id"],
             "household_position": position, "channel": payload["channel"],
             "source_event_id": envelope["event_id"]} for month in months]
    store.record_contributions(cur, rows)
    _cover_health(uow, envelope, person, "GD", validity, "household")
    _contribution_events(uow, person, rows, "household_hi")
    return None


def _validity(paid_on, months, person, participation, cur):
    try:
        return card_validity(paid_on=paid_on, months=months,
                             previous_valid_to=store.last_card_end(cur, person["citizen_id"]),
                             participation=participation, date_of_birth=person["date_of_birth"],
                             as_of=max(paid_on, today_in())), None
    except RuleViolation as exc:
        return None, {f"payload.{k}": v for k, v in exc.reasons.items()}


def _cover_health(uow, envelope, person, group_code, validity, reason):
    if store.extend_or_open_coverage(uow.cursor, person["citizen_id"], "health", group_code,
                                     validity.valid_from, validity.valid_to, envelope["event_id"]):
        _announce_started(uow, person, "health", group_code, validity.valid_from)
    _issue_card(uow, envelope, person, group_code, validity.valid_from, validity.valid_to, reason)


PAYER_PARTICIPATION = {"state": "state", "household": "household", "employer": "employment",
                       "sponsor": "sponsor"}


def apply_health_enrolled(uow, envelope, payload, person):
    try:
        hi_group(REFERENCE, payload["group_code"], payload["valid_from"])
    except RuleViolation as exc:
        return {f"payload.{k}": v for k, v in exc.reasons.items()}
    validity, reasons = _validity(payload["valid_from"], payload["months"], person,
                                  PAYER_PARTICIPATION[payload["payer"]], uow.cursor)
    if reasons:
        return reasons
    _cover_health(uow, envelope, person, payload["group_code"], validity, "enrolment")
    return None


def apply_sponsorship_granted(uow, envelope, grant, person):
    """A sponsor pays a health card or voluntary SI (with a book) for a person in hardship.

    The amount must be what the rules charge: a health card as a household's
    first member, voluntary SI on the rural poverty line with the support of
    group 'other'. Grants past the programme's budget are refused.
    """
    cur, granted_on = uow.cursor, occurred_on(envelope)
    programme = store.lock_programme(cur, grant["programme_code"])
    if programme is None:
        return refuse("programme_code", "unknown_programme", "no programme with this code")
    if grant["sponsor"] not in programme["sponsors"]:
        return refuse("sponsor", "unknown_sponsor", "not a sponsor of this programme")
    remaining = programme["budget"] - programme["spent"]
    if grant["amount"] > remaining:
        return refuse("amount", "over_budget", f"the programme has {remaining:,} VND left")
    poverty_line = REFERENCE.value("rural_poverty_line", granted_on)
    if grant["benefit"] == "health_card":
        priced, reasons = _priced(household_hi, 1, 12, granted_on, date_field="occurred_at")
    else:
        priced, reasons = _priced(voluntary_si, poverty_line, grant["months"], "other", granted_on,
                                  date_field="occurred_at")
    if reasons:
        return reasons
    expected = (priced.amounts["members"][0]["monthly"] * grant["months"]
                if grant["benefit"] == "health_card" else priced.amounts["total_payable"])
    if grant["amount"] != expected:
        return refuse("amount", "amount_mismatch", f"expected {expected:,} VND for a"
                      f" {grant['benefit']} of {grant['months']} months, got {grant['amount']:,} VND")
    if grant["benefit"] == "health_card":
        validity, reasons = _validity(granted_on, grant["months"], person, "sponsor", cur)
        if reasons:
            return reasons
        _cover_health(uow, envelope, person, "GD", validity, "sponsorship")
    else:
        reasons = _sponsored_voluntary_si(uow, envelope, person, grant, priced, poverty_line, granted_on)
        if reasons:
            return reasons
    store.record_grant(cur, envelope["event_id"], grant, granted_on)
    uow.emit("sponsorship_granted", {
        "programme_code": grant["programme_code"], "sponsor": grant["sponsor"],
        "citizen_id": person["citizen_id"], "benefit": grant["benefit"], "months": grant["months"],
        "amount": grant["amount"], "granted_on": granted_on.isoformat(),
        "province_code": person["province_code"]})
    return None


def _sponsored_voluntary_si(uow, envelope, person, grant, priced, income, granted_on):
    cur = uow.cursor
    if "compulsory_si" in store.active_schemes(cur, person["citizen_id"]):
        return refuse("citizen_id", "in_compulsory_si",
                      "a person in compulsory SI cannot also pay voluntary SI")
    first = granted_on.replace(day=1)
    months = _months(first, grant["months"])
    reasons = _already_paid(cur, person, "voluntary_si", months)
    if reasons:
        return reasons
    amounts = priced.amounts
    rows = [{"citizen_id": person["citizen_id"], "scheme": "voluntary_si", "month": month,
             "contribution_wage": income, "amount": amounts["monthly_payable"],
             "state_support": amounts["monthly_state_support"], "channel": "sponsor",
             "details": json.dumps({"support_group": "other", "sponsor": grant["sponsor"],
                                    "programme_code": grant["programme_code"]}, ensure_ascii=False),
             "source_event_id": envelope["event_id"]} for month in months]
    store.record_contributions(cur, rows)
    last_day = _months(months[-1], 2)[1] - dt.timedelta(days=1)
    if store.extend_or_open_coverage(cur, person["citizen_id"], "voluntary_si", None, first,
                                     last_day, envelope["event_id"]):
        _announce_started(uow, person, "voluntary_si", None, first)
    _issue_book_once(uow, envelope, person)
    _contribution_events(uow, person, [dict(r, amount=amounts["monthly_gross"]) for r in rows],
                         "voluntary_si")
    return None


def _add_years(day, years):
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 Feb
        return day.replace(year=day.year + years, day=28)


APPLY_TO_PERSON = {
    "sponsorship.granted": apply_sponsorship_granted,
    "contribution.paid": apply_contribution_paid,
    "health.enrolled": apply_health_enrolled,
    "employment.started": apply_employment_started,
    "employment.changed": apply_employment_changed,
    "employment.ended": apply_employment_ended,
    "person.died": apply_person_died,
}
