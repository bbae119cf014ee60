"""Turning one intake message into its effect, a hold, or a recorded rejection.

Nothing here raises for bad input: a message is applied, recognised as a
re-delivery, held (its person is not registered yet), or rejected with
per-field reasons (recorded, announced as ``intake_rejected``). Only a body
that is not even a JSON object is also copied to the dead-letter queue.

Order per person: the intake queue has a single active consumer, which takes
messages in publish order, and a batch applies them in that order; held
events replay in arrival order when their person is registered.
"""
import json

from marshmallow import ValidationError

from services.enrolment import store
from services.enrolment.register import APPLY_TO_PERSON, apply_person_registered
from services.enrolment.schemas import PAYLOAD_SCHEMAS
from shared.consumer import ACK, Outcome
from shared.envelope import (EVENT_ID, Unparseable, body_fingerprint, coded, parse_envelope,
                             parse_json_object, reasons_from)
from shared.inbox import Batch, record_inbox
from shared.metrics import INTAKE

MAX_STORED_BODY = 65536


class IntakeBatch(Batch):
    def handle(self, uow, delivery):
        return handle_intake(uow, delivery)

    def after_commit(self, uow):
        for status, count in uow.tally.items():
            INTAKE.labels(status).inc(count)


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
        reasons = {"event_type": [coded(
            "unknown_event_type", f"known types: {', '.join(sorted(PAYLOAD_SCHEMAS))}")]}
    else:
        try:
            payload = schema.load(envelope["payload"])
        except ValidationError as err:
            reasons = reasons_from(err.messages, prefix="payload.")
        else:
            reasons = route(uow, envelope, payload, delivery.body)
    if reasons:
        reject(uow, event_id, event_type, envelope["source"], reasons, delivery.body, recorded=True)
    return ACK


def route(uow, envelope, payload, body):
    """Apply a valid event, or hold it until its person is registered."""
    cur = uow.cursor
    if envelope["event_type"] == "person.registered":
        reasons = apply_person_registered(uow, envelope, payload)
        if not reasons:
            uow.tally["applied"] += 1
            replay_held(uow, payload["citizen_id"])
        return reasons
    person = store.lock_person(cur, payload["citizen_id"])
    if person is None:
        store.hold_event(cur, envelope["event_id"], payload["citizen_id"], envelope["event_type"],
                         envelope["source"], _stored(body))
        store.set_inbox_status(cur, envelope["event_id"], "held")
        uow.tally["held"] += 1
        return None
    if person["status"] == "deceased":
        return {"payload.citizen_id": [coded(
            "deceased", f"the person died on {person['date_of_death'].isoformat()}")]}
    reasons = APPLY_TO_PERSON[envelope["event_type"]](uow, envelope, payload, person)
    if not reasons:
        uow.tally["applied"] += 1
    return reasons


def replay_held(uow, citizen_id):
    """Apply the events that waited for this person, in the order they arrived."""
    cur = uow.cursor
    for held in store.take_held_events(cur, citizen_id):
        envelope, _ = parse_envelope(held["body"].encode("utf-8"), _event_type_of(held["body"]))
        payload = PAYLOAD_SCHEMAS[envelope["event_type"]].load(envelope["payload"])
        reasons = route(uow, envelope, payload, held["body"].encode("utf-8"))
        if reasons:
            reject(uow, envelope["event_id"], envelope["event_type"], envelope["source"], reasons,
                   held["body"].encode("utf-8"), recorded=True)
        else:
            store.set_inbox_status(cur, envelope["event_id"], "applied")


def _event_type_of(body):
    return json.loads(body)["event_type"]


def expire_holds(uow, hold_seconds, limit=500):
    """Reject events held longer than the hold period as ``unknown_citizen``."""
    expired = store.take_expired_holds(uow.cursor, hold_seconds, limit)
    for held in expired:
        reject(uow, held["event_id"], held["event_type"], held["source"],
               {"payload.citizen_id": [coded(
                   "unknown_citizen", "no person.registered for this citizen id arrived within"
                   f" the hold period ({hold_seconds / 86400:g} days)")]},
               held["body"].encode("utf-8"), recorded=True)
    return len(expired)


def _stored(body):
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:MAX_STORED_BODY]


def reject(uow, event_id, event_type, source, reasons, body, recorded=False):
    """Record and announce a rejection, once per event_id.

    ``recorded``: this transaction already wrote (or holds) the event's inbox row.
    """
    if recorded:
        store.set_inbox_status(uow.cursor, event_id, "rejected")
    elif not record_inbox(uow.cursor, event_id, event_type or "unknown", "rejected"):
        return  # a re-delivery
    store.insert_rejection(uow.cursor, event_id, event_type, source, reasons, _stored(body))
    uow.tally["rejected"] += 1
    uow.emit("intake_rejected", {
        "rejected_event_id": event_id, "event_type": event_type, "source": source,
        "reasons": reasons})
