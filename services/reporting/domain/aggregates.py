"""What each consumed event adds to the participant counts.

A delta is ``(province_code, scheme, change)``. ``registered`` counts people
on the register whatever their schemes; the scheme rows (``compulsory_si``,
``voluntary_si``, ``health``, ``unemployment``) come from coverage events.
"""
from collections import Counter

REGISTERED = "registered"


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
