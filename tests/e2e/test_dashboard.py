"""Reporting over HTTP, and the dashboard in a real headless Chromium."""
import csv
import io
import json
import shutil
import struct
import subprocess
import urllib.request
from html.parser import HTMLParser
from urllib.error import HTTPError

import pytest

from deploy.stack import ROOT
from tests.conftest import eventually
from tests.e2e.test_walking_skeleton import person, registered_in

pytestmark = pytest.mark.e2e

PROVINCE = "92"  # no other test registers anyone in Cần Thơ (92, 93, 94 before 2025)
SCREENSHOT = ROOT / "var" / "test-artifacts" / "dashboard.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--hide-scrollbars", "--virtual-time-budget=10000"]


def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers, response.read()
    except HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(url):
    status, headers, body = get(url)
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    return status, json.loads(body)


def csv_rows(body):
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


@pytest.fixture
def registered(intake, rpc_as):
    """Three people registered in PROVINCE, counted by reporting: the count now."""
    planner = rpc_as("planner")
    before = registered_in(planner, PROVINCE)
    for _ in range(3):
        intake.publish("person.registered", person(province=PROVINCE))
    return eventually(lambda: registered_in(planner, PROVINCE) == before + 3 and before + 3)


def test_coverage_over_http_is_the_coverage_rpc(reporting_url, registered, rpc_as):
    planner = rpc_as("planner")

    def same(url, **rpc_args):
        status, rows = get_json(url)
        return status == 200 and rows and rows == planner.reporting.coverage(**rpc_args)
    # other tests' cover may still be lapsing: equal once two reads agree
    assert eventually(lambda: same(f"{reporting_url}/api/coverage"))
    assert eventually(lambda: same(f"{reporting_url}/api/coverage?province_code={PROVINCE}",
                                   province_code=PROVINCE))


@pytest.mark.parametrize("path, accept", [("/api/coverage.csv", None), ("/api/coverage", "text/csv")])
def test_coverage_as_csv_has_the_same_rows(reporting_url, registered, path, accept):
    status, headers, body = get(reporting_url + path, accept)
    _, rows = get_json(f"{reporting_url}/api/coverage")

    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
    table = csv_rows(body)
    assert len(table) == len(rows)
    assert list(table[0]) == list(rows[0])
    ours = [r for r in table if r["province_code"] == PROVINCE and r["scheme"] == "registered"]
    assert [r["participants"] for r in ours] == [str(registered)]


def test_bad_parameter_is_400_with_what_is_wrong_with_it(reporting_url, stack):
    status, body = get_json(f"{reporting_url}/api/coverage?province_code=9x")

    assert status == 400
    assert body["error"] == "ValidationError"
    assert list(body["detail"]) == ["province_code"]
    assert all(isinstance(message, str) for message in body["detail"]["province_code"])


def test_unknown_report_is_404(reporting_url, stack):
    status, body = get_json(f"{reporting_url}/api/salaries")

    assert status == 404 and body["error"] == "NotFound"


def test_dashboard_is_served_by_the_service_itself(reporting_url, stack):
    status, headers, page = get(f"{reporting_url}/dashboard")

    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"http://" not in page and b"https://" not in page
    assert get(f"{reporting_url}/dashboard.js")[0] == 200
    assert get_json(f"{reporting_url}/healthz") == (200, {"status": "ok"})


class DashboardFigures(HTMLParser):
    """The sections' states and every figure the page labels with province, scheme and field."""

    def __init__(self, html):
        super().__init__()
        self.sections, self.figures = {}, {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections[attrs["id"]] = attrs.get("data-state")
        key = tuple(attrs.get(f"data-{name}") for name in ("province", "scheme", "field"))
        if all(key):
            self.figures.setdefault(key, set()).add(attrs.get("data-value"))


@pytest.fixture
def chromium(tmp_path):
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if binary is None:
        pytest.skip("no Chromium on PATH: the dashboard test needs a real browser "
                    "(on Debian: apt-get install -y chromium)")

    def run(*args):
        done = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        return done.stdout.decode("utf-8")
    return run


def test_dashboard_shows_the_rpc_figures_in_a_real_browser(reporting_url, registered, rpc_as, chromium):
    coverage = rpc_as("planner").reporting.coverage()

    page = DashboardFigures(chromium("--dump-dom", f"{reporting_url}/dashboard"))

    assert page.sections["coverage"] == "ready"
    assert all(state in ("ready", "empty") for state in page.sections.values()), page.sections
    assert page.figures[(PROVINCE, "registered", "participants")] == {str(registered)}
    shown = {(province, scheme) for province, scheme, field in page.figures if field == "participants"}
    assert {(row["province_code"], row["scheme"]) for row in coverage} <= shown

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    chromium(f"--screenshot={SCREENSHOT}", "--window-size=1280,2000", f"{reporting_url}/dashboard")
    png = SCREENSHOT.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", png[16:24]) == (1280, 2000)
    assert len(png) > 40_000, "a blank page of that size is about 13 kB"
