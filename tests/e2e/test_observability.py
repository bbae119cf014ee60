"""Every service serves Prometheus metrics and a health endpoint; logs carry no personal data."""
import json
import re
import urllib.request

import pytest

from tests.conftest import SERVICES, eventually
from tests.e2e.test_walking_skeleton import person, settled

pytestmark = pytest.mark.e2e


def scrape(test_env, service, path="/metrics"):
    url = f"http://{test_env[service.upper() + '_METRICS_ADDRESS']}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def sample(text, name, **labels):
    """The value of one sample, 0 if absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_each_service_answers_health_over_http(stack, test_env):
    for service in SERVICES:
        status, body = scrape(test_env, service, "/healthz")
        assert status == 200 and json.loads(body) == {"status": "ok", "service": service}


def test_intake_messages_rpc_and_outbox_are_measured(stack, test_env, intake, rpc_as):
    clerk = rpc_as("clerk")
    _, before = scrape(test_env, "enrolment")
    applied = sample(before, "vss_intake_total", outcome="applied")
    rejected = sample(before, "vss_intake_total", outcome="rejected")
    good = intake.publish("person.registered", person(province="14"))
    bad = intake.publish("person.registered", dict(person(province="14"), sex="unknown"))
    assert settled(clerk, good)["status"] == "applied" and settled(clerk, bad)["status"] == "rejected"

    def counted():
        _, text = scrape(test_env, "enrolment")
        return text if sample(text, "vss_intake_total", outcome="applied") >= applied + 1 else None
    text = eventually(counted)
    assert sample(text, "vss_intake_total", outcome="rejected") >= rejected + 1
    assert sample(text, "vss_messages_total", service="enrolment", queue="enrolment.intake",
                  outcome="acked") >= 2
    assert sample(text, "vss_rpc_seconds_count", service="enrolment", method="intake_status",
                  outcome="ok") >= 2
    assert "vss_outbox_unsent{service=\"enrolment\"}" in text
    assert "vss_batch_seconds_bucket" in text
    # labels carry no personal data
    assert not re.search(r'="\d{10,12}"', text)
