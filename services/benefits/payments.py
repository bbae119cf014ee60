"""Monthly payment runs: every approved benefit due in a month, paid once.

A run goes through the claims in chunks of claim ids, one transaction per
chunk: the chunk's payments, its skips and the run's progress commit
together. So a run that crashes half-way resumes where it stopped when
``run_payments`` is called again, and a unique key on (claim, month) makes
a second payment impossible, whoever calls and however often. Instances
running the same month take turns chunk by chunk under an advisory lock.
Nothing loads the beneficiaries into Python: memory stays flat.
"""
import datetime as dt
import json
import logging
import time

from services.benefits import claims, store
from services.benefits.reference import REFERENCE
from shared.metrics import PAYMENT_RUN
from shared.reference import OutOfRange
from shared.outbox import UnitOfWork

log = logging.getLogger(__name__)

CHUNK_CLAIMS = 50_000


def alive_since(first):
    """Recipients last confirmed alive before this day are overdue (0 months: no check)."""
    try:
        months = REFERENCE.value("proof_of_life_months", first)
    except OutOfRange:  # before the data: no check known
        return dt.date.min
    return months_before(first, months) if months else dt.date.min


def month_bounds(first):
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return first, last


def months_before(first, count):
    year, month = divmod(first.year * 12 + first.month - 1 - count, 12)
    return dt.date(year, month + 1, 1)


def run_view(run):
    return {"period": run["period"].strftime("%Y-%m"), "run_id": run["run_id"],
            "status": run["status"], "payments": run["payments"],
            "total_amount": run["total_amount"], "skipped": run["skipped"],
            "claims_done": run["done_claim_id"], "claims_upto": run["upto_claim_id"]}


def pay_period(pool, relay, exchange, first, per_payment_events="lump_sum", chunk=CHUNK_CLAIMS):
    """Run (or resume, or just return) the payment run of the month starting ``first``.

    ``per_payment_events``: ``payment_made`` for ``"all"`` payments (True), for
    ``"lump_sum"`` payments only, or ``"none"`` (False); the run's totals are
    published either way.
    """
    events = {True: "all", False: "none"}.get(per_payment_events, per_payment_events)
    first, last = month_bounds(first)
    started, done_before = time.monotonic(), None
    while True:
        with pool.transaction() as cur:
            store.lock_run_period(cur, first)
            run = store.start_run(cur, first)
            if run["status"] == "completed":
                return run_view(run)
            if done_before is None:
                done_before = run["done_claim_id"]
            upto = min(run["done_claim_id"] + chunk, run["upto_claim_id"])
            params = {
                "first": first, "last": last, "after": run["done_claim_id"], "upto": upto,
                "alive_since": alive_since(first),
                "run_id": run["run_id"], "exchange": exchange,
                "period_text": first.strftime("%Y-%m"), "per_payment_events": events == "all",
                "lump_sum_events": events == "lump_sum"}
            rows = store.pay_chunk(cur, params)
            run = _add_chunk(run, rows, upto)
            uow = UnitOfWork(cur, exchange)
            if run["status"] == "completed":
                uow.emit("payment_run_completed", _completed_event(run))
                # a death applied while a chunk was being paid is not seen by that chunk
                for died in store.paid_after_death_in_run(cur, run["run_id"], first):
                    claims.flag_paid_after_death(uow, died["citizen_id"], died["date_of_death"])
            store.save_run_progress(cur, dict(run, skipped=json.dumps(run["skipped"]),
                                              totals=json.dumps(run["totals"])))
            store.announce_chunk(cur, params)   # events last: they hold the outbox's append lock
            uow.flush()
        relay.wake()
        _log_progress(run, done_before, started)
        if run["status"] == "completed":
            return run_view(run)


def _add_chunk(run, rows, upto):
    run = dict(run, done_claim_id=upto, skipped=dict(run["skipped"]), totals=dict(run["totals"]))
    for row in rows:
        if row["what"] == "paid":
            key = f"{row['province_code']}|{row['kind']}"
            count, amount = run["totals"].get(key, [0, 0])
            run["totals"][key] = [count + row["n"], amount + int(row["amount"])]
            run["payments"] += row["n"]
            run["total_amount"] += int(row["amount"])
        else:
            run["skipped"][row["what"]] = run["skipped"].get(row["what"], 0) + row["n"]
    if upto >= run["upto_claim_id"]:
        run["status"] = "completed"
    return run


def _completed_event(run):
    return {"run_id": run["run_id"], "period": run["period"].strftime("%Y-%m"),
            "payments": run["payments"], "total_amount": run["total_amount"],
            "skipped": run["skipped"],
            "totals": [{"province_code": key.split("|")[0], "kind": key.split("|")[1],
                        "payments": count, "amount": amount}
                       for key, (count, amount) in sorted(run["totals"].items())]}


def _log_progress(run, done_before, started):
    period = run["period"].strftime("%Y-%m")
    PAYMENT_RUN.labels(period, "done").set(run["done_claim_id"])
    PAYMENT_RUN.labels(period, "total").set(run["upto_claim_id"])
    elapsed = max(time.monotonic() - started, 1e-6)
    log.info("payment run %s: claims %d/%d, %d payments so far, %.0f claims/s",
             run["period"].strftime("%Y-%m"), run["done_claim_id"], run["upto_claim_id"],
             run["payments"], (run["done_claim_id"] - done_before) / elapsed)
