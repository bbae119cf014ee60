"""Inbox: every consumed message takes effect once, with its effects.

A batch of deliveries is applied in one transaction: each delivery's inbox
row (keyed by ``event_id``), its effects and the events it emits commit
together, before the consumer acks. A second delivery of the same
``event_id`` finds the row and changes nothing.

If a handler raises, the whole transaction is rolled back and the batch is
applied again one delivery per transaction; a delivery that still fails is
recorded in ``dead_letters`` and handed back as a dead letter, and the others
commit. So the common case pays no savepoints, and a bad message costs one
retry of its batch.
"""
import json
import logging

from shared.consumer import ACK, Outcome, PredecessorFailed, RunAlone
from shared.db import is_retryable
from shared.outbox import UnitOfWork

log = logging.getLogger(__name__)

MAX_EVENT_ID = 128


def record_inbox(cur, event_id, event_type, status="applied"):
    """True if ``event_id`` is new (and now recorded), False for a re-delivery."""
    cur.execute(
        "INSERT INTO inbox (event_id, event_type, status) VALUES (%s, %s, %s)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        (event_id, event_type, status))
    return cur.fetchone() is not None


def record_inbox_many(cur, rows):
    """Record ``(event_id, event_type, status)`` rows in one statement; returns
    the event ids that were new (the others are re-deliveries). Event ids must
    be distinct."""
    if not rows:
        return set()
    cur.execute("INSERT INTO inbox (event_id, event_type, status)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                [list(column) for column in zip(*rows)])
    return {row["event_id"] for row in cur.fetchall()}


def record_dead_letter(cur, queue, event_id, routing_key, reason):
    """Once per (queue, event_id): a re-delivered dead letter is not counted again."""
    cur.execute(
        "INSERT INTO dead_letters (queue, event_id, routing_key, reason) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (queue, event_id, routing_key, reason))


class Batch:
    """How one transaction handles deliveries; a new one per transaction.

    ``handle(uow, delivery)`` returns an Outcome (None means ACK);
    ``before_commit(cursor)`` runs after the last delivery, for writes
    gathered across the batch. A batch that works set-wise overrides
    ``handle_all`` instead of ``handle``.
    """

    def handle_all(self, uow, deliveries):
        """Outcomes of ``deliveries``, in order (None means ACK)."""
        return [self.handle(uow, delivery) for delivery in deliveries]

    def handle(self, uow, delivery):
        raise NotImplementedError

    def before_commit(self, cursor):
        pass

    def after_commit(self, uow):
        """Runs once the batch's transaction has committed (counting, never writing)."""


class EventInbox:
    """Applies batches for one queue of one service."""

    def __init__(self, pool, relay, exchange, queue):
        self.pool, self.relay = pool, relay
        self.exchange, self.queue = exchange, queue

    def apply(self, deliveries, new_batch):
        """Outcomes in delivery order; ``new_batch()`` makes a fresh Batch.

        With a ``deliveries.ticket`` (overlapping batches, ``shared.consumer``)
        the transaction commits only after the batch before committed, and the
        ticket records how it ended. A batch with a ticket that fails as a
        whole is not retried here: ``RunAlone`` hands it back to the consumer,
        which runs it again without a ticket (and so one by one, if it fails
        again) once the batches around it are settled or rolled back."""
        ticket = getattr(deliveries, "ticket", None)
        try:
            outcomes = self._in_one_transaction(deliveries, new_batch(), ticket)
        except Exception as exc:
            if ticket is not None:
                ticket.end(committed=False)
            if is_retryable(exc) or isinstance(exc, PredecessorFailed):
                raise
            if ticket is not None:
                # one by one, but alone: the consumer runs this batch again once the
                # batch before is settled and the one after has rolled back
                raise RunAlone(f"the batch failed as a whole ({type(exc).__name__})") from exc
            if len(deliveries) == 1:
                return [self._dead(deliveries[0], exc)]
            log.warning("%s: a batch of %d failed (%s); applying one by one",
                        self.queue, len(deliveries), type(exc).__name__)
        else:
            return outcomes
        outcomes = []
        for delivery in deliveries:
            try:
                outcomes += self._in_one_transaction([delivery], new_batch())
            except Exception as exc:
                if is_retryable(exc):
                    raise
                outcomes.append(self._dead(delivery, exc))
        return outcomes

    def _in_one_transaction(self, deliveries, batch, ticket=None):
        with self.pool.transaction() as cur:
            uow = UnitOfWork(cur, self.exchange)
            uow.ticket = ticket
            outcomes = [outcome or ACK for outcome in batch.handle_all(uow, deliveries)]
            if ticket is not None:
                ticket.locked.set()     # a handler that takes no keys: the next batch goes on
            batch.before_commit(cur)
            for delivery, outcome in zip(deliveries, outcomes):
                if outcome.dead_letter_reason:
                    record_dead_letter(cur, self.queue, outcome.extra.get("event_id"),
                                       delivery.routing_key, outcome.dead_letter_reason)
            if ticket is not None:
                cur.flush()             # this batch's writes go in while the one before commits
                ticket.check_prev_committed()
            emitted = uow.flush()       # last: it holds the outbox's append lock to the commit
        if ticket is not None:
            ticket.end(committed=True)
        batch.after_commit(uow)
        if emitted and self.relay is not None:
            self.relay.wake()
        return outcomes

    def _dead(self, delivery, exc):
        # The type only in the log: an exception's message may quote personal data.
        log.error("%s: handler failed with %s on a %s message",
                  self.queue, type(exc).__name__, delivery.routing_key)
        reason = f"{type(exc).__name__}: {exc}"
        event_id = _event_id_of(delivery)
        with self.pool.transaction() as cur:
            record_dead_letter(cur, self.queue, event_id, delivery.routing_key, reason)
        return Outcome(dead_letter_reason=reason, extra={"event_id": event_id})


def _event_id_of(delivery):
    try:
        event_id = json.loads(delivery.body).get("event_id")
    except Exception:  # any body at all may arrive here
        return None
    return event_id if isinstance(event_id, str) and len(event_id) <= MAX_EVENT_ID else None


class EventBatch(Batch):
    """Events published by other services, dispatched by routing key.

    ``handlers`` maps routing keys to ``fn(uow, body)``. A body that is not a
    JSON object with an ``event_id`` cannot be de-duplicated, so it is a dead
    letter rather than a guess.
    """

    def __init__(self, handlers, default=None):
        """``default(uow, routing_key, body)`` takes event types without a
        handler; without it they are dead letters."""
        self.handlers = handlers
        self.default = default

    def handle_all(self, uow, deliveries):
        """Set-wise: every new event's inbox row in one statement, then the
        handlers of the new ones in delivery order (a re-delivery, or a second
        copy in the same batch, is not handled again)."""
        outcomes, accepted = [], []
        for delivery in deliveries:
            outcome, body = self._parse(delivery)
            outcomes.append(outcome)
            if outcome is ACK:
                accepted.append((delivery, body))
        rows, seen = [], set()
        for delivery, body in accepted:
            if body["event_id"] not in seen:
                seen.add(body["event_id"])
                rows.append((body["event_id"], delivery.routing_key, "applied"))
        new = record_inbox_many(uow.cursor, rows)
        self.prepare(uow, [(delivery.routing_key, body) for delivery, body in accepted
                           if body["event_id"] in new])
        for delivery, body in accepted:
            if body["event_id"] in new:
                new.discard(body["event_id"])
                handler = self.handlers.get(delivery.routing_key)
                if handler is not None:
                    handler(uow, body)
                else:
                    self.default(uow, delivery.routing_key, body)
            self.accepted(delivery, body)
        return outcomes

    def prepare(self, uow, events):
        """Before the handlers: ``events`` are the ``(routing_key, body)`` pairs about
        to be handled, for reading what they need in one statement."""

    def accepted(self, delivery, body):
        """Called for every delivery not dead-lettered, new or re-delivered, in order."""

    def _parse(self, delivery):
        """``(ACK, body)`` for a usable event, else ``(dead-letter outcome, None)``."""
        try:
            body = json.loads(delivery.body)
        except (ValueError, RecursionError) as exc:
            return Outcome(dead_letter_reason=f"unparseable: not JSON ({type(exc).__name__})"), None
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID \
                or "\x00" in event_id:
            return Outcome(dead_letter_reason="unparseable: no usable event_id"), None
        if self.handlers.get(delivery.routing_key) is None and self.default is None:
            return Outcome(dead_letter_reason=f"no handler for {delivery.routing_key!r}",
                           extra={"event_id": body["event_id"]}), None
        return ACK, body
