"""Read models built from the events reporting consumes, incrementally and exactly once.

Each batch gathers what its events change and writes every aggregate row
once before the batch's transaction commits, with the inbox rows. The same
projection replays the archive when the read models are rebuilt.
"""
from collections import Counter

from services.reporting import store
from services.reporting.domain import aggregates
from shared.inbox import EventBatch

PARTICIPANT_DELTAS = {
    "participant_registered": aggregates.participant_registered_deltas,
    "coverage_started": aggregates.coverage_started_deltas,
    "coverage_ended": aggregates.coverage_ended_deltas,
    "participant_corrected": aggregates.participant_corrected_deltas,
}


class Projection:
    """What a run of events changes in the read models, written at once."""

    def __init__(self):
        self.participants, self.changes, self.groups = [], [], []
        self.payments, self.grants, self.people = [], [], []
        self.claims, self.rejections = Counter(), Counter()
        self.programmes = {}
        self.touched = set()

    def apply(self, event_type, body):
        if event_type in PARTICIPANT_DELTAS:
            self.participants.extend(PARTICIPANT_DELTAS[event_type](body))
            self.changes.extend(aggregates.dated_changes(event_type, body))
            self.groups.extend(aggregates.group_deltas(event_type, body))
            self.touched.add("coverage")
        elif event_type == "intake_rejected":
            self.rejections.update([aggregates.rejection_key(body)])
            self.touched.add("rejections")
        elif event_type == "payment_run_completed":
            self.payments.extend(aggregates.payment_rows(body))
            self.touched.add("benefits")
        elif event_type == "claim_decided":
            self.claims.update([aggregates.claim_key(body)])
            self.touched.add("claims")
        elif event_type == "programme_created":
            self.programmes[body["programme_code"]] = body
            self.touched.add("programmes")
        elif event_type == "sponsorship_granted":
            self.grants.append(aggregates.grant_row(body))
            self.people.append((body["programme_code"],
                                aggregates.person_key(body["programme_code"], body["citizen_id"])))
            self.touched.add("programmes")

    def write(self, cur):
        merged = aggregates.merge(self.participants)
        if merged:
            store.add_to_counts(cur, merged)
        if self.changes:
            changes = aggregates.merge_rows(self.changes, 3)
            store.add_coverage_changes(cur, changes)
            # after the days, in every batch: concurrent batches lock rows in the same order
            store.add_coverage_monthly(cur, aggregates.monthly_rows(changes))
        groups = [row for row in aggregates.merge_rows(self.groups, 4) if row[4]]
        if groups:
            store.add_group_counts(cur, groups)
        if self.rejections:
            store.add_rejections(cur, self.rejections)
        if self.payments:
            store.add_benefit_payments(cur, aggregates.merge_rows(self.payments, 3))
        if self.claims:
            store.add_claim_decisions(cur, [key + (n,) for key, n in sorted(self.claims.items())])
        for body in self.programmes.values():  # before their grants
            store.upsert_programme(cur, body)
        if self.grants:
            store.add_grants(cur, aggregates.merge_rows(self.grants, 3), self.people)
        if self.touched:
            store.touch(cur, self.touched)


class ProjectionBatch(EventBatch):
    """One consumed batch: every event archived once, then projected."""

    def __init__(self):
        self.projection = Projection()
        self.archived = []
        super().__init__({}, default=self._project)

    def _project(self, uow, routing_key, body):
        self.projection.apply(routing_key, body)

    def accepted(self, delivery, body):
        # a re-delivered event is archived once: the archive is keyed by event_id
        self.archived.append((body["event_id"], delivery.exchange, delivery.routing_key,
                              delivery.body.decode("utf-8")))

    def before_commit(self, cur):
        self.projection.write(cur)
        if self.archived:
            store.archive(cur, self.archived)


def rebuild(pool, chunk=5000):
    """Empty the read models and replay the archive into them, in one transaction.

    Consumers wait meanwhile (the archive is locked), so no event is counted
    twice or missed. Returns how many events were replayed.
    """
    replayed, last_id = 0, 0
    with pool.transaction() as cur:
        store.clear_read_models(cur)
        while True:
            rows = store.archived_events(cur, last_id, chunk)
            if not rows:
                return replayed
            projection = Projection()
            for row in rows:
                projection.apply(row["routing_key"], row["body"])
            projection.write(cur)
            replayed += len(rows)
            last_id = rows[-1]["id"]
