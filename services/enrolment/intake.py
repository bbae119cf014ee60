"""Turning one intake message into its effect, a hold, or a recorded rejection.

Nothing here raises for bad input: a message is applied, recognised as a
re-delivery, held (its person is not registered yet), or rejected with
per-field reasons (recorded, announced as ``intake_rejected``). Only a body
that is not even a JSON object is also copied to the dead-letter queue.

Order per person: the intake queue has a single active consumer, which takes
messages in publish order, and a batch applies them in that order; held
events replay in arrival order when their person is registered. Two batches
may be in flight at once (``shared.consumer``, ``overlap``): a batch then
locks its keys (the citizen ids, household ids and programme codes it is
about) once the batch before holds its own, so an event about a person the
batch before is changing waits for that batch's commit.
"""
import json

from marshmallow import ValidationError

from services.enrolment import store
from services.enrolment.domain.register import registration_errors
from services.enrolment.register import APPLY_TO_PERSON, apply_person_registered, occurred_on
from services.enrolment.schemas import PAYLOAD_SCHEMAS
from services.enrolment.state import RegisterState
from shared.consumer import Outcome
from shared.envelope import (EVENT_ID, Unparseable, body_fingerprint, coded, parse_envelope,
                             parse_json_object, reasons_from, today_in)
from shared.inbox import Batch, record_inbox, record_inbox_many
from shared.metrics import INTAKE

MAX_STORED_BODY = 65536


class IntakeBatch(Batch):
    def handle_all(self, uow, deliveries):
        return handle_intake(uow, deliveries)

    def after_commit(self, uow):
        for status, count in uow.tally.items():
            INTAKE.labels(status).inc(count)


def handle_intake(uow, deliveries):
    """Outcomes of a batch of intake deliveries, applied in delivery order.

    Set-wise where it pays: one statement records every delivery's inbox row
    (a re-delivery, or a second copy in the same batch, finds it taken), and
    one ``RegisterState`` locks and reads every person the batch is about.
    """
    uow.state = RegisterState(uow.cursor)
    outcomes, items = [None] * len(deliveries), []
    for index, delivery in enumerate(deliveries):
        item = _parse(delivery)
        items.append(item)
        if item.dead_letter:
            outcomes[index] = Outcome(dead_letter_reason=item.dead_letter,
                                      extra={"event_id": item.event_id})
    ticket = uow.ticket
    if ticket is not None:
        ticket.after_prev_locked()
        store.lock_keys(uow.cursor, payload_keys(i.payload for i in items if i.payload is not None))
    new = record_inbox_many(uow.cursor, _first_of_each(items))
    todo, seen = [], set()
    for index, item in enumerate(items):
        if item.event_id in new and item.event_id not in seen:
            seen.add(item.event_id)
            todo.append((index, item))
    registering = [i for _, i in todo if i.payload is not None and i.event_type == "person.registered"]
    uow.state.prefetch([i.payload["citizen_id"] for _, i in todo if i.payload is not None],
                       registering=[i.payload["citizen_id"] for i in registering])
    payments = [i.payload for _, i in todo
                if i.payload is not None and i.event_type == "contribution.paid"]
    if payments:
        uow.state.prefetch_payments([(p["citizen_id"], p.get("household_id")) for p in payments],
                                    min(p["period_start"] for p in payments))
    uow.state.reserve_si_codes([i.payload for i in registering
                                if not registration_errors(i.payload, occurred_on(i.envelope),
                                                           today_in())])
    if ticket is not None:
        # held events that this batch's registrations will replay count in
        # households and programmes too: their keys, before the next batch takes its own
        store.lock_keys(uow.cursor, payload_keys(uow.state.held_payloads(
            [i.payload["citizen_id"] for i in registering])), now=True)
        ticket.locked.set()     # SI codes are drawn in queue order, batch after batch
    for index, item in todo:
        body = deliveries[index].body
        if item.envelope is None:   # rejected before reaching the register: inbox row says so
            reject(uow, item.event_id, item.event_type, item.source, item.reasons, body, inbox="done")
            continue
        reasons = item.reasons or route(uow, item.envelope, item.payload, body)
        if reasons:
            reject(uow, item.event_id, item.event_type, item.source, reasons, body,
                   inbox="done" if item.reasons else "update")
    return outcomes


class _Item:
    """One delivery, parsed: an ``envelope`` and a ``payload`` to apply, or ``reasons``."""
    __slots__ = ("event_id", "event_type", "source", "envelope", "payload", "reasons",
                 "dead_letter")

    def __init__(self, event_id, event_type, source, envelope=None, payload=None, reasons=None,
                 dead_letter=None):
        self.event_id, self.event_type, self.source = event_id, event_type, source
        self.envelope, self.payload, self.reasons = envelope, payload, reasons
        self.dead_letter = dead_letter


def _parse(delivery):
    try:
        envelope, reasons = parse_envelope(delivery.body, delivery.routing_key)
    except Unparseable as exc:
        return _Item(body_fingerprint(delivery.body), delivery.routing_key, None,
                     reasons={"_body": [str(exc)]}, dead_letter=str(exc))
    if reasons:
        raw = parse_json_object(delivery.body)
        event_id = raw.get("event_id")
        if not (isinstance(event_id, str) and EVENT_ID.match(event_id)):
            event_id = body_fingerprint(delivery.body)
        source = raw.get("source") if isinstance(raw.get("source"), str) else None
        return _Item(event_id, delivery.routing_key, source, reasons=reasons)
    event_type = envelope["event_type"]
    item = _Item(envelope["event_id"], event_type, envelope["source"], envelope=envelope)
    schema = PAYLOAD_SCHEMAS.get(event_type)
    if schema is None:
        item.reasons = {"event_type": [coded(
            "unknown_event_type", f"known types: {', '.join(sorted(PAYLOAD_SCHEMAS))}")]}
    else:
        try:
            item.payload = schema.load(envelope["payload"])
        except ValidationError as err:
            item.reasons = reasons_from(err.messages, prefix="payload.")
    return item


def payload_keys(payloads):
    """What events read or change beyond their own event: their people, the
    households their payments count in, the programmes that pay."""
    keys = set()
    for payload in payloads:
        keys.add(f"p:{payload['citizen_id']}")
        if payload.get("household_id"):
            keys.add(f"h:{payload['household_id']}")
        if payload.get("programme_code"):
            keys.add(f"g:{payload['programme_code']}")
    return keys


def _first_of_each(items):
    """Inbox rows: the first delivery of each event id, with the status known so far."""
    rows, seen = [], set()
    for item in items:
        if item.event_id not in seen:
            seen.add(item.event_id)
            rows.append((item.event_id, item.event_type or "unknown",
                         "rejected" if item.reasons else "applied"))
    return rows


def route(uow, envelope, payload, body):
    """Apply a valid event, or hold it until its person is registered."""
    cur = uow.cursor
    if envelope["event_type"] == "person.registered":
        reasons = apply_person_registered(uow, envelope, payload)
        if not reasons:
            uow.tally["applied"] += 1
            replay_held(uow, payload["citizen_id"])
        return reasons
    person = uow.state.person(payload["citizen_id"])
    if person is None:
        uow.state.hold_event(envelope["event_id"], payload["citizen_id"], envelope["event_type"],
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
    for held in uow.state.take_held_events(citizen_id):
        envelope, _ = parse_envelope(held["body"].encode("utf-8"), _event_type_of(held["body"]))
        payload = PAYLOAD_SCHEMAS[envelope["event_type"]].load(envelope["payload"])
        reasons = route(uow, envelope, payload, held["body"].encode("utf-8"))
        if reasons:
            reject(uow, envelope["event_id"], envelope["event_type"], envelope["source"], reasons,
                   held["body"].encode("utf-8"), inbox="update")
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
               held["body"].encode("utf-8"), inbox="update")
    return len(expired)


def _stored(body):
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:MAX_STORED_BODY]


def reject(uow, event_id, event_type, source, reasons, body, inbox="write"):
    """Record and announce a rejection, once per event_id.

    ``inbox``: ``"write"`` the event's inbox row (nothing happens if it is
    there: a re-delivery), ``"update"`` the row this transaction holds to
    ``rejected``, or ``"done"``: the row already says ``rejected``.
    """
    if inbox == "update":
        store.set_inbox_status(uow.cursor, event_id, "rejected")
    elif inbox == "write" and not record_inbox(uow.cursor, event_id, event_type or "unknown",
                                               "rejected"):
        return  # a re-delivery
    store.insert_rejection(uow.cursor, event_id, event_type, source, reasons, _stored(body))
    uow.tally["rejected"] += 1
    uow.emit("intake_rejected", {
        "rejected_event_id": event_id, "event_type": event_type, "source": source,
        "reasons": reasons})
