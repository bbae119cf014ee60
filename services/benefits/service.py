"""The benefits service: its own copy of people and histories, claims, payment runs, flags."""
import datetime as dt
from pathlib import Path

from marshmallow import ValidationError as SchemaError
from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.benefits import claims, history, payments, store
from services.benefits.schemas import ClaimSchema
from shared.auth import Auth, authorised
from shared.consumer import consume_batches
from shared.db import Database
from shared.envelope import reasons_from, today_in
from shared.errors import EXPECTED, Conflict, NotFound, ValidationError
from shared.inbox import EventInbox
from shared.metrics import Metrics
from shared.outbox import OutboxRelay, UnitOfWork
from shared.platform import PlatformRpc, check_limit

QUEUE = "benefits.events"
EVENTS_EXCHANGE = "benefits.events"
CLAIM = ClaimSchema()


def citizen_id_or_refuse(citizen_id):
    if not (isinstance(citizen_id, str) and len(citizen_id) == 12 and citizen_id.isdigit()):
        raise ValidationError({"citizen_id": ["invalid_format: a citizen id is exactly 12 digits"]})


def month_or_refuse(name, value):
    try:
        first = dt.date.fromisoformat(f"{value}-01")
    except (TypeError, ValueError):
        raise ValidationError({name: ["invalid_month: YYYY-MM"]}) from None
    if len(value) != 7:
        raise ValidationError({name: ["invalid_month: YYYY-MM"]})
    return first


class BenefitsService(PlatformRpc):
    name = "benefits"
    events_exchange = EVENTS_EXCHANGE

    db = Database(Path(__file__).parent / "migrations")
    relay = OutboxRelay()
    auth = Auth()
    metrics = Metrics()
    config = Config()

    # one active consumer across instances: one person's events apply in the order sent
    @consume_batches(queue=QUEUE, bindings=[("enrolment.events", key) for key in history.HANDLERS],
                     single_active=True)
    def consume_events(self, deliveries):
        inbox = EventInbox(self.db, self.relay, EVENTS_EXCHANGE, QUEUE)
        return inbox.apply(deliveries, history.HistoryBatch)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor")
    def get_person(self, citizen_id):
        """What benefits knows of a person (assessor): ``{citizen_id, si_code,
        date_of_birth, sex, province_code, status, date_of_death}``; ``NotFound`` if unknown."""
        citizen_id_or_refuse(citizen_id)
        with self.db.transaction() as cur:
            person = store.get_person(cur, citizen_id)
        if person is None:
            raise NotFound("benefits has no record of that citizen id")
        return dict(person, date_of_birth=person["date_of_birth"].isoformat(),
                    date_of_death=person["date_of_death"] and person["date_of_death"].isoformat())

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor")
    def contribution_history(self, citizen_id):
        """The contribution history benefits holds for a person (assessor).

        ``{citizen_id, kinds: [{kind, months, first_month, last_month, ui_months,
        settled}], employments: [{employer_code, region, start_date, end_date}]}``;
        ``settled`` counts months a lump sum paid out (they no longer count).
        """
        citizen_id_or_refuse(citizen_id)
        with self.db.transaction() as cur:
            if store.get_person(cur, citizen_id) is None:
                raise NotFound("benefits has no record of that citizen id")
            kinds = store.history_summary(cur, citizen_id)
            jobs = store.employments(cur, citizen_id)
        label = lambda day: day.strftime("%Y-%m")  # noqa: E731
        return {"citizen_id": citizen_id,
                "kinds": [dict(k, first_month=label(k["first_month"]),
                               last_month=label(k["last_month"])) for k in kinds],
                "employments": [dict(j, start_date=j["start_date"].isoformat(),
                                     end_date=j["end_date"] and j["end_date"].isoformat())
                                for j in jobs]}

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor", changes_data=True)
    def submit_claim(self, claim):
        """Decide a claim from the contribution history, under the law of ``claim_date`` (assessor).

        ``{citizen_id, kind: pension|lump_sum|unemployment, claim_date, [bank_account],
        [early_retirement: {reason, lost_capacity_percent}] (pension), [reason,
        lost_capacity_percent] (lump_sum)}``. Returns ``{claim_id, status, reasons,
        monthly_amount, lump_sum_amount, duration_months, explanation, ...}``. The same
        claim again returns the stored decision; a different one while a claim of the
        kind is open is a ``Conflict`` (and a fraud flag).
        """
        try:
            loaded = CLAIM.load(claim if isinstance(claim, dict) else {})
        except SchemaError as err:
            raise ValidationError(reasons_from(err.messages)) from None
        if loaded["claim_date"] > today_in():
            raise ValidationError({"claim_date": ["in_future: the claim date is after today"]})
        with self.db.transaction() as cur:
            uow = UnitOfWork(cur, EVENTS_EXCHANGE)
            try:
                decided, duplicate = claims.submit(uow, loaded), None
            except claims.DuplicateClaim as exc:
                decided, duplicate = None, exc
            self.auth.audit(cur, {"error": "Conflict"} if duplicate else None,
                            outcome="failed" if duplicate else "ok")
            uow.flush()
        self.relay.wake()
        if duplicate:
            raise Conflict(str(duplicate))
        return claims.claim_view(decided)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor")
    def get_claim(self, claim_id):
        """A claim and its decision (assessor); ``NotFound`` if there is none."""
        if not isinstance(claim_id, int) or isinstance(claim_id, bool):
            raise ValidationError({"claim_id": ["invalid_type: an integer"]})
        with self.db.transaction() as cur:
            claim = store.get_claim(cur, claim_id)
        if claim is None:
            raise NotFound(f"no claim {claim_id}")
        return claims.claim_view(claim)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("finance", changes_data=True)
    def run_payments(self, period):
        """Pay every approved benefit due in ``period`` (``YYYY-MM``) once (finance).

        Returns ``{period, run_id, payments, total_amount, skipped: {reason: count},
        status}``. Calling it again, from any instance, pays nobody twice and returns
        the same run; a run cut off half-way resumes.
        """
        first = month_or_refuse("period", period)
        if first > today_in().replace(day=1):
            raise ValidationError({"period": ["in_future: the month has not started"]})
        with self.db.transaction() as cur:
            self.auth.audit(cur)
        setting = str(self.config.get("PAYMENTS", {}).get("per_payment_events", "lump_sum")).lower()
        events = {"true": "all", "all": "all", "false": "none", "none": "none"}.get(setting, "lump_sum")
        return payments.pay_period(self.db, self.relay, EVENTS_EXCHANGE, first,
                                   per_payment_events=events)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor", "finance")
    def payments_for(self, citizen_id):
        """Payments made to a person, oldest first (assessor, finance): ``[{period, kind, amount, run_id, claim_id}]``."""
        citizen_id_or_refuse(citizen_id)
        with self.db.transaction() as cur:
            rows = store.payments_for(cur, citizen_id)
        return [dict(r, period=r["period"].strftime("%Y-%m")) for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor", changes_data=True)
    def confirm_alive(self, citizen_id, on=None):
        """Record the yearly check that a recipient is alive (assessor); ``on`` defaults to today.

        A recipient not confirmed for 12 months is skipped by payment runs
        (``proof_of_life_overdue``) until confirmed. Returns ``{citizen_id, confirmed_on, claims}``.
        """
        citizen_id_or_refuse(citizen_id)
        try:
            day = dt.date.fromisoformat(on) if on else today_in()
        except (TypeError, ValueError):
            raise ValidationError({"on": ["invalid_date: YYYY-MM-DD"]}) from None
        if day > today_in():
            raise ValidationError({"on": ["in_future: the date is after today"]})

        def confirm(uow):
            confirmed = store.confirm_alive(uow.cursor, citizen_id, day)
            if not confirmed:
                raise NotFound("the person has no approved claim")
            return {"citizen_id": citizen_id, "confirmed_on": day.isoformat(), "claims": confirmed}
        return self._changing(confirm)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor", changes_data=True)
    def suspend_claim(self, claim_id, suspended=True):
        """Suspend (or, with ``suspended=False``, resume) payment of an approved claim (assessor).

        Payment runs skip a suspended claim (``suspended``). Returns the claim.
        """
        if not isinstance(claim_id, int) or isinstance(claim_id, bool):
            raise ValidationError({"claim_id": ["invalid_type: an integer"]})
        if not isinstance(suspended, bool):
            raise ValidationError({"suspended": ["invalid_type: true or false"]})

        def suspend(uow):
            if not store.set_suspended(uow.cursor, claim_id, suspended):
                raise NotFound(f"no approved claim {claim_id}")
            return claims.claim_view(store.get_claim(uow.cursor, claim_id))
        return self._changing(suspend)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor", "auditor")
    def list_fraud_flags(self, status="open", after_id=0, limit=100):
        """Fraud flags, oldest first (assessor, auditor): ``status`` ``open``, ``closed`` or None for all.

        Each: ``{flag_id, kind, citizen_id, claim_id, detail, amount, status, created_at}``;
        kinds: ``paid_after_death``, ``benefit_while_employed``, ``duplicate_claim``,
        ``shared_bank_account``. Page with the last ``flag_id`` as ``after_id``.
        """
        check_limit(limit)
        if status not in ("open", "closed", None):
            raise ValidationError({"status": ["invalid_choice: open, closed or null"]})
        if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
            raise ValidationError({"after_id": ["invalid_type: a non-negative integer"]})
        with self.db.transaction() as cur:
            rows = store.flags(cur, status, after_id, limit)
        return [dict(r, created_at=r["created_at"].isoformat()) for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor", changes_data=True)
    def close_fraud_flag(self, flag_id, note):
        """Close a flag after review (assessor), with a note saying what was found."""
        if not isinstance(flag_id, int) or isinstance(flag_id, bool):
            raise ValidationError({"flag_id": ["invalid_type: an integer"]})
        if not isinstance(note, str) or not 1 <= len(note.strip()) <= 500:
            raise ValidationError({"note": ["invalid_length: 1-500 characters"]})

        def close(uow):
            if not store.close_flag(uow.cursor, flag_id, note.strip()):
                raise NotFound(f"no open flag {flag_id}")
            return {"flag_id": flag_id, "status": "closed"}
        return self._changing(close)
