"""The reporting service: aggregates built from the other services' events."""
import datetime as dt
import json
from collections import Counter
from pathlib import Path

from nameko.rpc import rpc

from services.reporting import store
from services.reporting.domain.aggregates import (
    coverage_ended_deltas, coverage_started_deltas, merge, participant_corrected_deltas,
    participant_registered_deltas, rejection_key)
from shared.auth import Auth, authorised
from shared.consumer import consume_batches
from shared.db import Database
from shared.errors import EXPECTED, ValidationError
from shared.inbox import EventBatch, EventInbox
from shared.outbox import OutboxRelay
from shared.platform import PlatformRpc

QUEUE = "reporting.events"
EVENTS_EXCHANGE = "reporting.events"
DELTAS = {
    "participant_registered": participant_registered_deltas,
    "coverage_started": coverage_started_deltas,
    "coverage_ended": coverage_ended_deltas,
    "participant_corrected": participant_corrected_deltas,
}


class AggregatesBatch(EventBatch):
    """Changes gathered over one batch, written once before it commits.

    Reporting subscribes to every event the other services publish and
    archives each one (the archive is what a rebuild replays); the types it
    does not aggregate yet are archived only.
    """

    def __init__(self):
        self.participants = []
        self.rejections = Counter()
        self.archived = []
        handlers = {key: self._aggregating(fn) for key, fn in DELTAS.items()}
        handlers["intake_rejected"] = self._counting_rejection
        super().__init__(handlers, default=lambda uow, routing_key, body: None)

    def _aggregating(self, deltas_of):
        def handle(uow, body):
            self.participants.extend(deltas_of(body))
        return handle

    def _counting_rejection(self, uow, body):
        self.rejections.update([rejection_key(body)])

    def handle(self, uow, delivery):
        outcome = super().handle(uow, delivery)
        if not outcome.dead_letter_reason:
            # a re-delivered event is archived once: the archive is keyed by event_id
            self.archived.append((json.loads(delivery.body)["event_id"], delivery.exchange,
                                  delivery.routing_key, delivery.body.decode("utf-8")))
        return outcome

    def before_commit(self, cur):
        if self.participants:
            store.add_to_counts(cur, merge(self.participants))
        if self.rejections:
            store.add_rejections(cur, self.rejections)
        if self.archived:
            store.archive(cur, self.archived)


class ReportingService(PlatformRpc):
    name = "reporting"

    db = Database(Path(__file__).parent / "migrations")
    relay = OutboxRelay()
    auth = Auth()

    @consume_batches(queue=QUEUE, bindings=[("enrolment.events", "#"), ("benefits.events", "#")])
    def consume_events(self, deliveries):
        inbox = EventInbox(self.db, self.relay, EVENTS_EXCHANGE, QUEUE)
        return inbox.apply(deliveries, AggregatesBatch)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def coverage(self, as_of=None, province_code=None):
        """Participants per province and scheme (planner).

        Rows: ``{province_code, scheme, participants, population, workforce,
        coverage_rate, as_of}``. For now only counts: the ``registered`` row
        is people on the register; denominators and rates are null until the
        reference figures are loaded. ``as_of`` other than now is not yet
        supported and is refused.
        """
        if as_of is not None:
            raise ValidationError({"as_of": ["not_supported: only current figures for now"]})
        if province_code is not None and not (
                isinstance(province_code, str) and len(province_code) == 2 and province_code.isdigit()):
            raise ValidationError({"province_code": ["invalid_format: 2 digits"]})
        with self.db.transaction() as cur:
            rows = store.participant_counts(cur, province_code)
        return [{"province_code": r["province_code"], "scheme": r["scheme"],
                 "participants": r["participants"], "population": None, "workforce": None,
                 "coverage_rate": None, "as_of": r["updated_at"].isoformat()} for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def intake_rejections(self, since_day=None):
        """Rejected intake events per day, source and event type (planner).

        Rows ``{day, source, event_type, rejections}`` from ``since_day``
        (``YYYY-MM-DD``, default 30 days ago) on.
        """
        try:
            since = dt.date.fromisoformat(since_day) if since_day else \
                dt.date.today() - dt.timedelta(days=30)
        except (TypeError, ValueError):
            raise ValidationError({"since_day": ["invalid_date: YYYY-MM-DD"]}) from None
        with self.db.transaction() as cur:
            rows = store.rejection_counts(cur, since)
        return [dict(r, day=r["day"].isoformat()) for r in rows]
