"""Applying valid intake events to the register.

Each ``apply_*`` takes the unit of work, the envelope, the loaded payload and
(except for registration) the person's locked row, changes the register,
emits what happened, and returns per-field reasons when the rules refuse the
event (nothing is changed then) or None. Reads and writes of the person's
register go through ``uow.state`` (a ``RegisterState``: what the batch knows
of its people, kept in step with its writes), the rest through ``store``.
"""
import datetime as dt
import json

from services.enrolment import store
from services.enrolment.domain.cards import card_number, card_validity, employment_group, hi_group
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
    si_code = uow.state.register(person, registered_on, envelope["event_id"])
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
    already = uow.state.active_schemes(person["citizen_id"])
    uow.state.insert_coverages([
        (person["citizen_id"], scheme, group_code if scheme == "health" else None, valid_from,
         employment_id, envelope["event_id"], scheme not in already) for scheme in schemes])
    for scheme in schemes:
        if scheme not in already:
            _announce_started(uow, person, scheme, group_code if scheme == "health" else None,
                              valid_from)
    if any(s in SI_SCHEMES for s in schemes):
        _issue_book_once(uow, envelope, person)


def _announce_started(uow, person, scheme, group_code, valid_from, resumed=False):
    """``resumed``: a lapsed paid period taken up again for the months right after it."""
    uow.emit("coverage_started", {
        "citizen_id": person["citizen_id"], "si_code": person["si_code"], "scheme": scheme,
        "group_code": group_code, "valid_from": valid_from.isoformat(), "resumed": resumed,
        "province_code": person["province_code"], "commune_code": person["commune_code"]})


def _issue_book_once(uow, envelope, person):
    """The SI book comes with the first SI coverage; its number is the SI code."""
    issued_on = occurred_on(envelope)
    if uow.state.issue_book(person["citizen_id"], person["si_code"], issued_on):
        uow.emit("book_issued", {"citizen_id": person["citizen_id"], "book_number": person["si_code"],
                                 "issued_on": issued_on.isoformat(),
                                 "province_code": person["province_code"]})


def _announce_ended(uow, person, ended, valid_to, reason):
    gone = sorted(ended - uow.state.active_schemes(person["citizen_id"]))
    groups = uow.state.announced_groups(person["citizen_id"], gone) if gone else {}
    for scheme in gone:
        announce_ended(uow, person, scheme, valid_to, reason, groups.get(scheme))


UNREAD = object()


def announce_ended(uow, person, scheme, valid_to, reason, group_code=UNREAD):
    """``coverage_ended`` with the HI group the person entered the scheme with
    (read here unless given)."""
    if group_code is UNREAD:
        group_code = store.announced_group(uow.cursor, person["citizen_id"], scheme)
    uow.emit("coverage_ended", {
        "citizen_id": person["citizen_id"], "si_code": person["si_code"], "scheme": scheme,
        "group_code": group_code,
        "valid_to": valid_to.isoformat(), "reason": reason,
        "province_code": person["province_code"], "commune_code": person["commune_code"]})


def _card_level(group_code, issued_on, field="payload.group_code"):
    """``(benefit_level, reasons)`` of a card of ``group_code`` issued on ``issued_on``.

    Checked before anything changes: a rejected event must have no effect.
    """
    try:
        return hi_group(REFERENCE, group_code, issued_on)["benefit_level"], None
    except RuleViolation as exc:
        return None, {f"payload.{k}": v for k, v in exc.reasons.items()}
    except OutOfRange as exc:
        return None, {"occurred_at": [coded("out_of_range", f"no HI group table on"
                                            f" {issued_on.isoformat()}: {exc}")]}


def _issue_card(uow, envelope, person, group_code, level, valid_from, valid_to, reason,
                employment_id=None):
    """Issue a card; the person's valid card, if any, is superseded by it."""
    state = uow.state
    card = {"card_number": card_number(group_code, level, person["province_code"], person["si_code"]),
            "group_code": group_code, "benefit_level": level,
            "valid_from": valid_from, "valid_to": valid_to, "employment_id": employment_id}
    current = state.valid_card(person["citizen_id"])
    if current:
        state.supersede_card(person["citizen_id"], current)
    state.insert_card(person["citizen_id"], card, occurred_on(envelope), reason,
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


def _group_of_employment(payload, day):
    try:
        group, _ = employment_group(REFERENCE, payload["employer_kind"], payload["group_code"], day)
    except RuleViolation as exc:
        return None, {f"payload.{k}": v for k, v in exc.reasons.items()}
    except OutOfRange as exc:
        return None, {"payload.employer_kind": [coded("out_of_range", str(exc))]}
    return group, None


def apply_employment_started(uow, envelope, payload, person):
    start = payload["start_date"]
    reasons = (_date_errors("start_date", start, person, today_in())
               or _salary_errors(payload["monthly_salary"], payload["region"], start))
    if reasons:
        return reasons
    group, reasons = _group_of_employment(payload, occurred_on(envelope))
    level, reasons = (None, reasons) if reasons else _card_level(group, occurred_on(envelope))
    if reasons:
        return reasons
    if uow.state.open_employment(person["citizen_id"], payload["employer_code"]):
        return refuse("employer_code", "already_employed",
                      "an employment with this employer is already open")
    employment_id = uow.state.start_employment(
        person["citizen_id"], payload["employer_code"], payload["region"], group, start,
        payload["monthly_salary"], envelope["event_id"])
    _start_schemes(uow, envelope, person, EMPLOYMENT_SCHEMES, group, start, employment_id)
    _issue_card(uow, envelope, person, group, level, start, None, "employment", employment_id)
    uow.emit("employment_started", {
        "citizen_id": person["citizen_id"], "si_code": person["si_code"],
        "employer_code": payload["employer_code"], "region": payload["region"],
        "group_code": group, "start_date": start.isoformat(),
        "monthly_salary": payload["monthly_salary"], "province_code": person["province_code"]})
    return None


def _open_employment_on(state, person, payload, field):
    """The open employment a change or an end refers to, and the reasons if none fits."""
    employment = state.open_employment(person["citizen_id"], payload["employer_code"])
    if employment is None:
        return None, refuse("employer_code", "no_open_employment",
                            "no open employment with this employer")
    day = payload[field]
    if day < employment["start_date"]:
        return None, refuse(field, "before_start", "the date is before the employment started")
    return employment, _date_errors(field, day, person, today_in())


def apply_employment_changed(uow, envelope, payload, person):
    cur, day = uow.cursor, payload["effective_date"]
    employment, reasons = _open_employment_on(uow.state, person, payload, "effective_date")
    reasons = reasons or (employment and _salary_errors(
        payload["monthly_salary"], employment["region"], day))
    if reasons:
        return reasons
    store.insert_salary(cur, employment["id"], day, payload["monthly_salary"], envelope["event_id"])
    return None


def apply_employment_ended(uow, envelope, payload, person):
    state, cid, end = uow.state, person["citizen_id"], payload["end_date"]
    employment, reasons = _open_employment_on(state, person, payload, "end_date")
    if reasons:
        return reasons
    other = state.other_open_employment(cid, employment["id"])
    level = None
    if other:
        level, reasons = _card_level(other["group_code"], occurred_on(envelope))
        if reasons:
            return reasons
    state.end_employment(cid, employment, end, payload["reason"])
    card = state.valid_card(cid)
    if card and card["employment_id"] == employment["id"]:
        if other:
            # still employed elsewhere: that employment's card takes over the next day
            _issue_card(uow, envelope, person, other["group_code"], level, end + dt.timedelta(days=1),
                        None, "employment", other["id"])
        else:
            state.set_card_end(cid, card, end)
    ended = state.end_coverages(cid, end, employment_id=employment["id"])
    _announce_ended(uow, person, ended, end, "employment_ended")
    _announce_employment_ended(uow, person, payload["employer_code"], end, payload["reason"])
    return None


def _announce_employment_ended(uow, person, employer_code, end, reason):
    uow.emit("employment_ended", {
        "citizen_id": person["citizen_id"], "si_code": person["si_code"],
        "employer_code": employer_code, "end_date": end.isoformat(), "reason": reason,
        "province_code": person["province_code"]})


def apply_person_died(uow, envelope, payload, person):
    died = payload["date_of_death"]
    reasons = _date_errors("date_of_death", died, person, today_in())
    if reasons:
        return reasons
    state, cid = uow.state, person["citizen_id"]
    state.mark_deceased(person, died)
    for job in state.end_open_employments(cid, died, "death"):
        _announce_employment_ended(uow, person, job["employer_code"], job["end_date"], "death")
    card = state.valid_card(cid)
    if card:
        state.supersede_card(cid, card, "invalidated", min(card["valid_to"] or died, died))
    ended = state.end_coverages(cid, died)
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


def _already_paid(uow, person, scheme, months):
    paid = uow.state.months_paid(person["citizen_id"], scheme, months)
    if paid:
        return refuse("period_start", "already_paid", "already paid for "
                      + ", ".join(sorted(m.strftime("%Y-%m") for m in paid)))
    return None


def _voluntary_si_paid(uow, envelope, payload, person):
    first = payload["period_start"]
    if "compulsory_si" in uow.state.active_schemes(person["citizen_id"]):
        return refuse("scheme", "in_compulsory_si",
                      "a person in compulsory SI cannot also pay voluntary SI")
    if _add_years(person["date_of_birth"], 15) > first:
        return refuse("period_start", "too_young", "voluntary SI is from the age of 15")
    group = payload["support_group"] or "other"
    used = uow.state.supported_months(person["citizen_id"])
    priced, reasons = _priced(voluntary_si, payload["declared_income"], payload["months"], group,
                              first, used)
    if reasons:
        return reasons
    months = _months(first, payload["months"])
    limited = (f", {priced.amounts['supported_months']} of them with state support"
               if priced.amounts["supported_months"] < payload["months"] else "")
    reasons = (_amount_errors(payload["amount_paid"], priced.amounts["total_payable"],
                              f"{payload['months']} months at {payload['declared_income']:,} VND,"
                              f" support group {group}{limited}")
               or _already_paid(uow, person, "voluntary_si", months))
    if reasons:
        return reasons
    _record_voluntary_si(uow, envelope, person, months, payload["declared_income"], priced,
                         payload["channel"], {"support_group": group})
    return None


def _record_voluntary_si(uow, envelope, person, months, income, priced, channel, details):
    """Voluntary SI months paid: contributions, coverage, the book, contribution_recorded."""
    amounts = priced.amounts
    supported = amounts["supported_months"]
    rows = [{"citizen_id": person["citizen_id"], "scheme": "voluntary_si", "month": month,
             "contribution_wage": income,
             "amount": amounts["monthly_payable"] if n < supported else amounts["monthly_gross"],
             "state_support": amounts["monthly_state_support"] if n < supported else 0,
             "channel": channel, "details": json.dumps(details, ensure_ascii=False),
             "source_event_id": envelope["event_id"]}
            for n, month in enumerate(months)]
    uow.state.record_contributions(rows)
    last_day = _months(months[-1], 2)[1] - dt.timedelta(days=1)
    _extend_paid_cover(uow, envelope, person, "voluntary_si", None, months[0], last_day)
    _issue_book_once(uow, envelope, person)
    _contribution_events(uow, person, [dict(r, amount=amounts["monthly_gross"]) for r in rows],
                         "voluntary_si")


def _household_hi_paid(uow, envelope, payload, person):
    first = payload["period_start"]
    position = uow.state.household_members_paying(payload["household_id"], first,
                                              person["citizen_id"]) + 1
    priced, reasons = _priced(household_hi, position, payload["months"], first)
    if reasons:
        return reasons
    member = priced.amounts["members"][position - 1]
    months = _months(first, payload["months"])
    reasons = (_amount_errors(payload["amount_paid"], member["total"],
                              f"household member {position} for {payload['months']} months")
               or _already_paid(uow, person, "household_hi", months))
    if reasons:
        return reasons
    validity, reasons = _validity(occurred_on(envelope), payload["months"], person, "household",
                                  uow.state)
    level, reasons = (None, reasons) if reasons else _card_level("GD", occurred_on(envelope))
    if reasons:
        return reasons
    rows = [{"citizen_id": person["citizen_id"], "scheme": "household_hi", "month": month,
             "amount": member["monthly"], "household_id": payload["household_id"],
             "household_position": position, "channel": payload["channel"],
             "source_event_id": envelope["event_id"]} for month in months]
    uow.state.record_contributions(rows)
    _cover_health(uow, envelope, person, "GD", level, validity, "household")
    _contribution_events(uow, person, rows, "household_hi")
    return None


def _validity(paid_on, months, person, participation, state):
    try:
        return card_validity(paid_on=paid_on, months=months,
                             previous_valid_to=state.last_card_end(person["citizen_id"]),
                             participation=participation, date_of_birth=person["date_of_birth"],
                             as_of=max(paid_on, today_in())), None
    except RuleViolation as exc:
        return None, {f"payload.{k}": v for k, v in exc.reasons.items()}


def _extend_paid_cover(uow, envelope, person, scheme, group_code, valid_from, valid_to):
    """Paid cover over the dates; ``coverage_started`` only if the scheme was not active."""
    was_active = scheme in uow.state.active_schemes(person["citizen_id"])
    resumed = uow.state.extend_or_open_coverage(
        person["citizen_id"], scheme, group_code, valid_from, valid_to, envelope["event_id"],
        announce=not was_active)
    if not was_active:
        _announce_started(uow, person, scheme, group_code, valid_from, resumed)


def _cover_health(uow, envelope, person, group_code, level, validity, reason):
    """Paid health cover and its card; ``coverage_started`` only if health was not active."""
    _extend_paid_cover(uow, envelope, person, "health", group_code, validity.valid_from,
                       validity.valid_to)
    _issue_card(uow, envelope, person, group_code, level, validity.valid_from, validity.valid_to,
                reason)


PAYER_PARTICIPATION = {"state": "state", "household": "household", "employer": "employment",
                       "sponsor": "sponsor"}


def apply_health_enrolled(uow, envelope, payload, person):
    level, reasons = _card_level(payload["group_code"], occurred_on(envelope))
    if reasons:
        return reasons
    validity, reasons = _validity(payload["valid_from"], payload["months"], person,
                                  PAYER_PARTICIPATION[payload["payer"]], uow.state)
    if reasons:
        return reasons
    _cover_health(uow, envelope, person, payload["group_code"], level, validity, "enrolment")
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
                                  uow.state.supported_months(person["citizen_id"]),
                                  date_field="occurred_at")
    if reasons:
        return reasons
    expected = (priced.amounts["members"][0]["monthly"] * grant["months"]
                if grant["benefit"] == "health_card" else priced.amounts["total_payable"])
    if grant["amount"] != expected:
        return refuse("amount", "amount_mismatch", f"expected {expected:,} VND for a"
                      f" {grant['benefit']} of {grant['months']} months, got {grant['amount']:,} VND")
    if grant["benefit"] == "health_card":
        validity, reasons = _validity(granted_on, grant["months"], person, "sponsor", uow.state)
        level, reasons = (None, reasons) if reasons else _card_level("GD", granted_on)
        if reasons:
            return reasons
        _cover_health(uow, envelope, person, "GD", level, validity, "sponsorship")
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
    if "compulsory_si" in uow.state.active_schemes(person["citizen_id"]):
        return refuse("citizen_id", "in_compulsory_si",
                      "a person in compulsory SI cannot also pay voluntary SI")
    first = granted_on.replace(day=1)
    months = _months(first, grant["months"])
    reasons = _already_paid(uow, person, "voluntary_si", months)
    if reasons:
        return reasons
    _record_voluntary_si(uow, envelope, person, months, income, priced, "sponsor",
                         {"support_group": "other", "sponsor": grant["sponsor"],
                          "programme_code": grant["programme_code"]})
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
