"""Inbox: every consumed message takes effect once, with its effects.

A batch of deliveries is applied in one transaction, each delivery inside its
own savepoint: the inbox row (keyed by ``event_id``), the handler's effects and
the events it emits commit together, before the consumer acks. A second
delivery of the same ``event_id`` finds the row and changes nothing. A
delivery whose handler fails is rolled back alone, recorded in
``dead_letters`` and handed back as a dead letter; the rest of the batch
commits.
"""
import json
import logging

from shared.consumer import ACK, RETRYABLE, Outcome
from shared.outbox import UnitOfWork

log = logging.getLogger(__name__)


def record_inbox(cur, event_id, event_type, status="applied"):
    """True if ``event_id`` is new (and now recorded), False for a re-delivery."""
    cur.execute(
        "INSERT INTO inbox (event_id, event_type, status) VALUES (%s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        (event_id, event_type, status))
    return cur.fetchone() is not None


def record_dead_letter(cur, queue, event_id, routing_key, reason):
    cur.execute(
        "INSERT INTO dead_letters (queue, event_id, routing_key, reason) VALUES (%s, %s, %s, %s)",
        (queue, event_id, routing_key, reason))


class EventInbox:
    """Applies batches for one queue of one service."""

    def __init__(self, pool, relay, exchange, queue):
        self.pool, self.relay = pool, relay
        self.exchange, self.queue = exchange, queue

    def apply(self, deliveries, handle, before_commit=None):
        """``handle(uow, delivery)`` returns an Outcome (or None for ACK).

        ``before_commit(cursor)`` runs after the last delivery, inside the
        transaction: for writes a handler gathered across the batch.
        """
        emitted = 0
        with self.pool.transaction() as cur:
            uow = UnitOfWork(cur, self.exchange)
            outcomes = []
            for delivery in deliveries:
                mark = uow.mark()
                cur.execute("SAVEPOINT delivery")
                try:
                    outcome = handle(uow, delivery) or ACK
                    cur.execute("RELEASE SAVEPOINT delivery")
                except RETRYABLE:
                    raise
                except Exception as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT delivery")
                    uow.discard_since(mark)
                    # The type only: messages of exceptions may quote personal data.
                    log.error("%s: handler failed with %s on a %s message",
                              self.queue, type(exc).__name__, delivery.routing_key)
                    outcome = Outcome(dead_letter_reason=f"{type(exc).__name__}: {exc}")
                if outcome.dead_letter_reason:
                    record_dead_letter(cur, self.queue, outcome.extra.get("event_id"),
                                       delivery.routing_key, outcome.dead_letter_reason)
                outcomes.append(outcome)
            if before_commit is not None:
                before_commit(cur)
            emitted = uow.flush()
        if emitted and self.relay is not None:
            self.relay.wake()
        return outcomes


def dispatch_events(handlers):
    """A ``handle`` for events published by other services.

    ``handlers`` maps routing keys to ``fn(uow, body)``. A body that is not a
    JSON object with an ``event_id`` cannot be de-duplicated, so it is a dead
    letter rather than a guess.
    """
    def handle(uow, delivery):
        try:
            body = json.loads(delivery.body)
        except ValueError as exc:
            return Outcome(dead_letter_reason=f"unparseable: not JSON ({exc.msg})")
        if not isinstance(body, dict) or not isinstance(body.get("event_id"), str):
            return Outcome(dead_letter_reason="unparseable: no event_id")
        handler = handlers.get(delivery.routing_key)
        if handler is None:
            return Outcome(dead_letter_reason=f"no handler for {delivery.routing_key!r}",
                           extra={"event_id": body["event_id"]})
        if record_inbox(uow.cursor, body["event_id"], delivery.routing_key):
            handler(uow, body)
        return ACK
    return handle
