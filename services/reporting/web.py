"""HTTP for reporting consumers: the report figures as JSON or CSV, and the dashboard.

Only aggregates leave through here, so no token is asked for. Every asset
the dashboard needs is served by the service itself: the page works
without reaching any other site.
"""
import csv
import io
import json
import logging
import traceback
from pathlib import Path

from nameko.web.handlers import http
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from shared.errors import NotFound, ValidationError

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).parent / "dashboard"
ASSETS = {name: ((ASSETS_DIR / file).read_bytes(), mimetype) for name, file, mimetype in (
    ("dashboard", "dashboard.html", "text/html; charset=utf-8"),
    ("dashboard.js", "dashboard.js", "text/javascript; charset=utf-8"),
    ("dashboard.css", "dashboard.css", "text/css; charset=utf-8"),
)}
# The browser itself refuses anything not served from here (a CDN, inline script).
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
                    "X-Content-Type-Options": "nosniff"}
# Figures are always read fresh; the page's own files are checked on each load.
FIGURES_HEADERS = dict(SECURITY_HEADERS, **{"Cache-Control": "no-store"})
JSON = "application/json"
CSV = "text/csv"


def json_response(body, status=200):
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    content_type=f"{JSON}; charset=utf-8", headers=FIGURES_HEADERS)


def csv_response(rows, filename):
    fields = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    if fields:
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return Response(out.getvalue().encode("utf-8"), content_type=f"{CSV}; charset=utf-8",
                    headers=dict(FIGURES_HEADERS, **{
                        "Content-Disposition": f'attachment; filename="{filename}.csv"'}))


def csv_cell(value):
    """Numbers as they are, an empty cell for null, anything else as JSON; a text that a
    spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def wants_csv(request, report):
    return report.endswith(".csv") or \
        request.accept_mimetypes.best_match([JSON, CSV]) == CSV


def error_response(request, exc):
    if isinstance(exc, ValidationError):
        return json_response({"error": "ValidationError", "detail": exc.errors}, 400)
    if isinstance(exc, NotFound):
        return json_response({"error": "NotFound", "detail": str(exc)}, 404)
    # The frames say where it broke; the message is left out because it may
    # quote the data that broke it.
    log.error("GET %s failed: %s\nTraceback (most recent call last):\n%s", request.path,
              type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
    return json_response({"error": "InternalError"}, 500)


class ReportingHttp:
    """Mixed into the reporting service; expects its ``report(name, params)``.

    ``report`` validates the query-string parameters (all strings), runs the
    report and returns its rows; it raises ``ValidationError`` for bad
    parameters and ``NotFound`` for a report that does not exist.
    """

    @http("GET", "/api/<report>")
    def http_report(self, request, report):
        """``/api/<report>`` as JSON, or CSV for ``/api/<report>.csv`` or ``Accept: text/csv``."""
        as_csv = wants_csv(request, report)
        name = report.removesuffix(".csv")
        try:
            rows = self.report(name, request.args.to_dict(), public=True)
            return csv_response(rows, name) if as_csv else json_response(rows)
        except Exception as exc:
            return error_response(request, exc)

    @http("GET", "/api/<path:rest>")
    def http_no_report(self, request, rest):
        """Paths under /api that name no report get their 404 as JSON too."""
        return json_response({"error": "NotFound", "detail": f"no report at /api/{rest}"}, 404)

    @http("GET", "/<any(dashboard, 'dashboard.js', 'dashboard.css'):asset>")
    def http_dashboard(self, request, asset):
        body, mimetype = ASSETS[asset]
        return Response(body, content_type=mimetype,
                        headers=dict(SECURITY_HEADERS, **{"Cache-Control": "no-cache"}))

    @http("GET", "/")
    def http_home(self, request):
        return redirect("dashboard")  # relative, so it still works behind a path prefix

    @http("GET", "/healthz")
    def http_healthz(self, request):
        """Liveness of the HTTP side; the ``health`` RPC covers the rest."""
        return json_response({"status": "ok"})
