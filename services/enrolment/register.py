"""Applying valid intake events to the register.

Each ``apply_*`` takes the unit of work, the envelope, the loaded payload and
(except for registration) the person's locked row, changes the register,
emits what happened, and returns per-field reasons when the rules refuse the
event (nothing is changed then) or None.
"""
import datetime as dt

from services.enrolment import store
from services.enrolment.domain.compulsory import salary_below_minimum
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
        store.insert_coverage(cur, person["citizen_id"], scheme,
                              group_code if scheme == "health" else None,
                              valid_from, employment_id, envelope["event_id"])
        if scheme not in already:
            uow.emit("coverage_started", {
                "citizen_id": person["citizen_id"], "si_code": person["si_code"], "scheme": scheme,
                "group_code": group_code if scheme == "health" else None,
                "valid_from": valid_from.isoformat(), "province_code": person["province_code"]})
    issued_on = occurred_on(envelope)
    if any(s in SI_SCHEMES for s in schemes) and store.issue_book(
            cur, person["citizen_id"], person["si_code"], issued_on):
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
    return None


def apply_employment_changed(uow, envelope, payload, person):
    cur = uow.cursor
    employment = store.open_employment(cur, person["citizen_id"], payload["employer_code"])
    if employment is None:
        return refuse("employer_code", "no_open_employment",
                      "no open employment with this employer")
    day = payload["effective_date"]
    if day < employment["start_date"]:
        return refuse("effective_date", "before_start", "the change is before the employment started")
    reasons = (_date_errors("effective_date", day, person, today_in())
               or _salary_errors(payload["monthly_salary"], employment["region"], day))
    if reasons:
        return reasons
    store.insert_salary(cur, employment["id"], day, payload["monthly_salary"], envelope["event_id"])
    return None


def apply_employment_ended(uow, envelope, payload, person):
    cur = uow.cursor
    employment = store.open_employment(cur, person["citizen_id"], payload["employer_code"])
    if employment is None:
        return refuse("employer_code", "no_open_employment",
                      "no open employment with this employer")
    end = payload["end_date"]
    if end < employment["start_date"]:
        return refuse("end_date", "before_start", "the employment ends before it started")
    if end > today_in():
        return refuse("end_date", "in_future", "the date is after today")
    store.end_employment(cur, employment["id"], end, payload["reason"])
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
    ended = store.end_coverages(cur, person["citizen_id"], died)
    _announce_ended(uow, person, ended, died, "death")
    uow.emit("participant_died", {"citizen_id": person["citizen_id"], "si_code": person["si_code"],
                                  "date_of_death": died.isoformat(),
                                  "province_code": person["province_code"]})
    return None


APPLY_TO_PERSON = {
    "employment.started": apply_employment_started,
    "employment.changed": apply_employment_changed,
    "employment.ended": apply_employment_ended,
    "person.died": apply_person_died,
}
