"""What operators do to the register through RPC (the service audits each call)."""
import datetime as dt
import json

from services.enrolment import store
from services.enrolment.domain.citizen_id import citizen_id_contradictions
from services.enrolment.domain.compulsory import monthly_contribution
from services.enrolment.reference import REFERENCE
from shared.envelope import coded, today_in
from shared.errors import Conflict, NotFound, ValidationError
from shared.provinces import provinces_on
from shared.reference import OutOfRange


def create_programme(uow, programme):
    if not store.insert_programme(uow.cursor, programme):
        raise Conflict(f"programme {programme['programme_code']} exists")
    uow.emit("programme_created", dict(programme))
    return programme_view(store.lock_programme(uow.cursor, programme["programme_code"]))


def programme_view(row):
    return dict(row, remaining_budget=row["budget"] - row["spent"],
                books_to_goal=max(row["goal_books"] - row["books"], 0),
                cards_to_goal=max(row["goal_cards"] - row["cards"], 0))


def correct_person(uow, citizen_id, changes):
    """Apply a clerk's correction; the digits of the citizen id must still agree."""
    cur = uow.cursor
    person = store.lock_person(cur, citizen_id)
    if person is None:
        raise NotFound("no participant with that citizen_id")
    reasons = citizen_id_contradictions(citizen_id, changes.get("sex", person["sex"]),
                                        changes.get("date_of_birth", person["date_of_birth"]))
    if "province_code" in changes and changes["province_code"] not in provinces_on(today_in()):
        reasons["province_code"] = [coded("unknown_province", "not a province code in force today")]
    if changes.get("date_of_birth") and changes["date_of_birth"] > today_in():
        reasons["date_of_birth"] = [coded("in_future", "the date of birth is after today")]
    if reasons:
        raise ValidationError(reasons)
    store.update_person(cur, citizen_id, changes)
    after = dict(person, **changes)
    uow.emit("participant_corrected", {
        "citizen_id": citizen_id, "si_code": person["si_code"], "changed": sorted(changes),
        "date_of_birth": after["date_of_birth"].isoformat(), "sex": after["sex"],
        "province_code": after["province_code"], "previous_province_code": person["province_code"],
        # so that counts kept per province and scheme can follow a move
        "schemes": sorted(store.active_schemes(cur, citizen_id)),
        "health_group": store.announced_group(cur, citizen_id, "health"),
        "commune_code": after["commune_code"], "previous_commune_code": person["commune_code"],
        "status": person["status"]})


def replace_card(uow, citizen_id, reason):
    """Reissue the valid card (lost or damaged): same code and validity, new issue."""
    cur = uow.cursor
    person = store.lock_person(cur, citizen_id)
    if person is None:
        raise NotFound("no participant with that citizen_id")
    card = store.valid_card(cur, citizen_id)
    if card is None:
        raise NotFound("the participant has no valid card to replace")
    store.supersede_card(cur, card["id"])
    issued_on = today_in()
    [card_id] = store.next_ids(cur, "cards_id_seq", 1)
    store.insert_card(cur, card_id, card, citizen_id, issued_on, f"replacement: {reason}",
                      f"rpc:replace_card:{card['id']}")
    uow.emit("card_issued", {
        "citizen_id": citizen_id, "card_number": card["card_number"],
        "group_code": card["group_code"], "benefit_level": card["benefit_level"],
        "valid_from": card["valid_from"].isoformat(),
        "valid_to": card["valid_to"].isoformat() if card["valid_to"] else None,
        "reason": "replacement", "supersedes": card["card_number"],
        "province_code": person["province_code"]})
    return {"card_number": card["card_number"], "issued_on": issued_on.isoformat()}


def months_between(first_day, last_month):
    """The first days of the months from ``first_day`` to ``last_month``."""
    month = first_day
    while month <= last_month:
        yield month
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def record_month(uow, first_day):
    """Compulsory contributions of every employment covering 14+ days of the month.

    Idempotent: a month already recorded for an employment is not recorded
    (nor announced) again. Returns ``{month, recorded, already_recorded}``.
    """
    next_month = (first_day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last_day = next_month - dt.timedelta(days=1)
    month_text = first_day.strftime("%Y-%m")
    rows, amounts_of = [], {}
    for job in store.employments_in_month(uow.cursor, first_day, last_day):
        try:
            amounts = monthly_contribution(REFERENCE, job["salary"], job["region"], first_day).amounts
        except OutOfRange as exc:
            raise ValidationError({"month": [coded("out_of_range", str(exc))]}) from None
        amounts_of[job["id"]] = (job, amounts)
        rows.append({"citizen_id": job["citizen_id"], "scheme": "compulsory", "month": first_day,
                     "contribution_wage": amounts["contribution_wage_si"],
                     "amount": amounts["total"], "employment_id": job["id"],
                     "details": json.dumps(amounts), "source_event_id": f"run:{month_text}"})
    new = {key[3] for key in store.insert_contributions(uow.cursor, rows)}
    recorded = already = 0
    for row in rows:   # in employment order, as read
        job, amounts = amounts_of[row["employment_id"]]
        if job["id"] not in new:
            already += 1
            continue
        recorded += 1
        uow.emit("contribution_recorded", {
            "citizen_id": job["citizen_id"], "si_code": job["si_code"], "scheme": "compulsory",
            "month": month_text, "employer_code": job["employer_code"],
            "contribution_wage": amounts["contribution_wage_si"],
            "contribution_wage_ui": amounts["contribution_wage_ui"],
            "employee": amounts["employee"], "employer": amounts["employer"],
            "amount": amounts["total"], "province_code": job["province_code"]})
    return {"month": month_text, "recorded": recorded, "already_recorded": already}
