"""Paid cover lapses when its period ends.

Voluntary SI, household and other paid health cover run to the last day
paid for. A periodic sweep ends the periods whose last day has passed and
announces ``coverage_ended`` (reason ``paid_period_ended``) for each scheme
the person is no longer in by any other cover. A later payment for the
months right after a lapsed period revives it (the months are continuous);
one that leaves a gap opens a new period (``coverage_started``).
"""
from services.enrolment import store
from services.enrolment.register import announce_ended


def end_lapsed_coverages(uow, today, limit=1000):
    """End up to ``limit`` paid periods that ended before ``today``; returns how many."""
    cur = uow.cursor
    rows = store.take_lapsed_coverages(cur, today, limit)
    # two periods of one scheme may end in one sweep: the person leaves the scheme once
    for row in {(r["citizen_id"], r["scheme"]): r for r in rows}.values():
        if row["scheme"] in store.active_schemes(cur, row["citizen_id"]):
            continue
        announce_ended(uow, row, row["scheme"], row["valid_to"], "paid_period_ended")
    return len(rows)
