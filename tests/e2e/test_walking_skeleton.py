"""The thinnest real path: intake → enrolment → benefits and reporting."""
import json
import secrets

import pytest
from nameko.exceptions import RemoteError

from tests.conftest import eventually

pytestmark = pytest.mark.e2e


def citizen_id(province="01", sex="male", year=1985):
    """A 12-digit id whose digits agree with sex and birth year (built here,
    independently of the service's own helper)."""
    century_sex = {(1900, "male"): "0", (1900, "female"): "1",
                   (2000, "male"): "2", (2000, "female"): "3"}[(year // 100 * 100, sex)]
    return f"0{province}{century_sex}{year % 100:02d}{secrets.randbelow(10**6):06d}"


def person(province="01", sex="male", born="1985-03-02", **extra):
    return dict({"citizen_id": citizen_id(province, sex, int(born[:4])), "full_name": "Trần Thị B",
                 "date_of_birth": born, "sex": sex, "province_code": province}, **extra)


def settled(clerk, event_id):
    """The intake status once the event has been consumed."""
    def check():
        status = clerk.enrolment.intake_status(event_id)
        return status if status["status"] != "unknown" else None
    return eventually(check)


def registered_in(rpc, province):
    rows = [r for r in rpc.reporting.coverage(province_code=province) if r["scheme"] == "registered"]
    return rows[0]["participants"] if rows else 0


def test_registered_person_gets_si_code_and_reaches_benefits(intake, rpc_as):
    clerk, assessor = rpc_as("clerk"), rpc_as("assessor")
    payload = person(province="42", sex="female", born="1990-07-11")
    event_id = intake.publish("person.registered", payload)

    found = eventually(lambda: clerk.enrolment.intake_status(event_id)["status"] == "applied")
    assert found
    participant = clerk.enrolment.get_participant(payload["citizen_id"])
    assert participant["si_code"].isdigit() and len(participant["si_code"]) == 10
    assert participant["si_code"].startswith("42")
    assert participant["status"] == "active"
    assert participant["sex"] == "female" and participant["date_of_birth"] == "1990-07-11"
    assert clerk.enrolment.find_by_si_code(participant["si_code"])["citizen_id"] == payload["citizen_id"]

    copy = eventually(lambda: _maybe(lambda: assessor.benefits.get_person(payload["citizen_id"])))
    assert copy["si_code"] == participant["si_code"]
    assert copy["province_code"] == "42"


def _maybe(call):
    try:
        return call()
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            return None
        raise


def test_reporting_counts_each_new_person_exactly_once(intake, rpc_as):
    planner, clerk = rpc_as("planner"), rpc_as("clerk")
    before, marker_before = registered_in(planner, "79"), registered_in(planner, "96")
    ids = [intake.publish("person.registered", person(province="79")) for _ in range(5)]
    eventually(lambda: all(clerk.enrolment.intake_status(i)["status"] == "applied" for i in ids))
    # a marker published after them has passed through reporting: nothing more can arrive
    intake.publish("person.registered", person(province="96"))
    eventually(lambda: registered_in(planner, "96") == marker_before + 1)
    assert registered_in(planner, "79") == before + 5


def test_duplicate_event_id_changes_nothing(intake, rpc_as):
    planner, clerk = rpc_as("planner"), rpc_as("clerk")
    before = registered_in(planner, "22")
    payload = person(province="22")
    event_id = intake.publish("person.registered", payload)
    intake.publish("person.registered", payload, event_id=event_id)
    intake.publish("person.registered", payload, event_id=event_id)
    eventually(lambda: registered_in(planner, "22") == before + 1)
    # a marker event sent after the duplicates proves they have been consumed
    marker = intake.publish("person.registered", person(province="22"))
    eventually(lambda: clerk.enrolment.intake_status(marker)["status"] == "applied")
    eventually(lambda: registered_in(planner, "22") == before + 2)
    assert clerk.enrolment.intake_status(event_id)["status"] == "applied"


def rejections_from(planner, source):
    return sum(r["rejections"] for r in planner.reporting.intake_rejections() if r["source"] == source)


def test_malformed_json_and_contradictory_id_are_listed_with_reasons(intake, rpc_as):
    clerk, planner = rpc_as("clerk"), rpc_as("planner")
    dead_before = clerk.enrolment.health()["dead_letters"]
    announced_before = rejections_from(planner, "listing-test")
    intake.publish_raw(b'{"event_id": "broken-%d", "event_type": ' % secrets.randbelow(10**9),
                       "person.registered")
    bad = person(sex="male")
    bad["citizen_id"] = bad["citizen_id"][:3] + "1" + bad["citizen_id"][4:]  # digit 4 says female
    contradictory = intake.publish("person.registered", bad, source="listing-test")
    unknown_type = intake.publish("person.teleported", {"citizen_id": bad["citizen_id"]},
                                  source="listing-test")

    status = settled(clerk, contradictory)
    assert status["status"] == "rejected"
    assert status["reasons"]["payload.sex"][0].startswith("contradicts_citizen_id:")

    def listed():
        rows = clerk.enrolment.list_rejections(limit=1000)
        by_id = {r["event_id"]: r for r in rows}
        malformed = [r for r in rows if r["reasons"].get("_body", [""])[0].startswith("not_json:")]
        assert contradictory in by_id and unknown_type in by_id and malformed
        return by_id
    by_id = eventually(listed)
    assert by_id[unknown_type]["reasons"]["event_type"][0].startswith("unknown_event_type:")
    with pytest.raises(RemoteError) as err:
        clerk.enrolment.get_participant(bad["citizen_id"])
    assert err.value.exc_type == "NotFound"
    # the consumer is still alive and the broken message was counted as a dead letter
    follow_up = intake.publish("person.registered", person())
    eventually(lambda: clerk.enrolment.intake_status(follow_up)["status"] == "applied")
    assert clerk.enrolment.health()["dead_letters"] == dead_before + 1
    # and every rejection was announced: reporting counted them
    eventually(lambda: rejections_from(planner, "listing-test") == announced_before + 2)


def test_rejected_envelope_has_per_field_reasons(intake, rpc_as):
    clerk = rpc_as("clerk")
    event_id = intake.publish("person.registered", person(), occurred_at="2024-01-16T09:51:00",
                              source="")
    status = settled(clerk, event_id)
    assert status["status"] == "rejected"
    assert status["reasons"]["occurred_at"][0].startswith("missing_offset:")
    assert "source" in status["reasons"]


def last_audit_id(auditor):
    after_id = 0
    while page := auditor.enrolment.audit_log(after_id=after_id, limit=1000):
        after_id = page[-1]["id"]
    return after_id


@pytest.mark.parametrize("token,role_seen", [(None, None), ("dev-planner-token", "planner"),
                                              ("not-a-token", None)])
def test_refused_calls_raise_unauthorized_and_are_audited(rpc_as, token, role_seen):
    auditor = rpc_as("auditor")
    after_id = last_audit_id(auditor)
    caller = rpc_as(token=token) if token else rpc_as()
    with pytest.raises(RemoteError) as err:
        caller.enrolment.get_participant("001085012345")
    assert err.value.exc_type == "Unauthorized"
    rows = auditor.enrolment.audit_log(after_id=after_id)
    refused = [r for r in rows if r["method"] == "get_participant" and r["outcome"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["role"] == role_seen
    assert refused[0]["detail"]["args"] == ["001085012345"]


@pytest.mark.parametrize("role,call,field", [
    ("clerk", lambda rpc: rpc.enrolment.get_participant("12345"), "citizen_id"),
    ("clerk", lambda rpc: rpc.enrolment.list_rejections(limit=0), "limit"),
    ("clerk", lambda rpc: rpc.enrolment.list_rejections(since="yesterday"), "since"),
    ("clerk", lambda rpc: rpc.enrolment.list_rejections(after_event_id=5), "after_event_id"),
    ("auditor", lambda rpc: rpc.enrolment.audit_log(after_id="x"), "after_id"),
    ("planner", lambda rpc: rpc.reporting.coverage(province_code="1"), "province_code"),
])
def test_rpc_validation_errors_name_the_field(rpc_as, role, call, field):
    with pytest.raises(RemoteError) as err:
        call(rpc_as(role))
    assert err.value.exc_type == "ValidationError"
    assert field in json.loads(err.value.value)


def test_every_service_answers_health(rpc_as):
    anyone = rpc_as()
    for name in ("enrolment", "benefits", "reporting"):
        health = getattr(anyone, name).health()
        assert health["service"] == name and health["status"] == "ok"
