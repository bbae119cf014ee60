"""What each consumed event adds to the read models. Pure, no I/O.

Participant deltas are ``(province_code, scheme, change)`` on the current
counts; coverage changes are ``(day, province_code, scheme, starts, ends,
resumed, moved_in, moved_out)``, dated so that figures can be read as of
any day, and by cause so that "new participants" counts new starts only. ``registered`` counts
people on the register whatever their schemes.
"""
import datetime as dt
import hashlib
from collections import Counter

REGISTERED = "registered"
VIETNAM = dt.timezone(dt.timedelta(hours=7))


def _day(text):
    return dt.date.fromisoformat(text[:10])


def event_day(body):
    """The day in Vietnam on which an event was emitted."""
    return dt.datetime.fromisoformat(body["occurred_at"]).astimezone(VIETNAM).date()


def participant_registered_deltas(body):
    return [(body["province_code"], REGISTERED, 1)]


def coverage_started_deltas(body):
    return [(body["province_code"], body["scheme"], 1)]


def coverage_ended_deltas(body):
    return [(body["province_code"], body["scheme"], -1)]


def participant_corrected_deltas(body):
    """A corrected province moves the person's counts: registered and each scheme they are in.

    Bodies from before enrolment listed ``schemes`` move the registered count only.
    """
    old, new = body.get("previous_province_code"), body["province_code"]
    if not old or old == new:
        return []
    rows = [REGISTERED] + list(body.get("schemes") or [])
    return [(province, scheme, change) for scheme in rows
            for province, change in ((old, -1), (new, 1))]


def group_deltas(event_type, body):
    """``(province_code, commune_code, scheme, group_code, change)`` for the breakdown counts."""
    if "commune_code" not in body:
        return []  # emitted before enrolment named the commune and the group: not broken down
    commune = body.get("commune_code") or ""
    if event_type in ("coverage_started", "coverage_ended"):
        group = (body.get("group_code") or "") if body["scheme"] == "health" else ""
        change = 1 if event_type == "coverage_started" else -1
        return [(body["province_code"], commune, body["scheme"], group, change)]
    if event_type == "participant_corrected":
        old = (body.get("previous_province_code"), body.get("previous_commune_code") or "")
        new = (body["province_code"], commune)
        if not old[0] or old == new:
            return []
        rows = []
        for scheme in body.get("schemes") or []:
            group = (body.get("health_group") or "") if scheme == "health" else ""
            rows += [old + (scheme, group, -1), new + (scheme, group, 1)]
        return rows
    return []


def dated_changes(event_type, body):
    """``(day, province_code, scheme, starts, ends, resumed, moved_in, moved_out)`` rows."""
    if event_type == "participant_registered":
        return [(_day(body["registered_on"]), body["province_code"], REGISTERED, 1, 0, 0, 0, 0)]
    if event_type == "coverage_started":
        resumed = int(bool(body.get("resumed")))
        return [(_day(body["valid_from"]), body["province_code"], body["scheme"], 1 - resumed, 0,
                 resumed, 0, 0)]
    if event_type == "coverage_ended":
        return [(_day(body["valid_to"]) + dt.timedelta(days=1), body["province_code"],
                 body["scheme"], 0, 1, 0, 0, 0)]
    if event_type == "participant_corrected":
        day = event_day(body)
        return [(day, province, scheme, 0, 0, 0, max(change, 0), max(-change, 0))
                for province, scheme, change in participant_corrected_deltas(body)]
    return []


def payment_rows(body):
    """``(month, province_code, kind, payments, amount)`` from a payment_run_completed."""
    month = dt.date.fromisoformat(body["period"] + "-01")
    return [(month, row["province_code"], row["kind"], row["payments"], row["amount"])
            for row in body.get("totals", [])]


def claim_key(body):
    """The (month, province_code, kind, status) a decided claim is counted under."""
    return (_day(body["claim_date"]).replace(day=1), body["province_code"], body["kind"],
            body["status"])


def grant_row(body):
    """``(programme_code, sponsor, province_code, grants, health_cards, si_books, amount)``."""
    card = body["benefit"] == "health_card"
    return (body["programme_code"], body["sponsor"], body["province_code"], 1, int(card),
            int(not card), body["amount"])


def person_key(programme_code, citizen_id):
    """Counts a person once per programme without keeping the citizen id."""
    return hashlib.sha256(f"{programme_code}:{citizen_id}".encode()).hexdigest()[:32]


def rejection_key(body):
    """The (day, source, event_type) a rejection is counted under."""
    return (body["occurred_at"][:10], body.get("source") or "unknown",
            body.get("event_type") or "unknown")


def merge(deltas):
    """Sum the deltas of a batch so each aggregate row is written once."""
    total = Counter()
    for province_code, scheme, change in deltas:
        total[(province_code, scheme)] += change
    return [(p, s, n) for (p, s), n in sorted(total.items()) if n]


def monthly_rows(changes):
    """Coverage change rows summed per month: ``(month, province_code, scheme, starts, ends,
    resumed, moved_in, moved_out)`` with ``month`` the first day of the month."""
    return merge_rows([(row[0].replace(day=1),) + tuple(row[1:]) for row in changes], 3)


def merge_rows(rows, key_width):
    """Sum rows that share their first ``key_width`` fields (one write per key, in key order)."""
    total = {}
    for row in rows:
        key, values = tuple(row[:key_width]), row[key_width:]
        old = total.get(key)
        total[key] = values if old is None else tuple(a + b for a, b in zip(old, values))
    return [key + values for key, values in sorted(total.items())]
