"""Turning one intake message into its effect or a recorded rejection.

Nothing here raises for bad input: a message is applied, recognised as a
re-delivery, or rejected with per-field reasons (recorded, announced as
``intake_rejected``). Only a body that is not even a JSON object is also
copied to the dead-letter queue.
"""
import datetime as dt

from marshmallow import ValidationError

from services.enrolment import store
from services.enrolment.domain.register import registration_errors
from services.enrolment.schemas import PAYLOAD_SCHEMAS
from shared.consumer import ACK, Outcome
from shared.envelope import (EVENT_ID, Unparseable, body_fingerprint, coded,
                             parse_envelope, parse_json_object, reasons_from, today_in)
from shared.inbox import Batch, record_inbox

VIETNAM = dt.timezone(dt.timedelta(hours=7))
MAX_STORED_BODY = 65536


class IntakeBatch(Batch):
    def handle(self, uow, delivery):
        return handle_intake(uow, delivery)


def handle_intake(uow, delivery):
    cur = uow.cursor
    try:
        envelope, reasons = parse_envelope(delivery.body, delivery.routing_key)
    except Unparseable as exc:
        event_id = body_fingerprint(delivery.body)
        reject(uow, event_id, delivery.routing_key, None, {"_body": [str(exc)]}, delivery.body)
        return Outcome(dead_letter_reason=str(exc), extra={"event_id": event_id})
    if reasons:
        raw = parse_json_object(delivery.body)
        event_id = raw.get("event_id")
        if not (isinstance(event_id, str) and EVENT_ID.match(event_id)):
            event_id = body_fingerprint(delivery.body)
        source = raw.get("source") if isinstance(raw.get("source"), str) else None
        reject(uow, event_id, delivery.routing_key, source, reasons, delivery.body)
        return ACK

    event_id, event_type = envelope["event_id"], envelope["event_type"]
    if not record_inbox(cur, event_id, event_type, "applied"):
        return ACK  # a re-delivery
    schema = PAYLOAD_SCHEMAS.get(event_type)
    if schema is None:
        reject(uow, event_id, event_type, envelope["source"], {"event_type": [coded(
            "unknown_event_type", f"known types: {', '.join(sorted(PAYLOAD_SCHEMAS))}")]},
            delivery.body, recorded=True)
        return ACK
    try:
        payload = schema.load(envelope["payload"])
    except ValidationError as err:
        reject(uow, event_id, event_type, envelope["source"],
               reasons_from(err.messages, prefix="payload."), delivery.body, recorded=True)
        return ACK
    reasons = APPLY[event_type](uow, envelope, payload)
    if reasons:
        reject(uow, event_id, event_type, envelope["source"], reasons, delivery.body,
               recorded=True)
    return ACK


def reject(uow, event_id, event_type, source, reasons, body, recorded=False):
    """Record and announce a rejection, once per event_id.

    ``recorded``: this transaction already wrote the event's inbox row.
    """
    if recorded:
        uow.cursor.execute("UPDATE inbox SET status = 'rejected' WHERE event_id = %s", (event_id,))
    elif not record_inbox(uow.cursor, event_id, event_type or "unknown", "rejected"):
        return  # a re-delivery
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:MAX_STORED_BODY]
    store.insert_rejection(uow.cursor, event_id, event_type, source, reasons, text)
    uow.emit("intake_rejected", {
        "rejected_event_id": event_id, "event_type": event_type, "source": source,
        "reasons": reasons})


def apply_person_registered(uow, envelope, person):
    registered_on = envelope["occurred_at"].astimezone(VIETNAM).date()
    reasons = registration_errors(person, registered_on, today_in())
    if reasons:
        return {f"payload.{k}": v for k, v in reasons.items()}
    si_code = store.insert_person(uow.cursor, person, registered_on, envelope["event_id"])
    if si_code is None:
        return {"payload.citizen_id": [coded(
            "already_registered", "this citizen id is already on the register")]}
    uow.emit("participant_registered", {
        "citizen_id": person["citizen_id"], "si_code": si_code,
        "date_of_birth": person["date_of_birth"].isoformat(), "sex": person["sex"],
        "province_code": person["province_code"], "district_code": person["district_code"],
        "commune_code": person["commune_code"], "household_id": person["household_id"],
        "ethnic_minority": person["ethnic_minority"],
        "registered_on": registered_on.isoformat(), "source_event_id": envelope["event_id"]})
    return None


APPLY = {
    "person.registered": apply_person_registered,
}
