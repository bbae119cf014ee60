"""The enrolment service: intake of enrolment events and the register."""
import datetime as dt
import logging
import os
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import timer

from services.enrolment import operations, store
from services.enrolment.domain.citizen_id import citizen_id_format_errors
from services.enrolment.domain.contributions import RuleViolation, household_hi, voluntary_si
from services.enrolment.intake import IntakeBatch, expire_holds
from services.enrolment.lapse import end_lapsed_coverages
from services.enrolment.reference import REFERENCE
from services.enrolment.schemas import PersonCorrectionSchema, ProgrammeSchema
from marshmallow import ValidationError as SchemaError
from shared.auth import Auth, authorised
from shared.consumer import consume_batches
from shared.db import Database, is_retryable
from shared.envelope import reasons_from, today_in
from shared.errors import EXPECTED, NotFound, ValidationError
from shared.inbox import EventInbox
from shared.metrics import INTAKE, Metrics
from shared.outbox import OutboxRelay, UnitOfWork
from shared.platform import PlatformRpc, check_limit
from shared.reference import OutOfRange

log = logging.getLogger(__name__)

INTAKE_EXCHANGE = "enrolment.intake"
INTAKE_QUEUE = "enrolment.intake"
EVENTS_EXCHANGE = "enrolment.events"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# How often held events are checked for expiry; the hold period itself is
# INTAKE.hold_days in the config. Read here because nameko's timer takes its
# interval when the class is defined.
HOLD_CHECK_SECONDS = float(os.environ.get("INTAKE_HOLD_CHECK_SECONDS", "60"))
# How often paid cover past its last day is ended (INTAKE_LAPSE_CHECK_SECONDS).
LAPSE_CHECK_SECONDS = float(os.environ.get("INTAKE_LAPSE_CHECK_SECONDS", "60"))


def day_or_today(name, value):
    if value is None:
        return today_in()
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError({name: ["invalid_date: YYYY-MM-DD"]}) from None


def load_or_refuse(schema, data):
    try:
        return schema.load(data if isinstance(data, dict) else {})
    except SchemaError as err:
        raise ValidationError(reasons_from(err.messages)) from None


def priced_or_refused(price, *args):
    """Run a pricing rule; its refusals become per-field ValidationErrors."""
    try:
        return price(REFERENCE, *args)
    except RuleViolation as exc:
        raise ValidationError(exc.reasons) from None
    except OutOfRange as exc:
        raise ValidationError({"as_of": [f"out_of_range: {exc}"]}) from None


def _iso(day):
    return day.isoformat() if day else None


def participant_view(person, coverages, book, cards):
    return {
        "citizen_id": person["citizen_id"], "si_code": person["si_code"],
        "full_name": person["full_name"], "date_of_birth": person["date_of_birth"].isoformat(),
        "sex": person["sex"], "province_code": person["province_code"],
        "status": person["status"],
        "coverages": [dict(c, valid_from=_iso(c["valid_from"]), valid_to=_iso(c["valid_to"]))
                      for c in coverages],
        "cards": [dict(c, valid_from=_iso(c["valid_from"]), valid_to=_iso(c["valid_to"]))
                  for c in cards],
        "book": {"book_number": book["book_number"], "issued_on": _iso(book["issued_on"])}
        if book else None,
    }


class EnrolmentService(PlatformRpc):
    name = "enrolment"
    events_exchange = EVENTS_EXCHANGE

    db = Database(Path(__file__).parent / "migrations")
    relay = OutboxRelay()
    auth = Auth()
    metrics = Metrics()
    config = Config()

    @consume_batches(queue=INTAKE_QUEUE, bindings=[(INTAKE_EXCHANGE, "#")], single_active=True,
                     overlap=True)
    def consume_intake(self, deliveries):
        inbox = EventInbox(self.db, self.relay, EVENTS_EXCHANGE, INTAKE_QUEUE)
        return inbox.apply(deliveries, IntakeBatch)

    @timer(interval=HOLD_CHECK_SECONDS)
    def expire_held_events(self):
        """Reject events whose person did not arrive within the hold period."""
        hold_seconds = float(self.config.get("INTAKE", {}).get("hold_days", 7)) * 86400
        self._sweep(lambda uow: expire_holds(uow, hold_seconds), "expiring held events")

    @timer(interval=LAPSE_CHECK_SECONDS)
    def end_lapsed_cover(self):
        """End paid cover (voluntary SI, household and other cards) whose period has passed."""
        self._sweep(lambda uow: end_lapsed_coverages(uow, today_in()), "ending lapsed cover")

    def _sweep(self, work, what):
        try:
            with self.db.transaction() as cur:
                uow = UnitOfWork(cur, EVENTS_EXCHANGE)
                done = work(uow)
                uow.flush()
            for status, count in uow.tally.items():
                INTAKE.labels(status).inc(count)
        except Exception as exc:
            if not is_retryable(exc):
                raise
            log.warning("%s: %s; next tick retries", what, type(exc).__name__)
            return
        if done:
            self.relay.wake()

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk")
    def get_participant(self, citizen_id):
        """A person on the register by 12-digit citizen id (clerk).

        Returns ``{citizen_id, si_code, full_name, date_of_birth, sex,
        province_code, status, coverages, cards, book}``; ``NotFound`` if the
        id is not registered.
        """
        errors = citizen_id_format_errors(citizen_id)
        if errors:
            raise ValidationError({"citizen_id": errors})
        return self._participant(citizen_id=citizen_id)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk")
    def find_by_si_code(self, si_code):
        """The same as ``get_participant``, by the 10-digit SI code (clerk)."""
        if not (isinstance(si_code, str) and len(si_code) == 10 and si_code.isdigit()):
            raise ValidationError({"si_code": ["invalid_format: an SI code is exactly 10 digits"]})
        return self._participant(si_code=si_code)

    def _participant(self, **key):
        with self.db.transaction() as cur:
            person = store.get_person(cur, **key)
            if person is None:
                raise NotFound("no participant with that " + next(iter(key)))
            coverages = store.coverages_of(cur, person["citizen_id"])
            book = store.book_of(cur, person["citizen_id"])
            cards = store.cards_of(cur, person["citizen_id"])
        return participant_view(person, coverages, book, cards)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk")
    def intake_status(self, event_id):
        """What became of an intake event (clerk).

        ``{event_id, status, reasons}``: status is ``applied``, ``held``,
        ``rejected`` or ``unknown`` (not received, or still queued);
        ``reasons`` maps fields to ``"code: sentence"`` messages.
        """
        if not isinstance(event_id, str):
            raise ValidationError({"event_id": ["invalid_type: a string"]})
        with self.db.transaction() as cur:
            row = store.intake_status(cur, event_id)
        if row is None:
            return {"event_id": event_id, "status": "unknown", "reasons": {}}
        return {"event_id": event_id, "status": row["status"], "reasons": row["reasons"] or {}}

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk")
    def list_rejections(self, since=None, limit=100, after_event_id=None):
        """Rejected intake events received from ``since`` on, oldest first (clerk).

        Each: ``{event_id, event_type, source, reasons, received_at}``. To page,
        pass the last row's ``received_at`` as ``since`` and its ``event_id``
        as ``after_event_id``.
        """
        check_limit(limit)
        try:
            since_at = dt.datetime.fromisoformat(since) if since else EPOCH
        except (TypeError, ValueError):
            raise ValidationError({"since": ["invalid_datetime: an ISO 8601 timestamp"]}) from None
        if since_at.tzinfo is None:
            raise ValidationError({"since": ["missing_offset: timestamps must carry an offset"]})
        if after_event_id is not None and not isinstance(after_event_id, str):
            raise ValidationError({"after_event_id": ["invalid_type: a string"]})
        with self.db.transaction() as cur:
            rows = store.list_rejections(cur, since_at, after_event_id, limit)
        return [dict(row, received_at=row["received_at"].isoformat()) for row in rows]

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk")
    def quote_household_hi(self, member_count, months, as_of=None):
        """What a household pays for health insurance (clerk).

        ``months`` is 3, 6 or 12; ``as_of`` (``YYYY-MM-DD``, default today)
        picks the base salary. Returns ``{members: [{position, monthly,
        total}], total, as_of, explanation}`` in VND.
        """
        day = day_or_today("as_of", as_of)
        priced = priced_or_refused(household_hi, member_count, months, day)
        return dict(priced.amounts, as_of=day.isoformat(), explanation=priced.explanation)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk")
    def quote_voluntary_si(self, declared_income, months, support_group=None, as_of=None):
        """What a voluntary SI participant pays (clerk).

        ``support_group``: ``poor``, ``near_poor``, ``ethnic_minority`` or
        ``other`` (the default); ``months``: 1, 3, 6 or 12. Returns
        ``{monthly_gross, monthly_state_support, monthly_payable,
        total_payable, as_of, explanation}`` in VND.
        """
        day = day_or_today("as_of", as_of)
        priced = priced_or_refused(voluntary_si, declared_income, months,
                                   support_group or "other", day)
        return dict(priced.amounts, as_of=day.isoformat(), explanation=priced.explanation)

    # -- data-changing operations: each audited in its own transaction ------

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner", changes_data=True)
    def create_programme(self, programme):
        """Create a sponsored programme (planner).

        ``{programme_code, name, sponsors: [...], goal_books, goal_cards,
        budget}``; returns it with ``spent``, ``books``, ``cards``,
        ``remaining_budget`` and the counts still to reach the goals.
        ``Conflict`` if the code exists.
        """
        loaded = load_or_refuse(ProgrammeSchema(), programme)
        return self._changing(operations.create_programme, loaded)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk", "planner")
    def list_programmes(self):
        """Sponsored programmes with their progress against goals and budget (clerk, planner)."""
        with self.db.transaction() as cur:
            return [operations.programme_view(row) for row in store.programmes(cur)]

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk", changes_data=True)
    def correct_person(self, citizen_id, changes):
        """Correct a person's details (clerk); emits ``participant_corrected``.

        ``changes`` may hold full_name, date_of_birth, sex, province_code,
        commune_code, household_id, ethnic_minority; the digits of the citizen
        id must still agree with sex and birth year. Returns the participant.
        """
        loaded = load_or_refuse(PersonCorrectionSchema(), changes)
        if not loaded:
            raise ValidationError({"changes": ["required: at least one field to correct"]})
        self._changing(operations.correct_person, citizen_id, loaded)
        return self._participant(citizen_id=citizen_id)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("clerk", changes_data=True)
    def replace_card(self, citizen_id, reason="lost"):
        """Reissue a person's valid HI card (clerk): same code and validity.

        Returns ``{card_number, issued_on}``; ``NotFound`` without a valid card.
        """
        return self._changing(operations.replace_card, citizen_id, str(reason)[:100])

    @rpc(expected_exceptions=EXPECTED)
    @authorised("finance", changes_data=True)
    def record_contributions(self, month, until=None):
        """Record compulsory contributions from employment and salary history (finance).

        ``month`` is ``YYYY-MM``; ``until`` (``YYYY-MM``, default ``month``) records
        every month up to it, e.g. to take in a career's history. Every employment
        covering 14 days or more of a month is charged on the salary in force (floors
        and caps of that month) and announced as ``contribution_recorded``. Safe to
        repeat: returns ``{month, until, recorded, already_recorded}``.
        """
        first_day = self._month_or_refuse("month", month)
        last_month = self._month_or_refuse("until", until) if until is not None else first_day
        if last_month < first_day:
            raise ValidationError({"until": ["invalid_range: not before month"]})
        if (last_month.year - first_day.year) * 12 + last_month.month - first_day.month >= 600:
            raise ValidationError({"until": ["invalid_range: at most 600 months at once"]})
        totals = {"month": month, "until": last_month.strftime("%Y-%m"), "recorded": 0,
                  "already_recorded": 0}
        for first in operations.months_between(first_day, last_month):
            # one transaction, with its audit row, per month: a long range never holds
            # a whole career's events in one transaction
            done = self._changing(operations.record_month, first)
            totals["recorded"] += done["recorded"]
            totals["already_recorded"] += done["already_recorded"]
        return totals

    @staticmethod
    def _month_or_refuse(name, value):
        try:
            first_day = dt.date.fromisoformat(f"{value}-01")
        except (TypeError, ValueError):
            raise ValidationError({name: ["invalid_month: YYYY-MM"]}) from None
        if first_day > today_in():
            raise ValidationError({name: ["in_future: the month has not started"]})
        return first_day
