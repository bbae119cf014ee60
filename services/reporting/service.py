"""The reporting service: aggregates built from the other services' events."""
from pathlib import Path

from nameko.rpc import rpc

from services.reporting import store
from services.reporting.domain.aggregates import merge, participant_registered_deltas
from shared.auth import Auth, authorised
from shared.consumer import consume_batches
from shared.db import Database
from shared.errors import EXPECTED, ValidationError
from shared.inbox import EventInbox, dispatch_events
from shared.outbox import OutboxRelay
from shared.platform import PlatformRpc

QUEUE = "reporting.events"
EVENTS_EXCHANGE = "reporting.events"

DELTAS = {"participant_registered": participant_registered_deltas}


def collecting_handlers(pending):
    """Handlers that queue each event's deltas for one write per batch."""
    return {key: (lambda uow, body, fn=fn: pending.extend(fn(body))) for key, fn in DELTAS.items()}


class ReportingService(PlatformRpc):
    name = "reporting"

    db = Database(Path(__file__).parent / "migrations")
    relay = OutboxRelay()
    auth = Auth()

    @consume_batches(queue=QUEUE, bindings=[("enrolment.events", key) for key in DELTAS])
    def consume_events(self, deliveries):
        pending = []
        inbox = EventInbox(self.db, self.relay, EVENTS_EXCHANGE, QUEUE)
        return inbox.apply(deliveries, dispatch_events(collecting_handlers(pending)),
                           before_commit=lambda cur: pending and store.add_to_counts(cur, merge(pending)))

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
