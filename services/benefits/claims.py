"""Claims: decided from benefits' own copy of the history, under the law of the claim date.

The rules are the pure functions of ``services.benefits.domain``; this
module loads what they need, stores the decision, settles the history a
lump sum pays out, raises fraud flags and queues the events.
"""
import datetime as dt
import hashlib
import json

from services.benefits import store
from services.benefits.domain.decision import REJECTED, Decision
from services.benefits.domain.history import ContributionMonth, Employment, Person, add_months
from services.benefits.domain.lump_sum import lump_sum
from services.benefits.domain.pension import pension
from services.benefits.domain.unemployment import unemployment
from services.benefits.reference import REFERENCE
from shared.envelope import coded
from shared.errors import NotFound


class DuplicateClaim(Exception):
    """An open claim of this kind exists and the new one differs from it."""

    def __init__(self, claim_id):
        self.claim_id = claim_id
        super().__init__(f"claim {claim_id} of this kind is open for this person")


def request_of(claim):
    """The claim as stored and compared: JSON values, keys sorted."""
    return json.loads(json.dumps(claim, default=str, sort_keys=True))


def request_hash(request):
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


# A pension and a lump sum pay out the same months: one excludes the other while open.
EXCLUSIVE_KINDS = {"pension": "lump_sum", "lump_sum": "pension"}


def decide(cur, person, claim):
    """The Decision for ``claim`` from the person's history as benefits holds it: the
    months up to the claim's month (months paid ahead are not yet contributions)."""
    subject = Person(person["sex"], person["date_of_birth"], person["date_of_death"])
    claim_month = claim["claim_date"].replace(day=1)
    by_month = {}
    for row in store.contribution_months(cur, person["citizen_id"]):
        if row["month"] > claim_month:
            continue
        # a month counts once: compulsory contributions over voluntary ones paid ahead
        if row["month"] not in by_month or row["kind"] == "compulsory":
            by_month[row["month"]] = row
    months = [ContributionMonth(r["month"], r["kind"], int(r["wage"]),
                                None if r["ui_wage"] is None else int(r["ui_wage"]))
              for _, r in sorted(by_month.items())]
    if claim["kind"] == "pension":
        return pension(REFERENCE, subject, months, claim["claim_date"], claim["early_retirement"])
    if claim["kind"] == "lump_sum":
        return lump_sum(REFERENCE, subject, months, claim["claim_date"], claim["reason"],
                        claim["lost_capacity_percent"])
    jobs = [Employment(r["employer_code"], r["region"], r["start_date"], r["end_date"])
            for r in store.employments(cur, person["citizen_id"])]
    return unemployment(REFERENCE, subject, jobs, months, claim["claim_date"])


def submit(uow, claim):
    """Decide and store a claim; the same claim submitted again returns the stored one.

    Raises NotFound for a person benefits has not heard of and DuplicateClaim
    (after flagging it) when another, different claim of the kind is open.
    """
    cur = uow.cursor
    person = store.lock_person(cur, claim["citizen_id"])
    if person is None:
        raise NotFound("benefits has no record of that citizen id")
    request = request_of(claim)
    digest = request_hash(request)
    existing = store.claim_by_request(cur, claim["citizen_id"], claim["kind"], digest)
    if existing:
        return existing
    claim_month = claim["claim_date"].replace(day=1)
    store.close_finished_claims(cur, claim["citizen_id"], claim["kind"], claim_month)
    open_claim = store.open_claim(cur, claim["citizen_id"], claim["kind"])
    if open_claim:
        raise_flag(uow, "duplicate_claim", claim["citizen_id"], open_claim["claim_id"],
                   {"open_claim_id": open_claim["claim_id"], "submitted": request},
                   f"duplicate_claim:{open_claim['claim_id']}:{digest}")
        raise DuplicateClaim(open_claim["claim_id"])
    other = EXCLUSIVE_KINDS.get(claim["kind"])
    blocking = other and store.open_claim(cur, claim["citizen_id"], other)
    decision = rejected_for_open(claim, blocking) if blocking else decide(cur, person, claim)
    if decision.approved and decision.start_month is None:
        decision.start_month = claim_month  # a lump sum is due from the claim's month
    end_month = (add_months(decision.start_month, decision.duration_months - 1)
                 if decision.approved and decision.duration_months else None)
    row = {"citizen_id": claim["citizen_id"], "kind": claim["kind"],
           "claim_date": claim["claim_date"], "request": json.dumps(request),
           "request_hash": digest, "status": decision.status,
           "reasons": json.dumps(decision.reasons), "monthly_amount": decision.monthly_amount,
           "lump_sum_amount": decision.lump_sum_amount,
           "duration_months": decision.duration_months, "start_month": decision.start_month,
           "end_month": end_month, "explanation": json.dumps(decision.explanation, ensure_ascii=False),
           "rule_period": decision.rule_period, "bank_account": claim["bank_account"],
           "province_code": person["province_code"], "open": decision.approved}
    claim_id = store.insert_claim(cur, row)
    if decision.approved and claim["kind"] == "lump_sum":
        store.settle_months(cur, claim["citizen_id"], claim_id, claim_month)
    stored = store.get_claim(cur, claim_id)
    uow.emit("claim_decided", claim_event(stored))
    if claim["bank_account"]:
        _flag_shared_account(uow, stored)
    return stored


def rejected_for_open(claim, blocking):
    """A pension while a lump sum is open, or the reverse: the same months would be paid twice."""
    return Decision(claim["kind"], REJECTED, reasons=[coded(
        "other_benefit_open", f"{blocking['kind'].replace('_', ' ')} claim {blocking['claim_id']}"
        " is open and pays out the same contribution months")],
        explanation=[f"claim {blocking['claim_id']} ({blocking['kind']}) is open for this person"])


def _flag_shared_account(uow, claim):
    others = store.claims_sharing_account(uow.cursor, claim["bank_account"], claim["citizen_id"])
    if others:
        raise_flag(uow, "shared_bank_account", claim["citizen_id"], claim["claim_id"],
                   {"bank_account": claim["bank_account"],
                    "other_claims": [o["claim_id"] for o in others]},
                   f"shared_bank_account:{claim['claim_id']}")


def raise_flag(uow, kind, citizen_id, claim_id, detail, dedupe_key, amount=0):
    """Record a fraud flag once per finding and announce it as ``fraud_flagged``."""
    flag = store.insert_flag(uow.cursor, {"kind": kind, "citizen_id": citizen_id,
                                          "claim_id": claim_id, "detail": json.dumps(detail),
                                          "amount": amount, "dedupe_key": dedupe_key})
    if flag:
        # the detail (bank accounts, claims as submitted) stays in benefits: list_fraud_flags
        uow.emit("fraud_flagged", {"flag_id": flag["flag_id"], "kind": kind,
                                   "citizen_id": citizen_id, "claim_id": claim_id,
                                   "amount": amount})


def _month(day):
    return day.strftime("%Y-%m") if day else None


def claim_event(claim):
    return {"claim_id": claim["claim_id"], "citizen_id": claim["citizen_id"], "kind": claim["kind"],
            "status": claim["status"], "claim_date": claim["claim_date"].isoformat(),
            "monthly_amount": claim["monthly_amount"], "lump_sum_amount": claim["lump_sum_amount"],
            "duration_months": claim["duration_months"], "start_month": _month(claim["start_month"]),
            "end_month": _month(claim["end_month"]), "province_code": claim["province_code"]}


def claim_view(claim):
    """The contract's shape, with what else an assessor needs to read a decision."""
    return dict(claim_event(claim), reasons=claim["reasons"], explanation=claim["explanation"],
                rule_period=claim["rule_period"], open=claim["open"], suspended=claim["suspended"],
                stopped_from=_month(claim["stopped_from"]),
                last_confirmed_alive=claim["last_confirmed_alive"].isoformat(),
                bank_account=claim["bank_account"])


def stop_for_employment(uow, citizen_id, start_date):
    """A job that starts on or after the claim stops an unemployment benefit from its month;
    months paid since are flagged. (An older job reported late stops nothing.)"""
    claimants = getattr(uow, "unemployment_claimants", None)   # HistoryBatch.prepare
    if claimants is not None and citizen_id not in claimants:
        return
    from_month = start_date.replace(day=1)
    for claim in store.stop_unemployment(uow.cursor, citizen_id, from_month, start_date):
        paid = store.payments_after(uow.cursor, citizen_id, from_month, ["unemployment"])
        paid = [p for p in paid if p["claim_id"] == claim["claim_id"]]
        if paid:
            raise_flag(uow, "benefit_while_employed", citizen_id, claim["claim_id"],
                       {"employment_started": start_date.isoformat(),
                        "periods": [p["period"].strftime("%Y-%m") for p in paid]},
                       f"benefit_while_employed:{claim['claim_id']}",
                       amount=sum(p["amount"] for p in paid))


def flag_paid_after_death(uow, citizen_id, date_of_death):
    """Payments for months after the death are overpayments to recover."""
    after = (date_of_death.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    paid = store.payments_after(uow.cursor, citizen_id, after)
    if paid:
        raise_flag(uow, "paid_after_death", citizen_id, paid[0]["claim_id"],
                   {"date_of_death": date_of_death.isoformat(),
                    "periods": sorted({p["period"].strftime("%Y-%m") for p in paid})},
                   f"paid_after_death:{citizen_id}", amount=sum(p["amount"] for p in paid))
