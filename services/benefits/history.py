"""Benefits' own copy of what it needs, built only from enrolment's events."""
from services.benefits import claims, store
from shared.inbox import EventBatch
from services.benefits.schemas import (
    ContributionRecordedSchema, EmploymentEndedSchema, EmploymentStartedSchema,
    ParticipantDiedSchema, ParticipantRegisteredSchema)

PARTICIPANT_REGISTERED = ParticipantRegisteredSchema()
CONTRIBUTION_RECORDED = ContributionRecordedSchema()
EMPLOYMENT_STARTED = EmploymentStartedSchema()
EMPLOYMENT_ENDED = EmploymentEndedSchema()
PARTICIPANT_DIED = ParticipantDiedSchema()
# Kinds of contribution that count towards SI benefits; household HI does not.
SI_KINDS = ("compulsory", "voluntary_si")


def on_participant_registered(uow, body):
    store.upsert_person(uow.cursor, PARTICIPANT_REGISTERED.load(body))


def on_participant_corrected(uow, body):
    store.correct_person(uow.cursor, body)


def on_participant_died(uow, body):
    died = PARTICIPANT_DIED.load(body)
    store.mark_deceased(uow.cursor, died["citizen_id"], died["date_of_death"])
    claims.flag_paid_after_death(uow, died["citizen_id"], died["date_of_death"])


def on_contribution_recorded(uow, body):
    row = CONTRIBUTION_RECORDED.load(body)
    if row["scheme"] not in SI_KINDS or row["contribution_wage"] is None:
        return
    paid_ui = (row["employee"].get("unemployment") or 0) > 0
    store.record_contribution_month(uow.cursor, {
        "citizen_id": row["citizen_id"], "month": row["month"], "kind": row["scheme"],
        "employer_code": row["employer_code"] or "", "wage": row["contribution_wage"],
        "ui_wage": row["contribution_wage_ui"] if paid_ui else None,
        "source_event_id": body["event_id"]})


def on_employment_started(uow, body):
    job = EMPLOYMENT_STARTED.load(body)
    store.start_employment(uow.cursor, job)
    claims.stop_for_employment(uow, job["citizen_id"], job["start_date"])


def on_employment_ended(uow, body):
    store.end_employment(uow.cursor, EMPLOYMENT_ENDED.load(body))


HANDLERS = {"participant_registered": on_participant_registered,
            "participant_corrected": on_participant_corrected,
            "participant_died": on_participant_died,
            "contribution_recorded": on_contribution_recorded,
            "employment_started": on_employment_started,
            "employment_ended": on_employment_ended}


class HistoryBatch(EventBatch):
    """A batch of enrolment's events; reads once which of the people who start a
    job have an open unemployment claim (only theirs can be stopped)."""

    def __init__(self):
        super().__init__(HANDLERS)

    def prepare(self, uow, events):
        starting = {body.get("citizen_id") for key, body in events if key == "employment_started"}
        starting.discard(None)
        uow.unemployment_claimants = (store.with_open_unemployment_claim(uow.cursor, starting)
                                      if starting else set())
