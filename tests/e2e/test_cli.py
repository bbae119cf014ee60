"""The operators' ``vss`` command line, run in-process against the running services."""
import csv
import datetime as dt
import hashlib
import io
import json
import secrets

import pytest
from click.testing import CliRunner
from nameko.exceptions import RemoteError

from cli.main import cli
from tests.conftest import eventually
from tests.e2e.test_register import employment, registered
from tests.e2e.test_walking_skeleton import citizen_id, person, settled

pytestmark = pytest.mark.e2e


@pytest.fixture
def vss(stack, amqp_uri):
    """``vss("person", "show", id, role="clerk")``: the command's click Result."""
    runner = CliRunner()

    def run(*args, role=None, token=None, amqp=None, input=None):
        env = {"AMQP_URI": amqp or amqp_uri, "VSS_TOKEN": token or (role and f"dev-{role}-token"),
               "VSS_TIMEOUT": None, "VSS_CONFIG": None, "COLUMNS": "250"}
        return runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
    return run


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def test_person_show_by_either_key_and_its_errors(intake, rpc_as, vss):
    clerk = rpc_as("clerk")
    cid = registered(intake, clerk, province="96")
    started = intake.publish("employment.started", employment(cid))
    assert settled(clerk, started)["status"] == "applied"
    si_code = clerk.enrolment.get_participant(cid)["si_code"]

    shown = ok(vss("person", "show", cid, role="clerk")).stdout
    assert cid in shown and si_code in shown and "Trần Thị B" in shown
    assert "VALID" in shown and "compulsory_si" in shown and "SI book:" in shown
    by_si = json.loads(ok(vss("--json", "person", "show", si_code, role="clerk")).stdout)
    assert by_si["citizen_id"] == cid and by_si["cards"][0]["status"] == "valid"
    only = json.loads(ok(vss("--json", "person", "show", cid, "--only", "coverage",
                             role="clerk")).stdout)
    assert set(only) == {"citizen_id", "si_code", "coverages"}

    missing = vss("person", "show", citizen_id("96"), role="clerk")
    assert missing.exit_code == 1 and missing.stderr.startswith("NotFound: ")
    refused = vss("person", "show", cid, role="planner")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Unauthorized: role planner may not call")
    anonymous = vss("person", "show", cid)
    assert anonymous.exit_code == 1 and "set VSS_TOKEN" in anonymous.stderr
    assert vss("person", "show", "12345", role="clerk").exit_code == 2


def test_claims_are_submitted_and_shown_and_refused_per_field(intake, rpc_as, vss):
    cid = registered(intake, rpc_as("clerk"))
    assessor = rpc_as("assessor")

    def known():
        try:
            return assessor.benefits.get_person(cid)
        except RemoteError:
            return None
    eventually(known)
    decided = json.loads(ok(vss("--json", "claim", "submit", "--citizen-id", cid, "--kind",
                                "pension", "--claim-date", "2026-01-15",
                                role="assessor")).stdout)
    assert decided["status"] == "rejected"
    shown = ok(vss("claim", "show", str(decided["claim_id"]), role="assessor")).stdout
    assert f"claim {decided['claim_id']}" in shown and "rejected" in shown
    assert "below_retirement_age" in shown and "explanation" in shown

    bad = vss("claim", "submit", "--citizen-id", cid, "--kind", "lump_sum", "--claim-date",
              "2026-02-30", "--reason", "retirement_age", "--bank-account", "x",
              role="assessor")
    assert bad.exit_code == 1
    lines = bad.stderr.splitlines()
    assert lines[0].startswith("ValidationError")
    assert any(line.startswith("claim_date: invalid_date") for line in lines)
    assert any(line.startswith("bank_account: invalid_format") for line in lines)


def as_csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def test_report_coverage_as_csv_has_the_rows_of_the_rpc(rpc_as, vss):
    planner = rpc_as("planner")

    def same():
        expected = planner.reporting.coverage(province_code="96")
        printed = ok(vss("report", "coverage", "-p", "province_code=96", "--csv", "-",
                         role="planner")).stdout
        rows = list(csv.DictReader(io.StringIO(printed)))
        assert rows and rows == [{k: as_csv_cell(v) for k, v in row.items()} for row in expected]
        return True
    eventually(same, timeout=15, interval=0.5)  # counts may still move while events settle

    unknown = vss("report", "coverage", "-p", "year=2026", role="planner")
    assert unknown.exit_code == 2 and "province_code" in unknown.stderr


def test_a_payment_run_prints_its_totals(vss):
    run = ok(vss("payments", "run", "2026-05", role="finance"))
    assert "paying benefits due in 2026-05" in run.stderr
    assert "payment run 2026-05" in run.stdout and "completed" in run.stdout
    assert "total" in run.stdout and "VND" in run.stdout
    again = json.loads(ok(vss("--json", "payments", "run", "2026-05", role="finance")).stdout)
    assert again["status"] == "completed" and again["period"] == "2026-05"
    assert str(again["run_id"]) in run.stdout
    assert vss("payments", "run", "2026-05", role="clerk").exit_code == 1


def test_targets_are_set_and_shown(vss):
    name = f"CLI campaign {secrets.token_hex(3)}"
    ok(vss("targets", "set", "2026", "96", "voluntary_si", "1200", "--name", name,
           "--from", "2026-03-01", "--to", "2026-03-31", role="planner"))
    rows = json.loads(ok(vss("--json", "targets", "show", "2026", "--province", "96",
                             role="planner")).stdout)
    [row] = [r for r in rows if r["name"] == name]
    assert row["scheme"] == "voluntary_si" and row["target"] == 1200
    assert row["starts_on"] == "2026-03-01" and row["ends_on"] == "2026-03-31"
    assert name in ok(vss("targets", "show", "2026", "--province", "96", role="planner")).stdout
    bad = vss("targets", "set", "2026", "96", "voluntary_si", "12.5", role="planner")
    assert bad.exit_code == 1 and "target: invalid" in bad.stderr


def test_rejections_list_a_rejected_intake_event(intake, rpc_as, vss):
    clerk = rpc_as("clerk")
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)).isoformat()
    bad = person(sex="male")
    bad["citizen_id"] = bad["citizen_id"][:3] + "1" + bad["citizen_id"][4:]  # digit 4 says female
    event_id = intake.publish("person.registered", bad, source="cli-test")
    assert settled(clerk, event_id)["status"] == "rejected"

    rows = json.loads(ok(vss("--json", "rejections", "--since", since, "--limit", "1000",
                             role="clerk")).stdout)
    [row] = [r for r in rows if r["event_id"] == event_id]
    assert row["source"] == "cli-test"
    assert row["reasons"]["payload.sex"][0].startswith("contradicts_citizen_id:")
    table = ok(vss("rejections", "--since", since, "--limit", "1000", role="clerk")).stdout
    assert event_id in table and "payload.sex: contradicts_citizen_id" in table


def letters(vss):
    found = json.loads(ok(vss("--json", "dead-letters", "list", "--queue", "enrolment.intake",
                              "--limit", "1000")).stdout)
    [queue] = found
    assert queue["queue"] == "enrolment.intake.dead-letters"
    return {letter["digest"]: letter for letter in queue["letters"]}


def test_dead_letters_are_listed_and_resubmitted(intake, vss):
    body = b"not json " + secrets.token_hex(8).encode()
    digest = hashlib.sha256(body).hexdigest()
    intake.publish_raw(body, "person.registered")
    first = eventually(lambda: letters(vss).get(digest))
    assert first["reason"].startswith("not_json") and first["service"] == "enrolment"
    assert (first["exchange"], first["routing_key"]) == ("enrolment.intake", "person.registered")
    assert first["size"] == len(body)
    assert digest in letters(vss)  # listing consumed nothing
    table = ok(vss("dead-letters", "list", "--queue", "enrolment.intake", "--limit", "1000")).stdout
    assert digest[:12] in table and "not_json" in table and body.decode() not in table

    declined = vss("dead-letters", "resubmit", "--id", digest[:16], input="n\n")
    assert declined.exit_code == 1 and digest in letters(vss)

    moved = ok(vss("dead-letters", "resubmit", "--queue", "enrolment.intake", "--id", digest[:16],
                   "--yes"))
    assert "resubmitted 1 message(s) in all" in moved.stdout
    # enrolment reads it again, still cannot, and dead-letters it afresh
    again = eventually(lambda: (letters(vss).get(digest) or {}).get("dead_lettered_at", "")
                       > first["dead_lettered_at"])
    assert again


def test_health_and_an_unreachable_broker(vss):
    shown = json.loads(ok(vss("--json", "health")).stdout)
    assert [s["service"] for s in shown] == ["enrolment", "benefits", "reporting"]
    assert all(s["status"] == "ok" for s in shown)
    down = vss("person", "show", citizen_id(), role="clerk",
               amqp="pyamqp://guest:guest@127.0.0.1:1/")
    assert down.exit_code == 3 and "cannot reach the broker" in down.stderr
    assert vss("dead-letters", "list", amqp="pyamqp://guest:guest@127.0.0.1:1/").exit_code == 3

