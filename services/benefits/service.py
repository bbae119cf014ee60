"""The benefits service: its own copy of people, claims and payments."""
from pathlib import Path

from nameko.rpc import rpc

from services.benefits import store
from services.benefits.schemas import ParticipantRegisteredSchema
from shared.auth import Auth, authorised
from shared.consumer import consume_batches
from shared.db import Database
from shared.errors import EXPECTED, NotFound, ValidationError
from shared.inbox import EventBatch, EventInbox
from shared.outbox import OutboxRelay
from shared.platform import PlatformRpc

QUEUE = "benefits.events"
EVENTS_EXCHANGE = "benefits.events"


PARTICIPANT_REGISTERED = ParticipantRegisteredSchema()


def on_participant_registered(uow, body):
    store.upsert_person(uow.cursor, PARTICIPANT_REGISTERED.load(body))


def on_participant_corrected(uow, body):
    store.correct_person(uow.cursor, body)


def on_participant_died(uow, body):
    store.mark_deceased(uow.cursor, body["citizen_id"], body["date_of_death"])


HANDLERS = {"participant_registered": on_participant_registered,
            "participant_corrected": on_participant_corrected,
            "participant_died": on_participant_died}


class BenefitsService(PlatformRpc):
    name = "benefits"

    db = Database(Path(__file__).parent / "migrations")
    relay = OutboxRelay()
    auth = Auth()

    @consume_batches(queue=QUEUE, bindings=[("enrolment.events", key) for key in HANDLERS])
    def consume_events(self, deliveries):
        inbox = EventInbox(self.db, self.relay, EVENTS_EXCHANGE, QUEUE)
        return inbox.apply(deliveries, lambda: EventBatch(HANDLERS))

    @rpc(expected_exceptions=EXPECTED)
    @authorised("assessor")
    def get_person(self, citizen_id):
        """What benefits knows of a person (assessor): ``{citizen_id, si_code,
        date_of_birth, sex, province_code, status}``; ``NotFound`` if unknown."""
        if not (isinstance(citizen_id, str) and len(citizen_id) == 12 and citizen_id.isdigit()):
            raise ValidationError({"citizen_id": ["invalid_format: a citizen id is exactly 12 digits"]})
        with self.db.transaction() as cur:
            person = store.get_person(cur, citizen_id)
        if person is None:
            raise NotFound("benefits has no record of that citizen id")
        return dict(person, date_of_birth=person["date_of_birth"].isoformat(),
                    date_of_death=person["date_of_death"] and person["date_of_death"].isoformat())
