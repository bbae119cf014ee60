"""The reporting service: read models built from the other services' events, served
over RPC and HTTP (``services/reporting/web.py``)."""
import datetime as dt
import inspect
import json
from pathlib import Path

from services.reporting import arguments as args
from services.reporting import projections, queries, store
from services.reporting.domain.figures import load_reference, today_unit, year_bounds
from services.reporting.replies import Answers, Reply, read_model_version, rpc
from services.reporting.web import ReportingHttp
from shared.auth import Auth, authorised
from shared.consumer import consume_batches
from shared.db import Database
from shared.envelope import today_in
from shared.errors import EXPECTED, NotFound, ValidationError
from shared.inbox import EventInbox
from shared.metrics import Metrics
from shared.outbox import OutboxRelay
from shared.platform import PlatformRpc

QUEUE = "reporting.events"
EVENTS_EXCHANGE = "reporting.events"
# the events the read models are built from (projections.Projection.apply)
CONSUMED = [("enrolment.events", key) for key in (
    "participant_registered", "participant_corrected", "coverage_started", "coverage_ended",
    "intake_rejected", "programme_created", "sponsorship_granted")] + [
    ("benefits.events", "payment_run_completed"), ("benefits.events", "claim_decided"),
    ("reporting.events", "targets_changed")]
REFERENCE = load_reference()


def _unit(code):
    return today_unit(code) if code else None


class ReportingService(PlatformRpc, ReportingHttp):
    name = "reporting"
    events_exchange = EVENTS_EXCHANGE

    db = Database(Path(__file__).parent / "migrations")
    relay = OutboxRelay()
    auth = Auth()
    metrics = Metrics()
    answers = Answers()

    # only what the read models use (the archive replays them): contributions,
    # cards, books and payments stay off this queue; its own targets_changed too,
    # archived with the rest (and its outbox drains)
    @consume_batches(queue=QUEUE, bindings=CONSUMED,
                     unbind=[("enrolment.events", "#"), ("benefits.events", "#")])
    def consume_events(self, deliveries):
        inbox = EventInbox(self.db, self.relay, EVENTS_EXCHANGE, QUEUE)
        return inbox.apply(deliveries, projections.ProjectionBatch)

    # -- the figures: one entry for RPC and HTTP ------------------------------

    def report(self, name, params, public=False):
        """Rows of report ``name`` with ``params`` (strings or JSON values), checked here.

        ``public``: asked over HTTP without a token, where only the province-level
        reports are served (a commune's count by HI group could point at a person).
        """
        runner = _runner(name, params, public)
        with self.db.transaction() as cur:
            store.snapshot(cur)  # every statement of the report reads the same snapshot
            return runner(cur, **params)

    def answer(self, name, params):
        """``report`` over RPC: a ``Reply`` encoded once, kept in ``answers`` while the
        read models are unchanged (``services/reporting/replies.py`` says why that is
        always correct)."""
        runner = _runner(name, params)
        key = (name, json.dumps(params, sort_keys=True, default=repr), today_in())
        with self.db.transaction() as cur:
            store.snapshot(cur)  # the version and every statement of the report: one snapshot
            version = read_model_version(cur)  # first: the answer is at least this new
            reply = self.answers.get(version, key)
            if reply is not None:
                return reply
            rows = runner(cur, **params)
        return self.answers.put(version, key, Reply(rows))

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def coverage(self, as_of=None, province_code=None):
        """Participants per province and scheme, with denominators and rates (planner).

        Rows ``{province_code, province_name, scheme, participants, population,
        workforce, denominator_kind, denominator, denominator_year, denominator_source,
        coverage_rate, national_target_percent, as_of}`` in today's province units, plus
        ``VN`` rows for the nation. ``as_of`` (``YYYY-MM-DD``) gives the figures at the
        end of that day; ``coverage_rate`` is a percent, null where the denominator is
        not known.
        """
        return self.answer("coverage", {"as_of": as_of, "province_code": province_code})

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def coverage_breakdown(self, province_code, scheme=None):
        """Participants of one province (today's units) per commune, scheme and HI group (planner).

        Rows ``{province_code, commune_code, scheme, group_code, participants, as_of}``;
        ``commune_code`` null where the register has none, ``group_code`` the HI group a
        person entered health cover with (null for other schemes).
        """
        return self.answer("breakdown", {"province_code": province_code, "scheme": scheme})

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def target_progress(self, year, province_code=None, as_of=None):
        """Progress against the year's targets (planner).

        Rows ``{province_code, scheme, measure, name, starts_on, ends_on, target,
        achieved, percent, remaining, expected_by_now, on_pace, as_of}``.
        """
        return self.answer("targets", {"year": year, "province_code": province_code,
                                       "as_of": as_of})

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def benefits_summary(self, period, province_code=None):
        """Beneficiaries and amounts per kind in ``period`` (``YYYY`` or ``YYYY-MM``) and
        the same period a year before, with the change in percent (planner)."""
        return self.answer("benefits", {"period": period, "province_code": province_code})

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def benefits_by_month(self, year, province_code=None):
        """Beneficiaries and amounts per month and kind of ``year`` and the year before (planner)."""
        return self.answer("benefits_by_month", {"year": year, "province_code": province_code})

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def programme_summary(self, programme_code=None):
        """Sponsored programmes: people, cards, books and amount against goals, per
        sponsor and province (planner)."""
        return self.answer("programmes", {"programme_code": programme_code})

    # -- planners' input ------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner", changes_data=True)
    def set_target(self, year, province_code, scheme, target, measure="new_participants",
                   name=None, starts_on=None, ends_on=None):
        """Set a target (planner); emits ``targets_changed``.

        ``measure``: ``new_participants`` (people who start in the scheme between
        ``starts_on`` and ``ends_on``, by default the whole year) or ``coverage_rate``
        (a percent to reach by ``ends_on``). ``name`` makes it a campaign beside the
        yearly target, e.g. a promotion month. ``province_code`` is a province of
        today's map or ``VN``. Returns the stored target.
        """
        row = {"year": args.year("year", year),
               "province_code": _unit(args.province("province_code", province_code)),
               "scheme": args.scheme("scheme", scheme), "measure": args.measure("measure", measure)}
        if row["province_code"] is None:
            args.refuse("province_code", "required", "a province code or VN")
        row["target"] = args.target_value("target", target, row["measure"])
        first, last = year_bounds(row["year"])
        row["starts_on"] = args.day("starts_on", starts_on) or first
        row["ends_on"] = args.day("ends_on", ends_on) or last
        if row["ends_on"] < row["starts_on"]:
            args.refuse("ends_on", "invalid_range", "not before starts_on")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 100):
            args.refuse("name", "invalid_length", "1-100 characters")
        row["name"] = name or ""

        def store_target(uow):
            stored = queries.target_view(store.set_target(uow.cursor, row))  # (touches the clock)
            uow.emit("targets_changed", stored)
            return stored
        return self._changing(store_target)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner", changes_data=True)
    def set_denominator(self, province_code, year, source, population=None, labour_force=None,
                        working_age_labour_force=None):
        """Set a province's (or ``VN``'s) denominators for a year, with their source (planner)."""
        row = {"province_code": _unit(args.province("province_code", province_code)),
               "year": args.year("year", year), "population": args.count("population", population),
               "labour_force": args.count("labour_force", labour_force),
               "working_age_labour_force": args.count("working_age_labour_force",
                                                      working_age_labour_force)}
        if row["province_code"] is None:
            args.refuse("province_code", "required", "a province code or VN")
        if not isinstance(source, str) or not 3 <= len(source.strip()) <= 300:
            args.refuse("source", "invalid_length", "where the figure comes from, 3-300 characters")
        if not any(row[k] for k in ("population", "labour_force", "working_age_labour_force")):
            args.refuse("population", "required", "at least one figure")
        row["source"] = source.strip()

        def store_denominator(uow):
            stored = dict(store.set_denominator(uow.cursor, row))  # (touches the clock)
            return stored
        return self._changing(store_denominator)

    @rpc(expected_exceptions=EXPECTED)
    @authorised("admin", changes_data=True)
    def rebuild_reports(self):
        """Drop the read models and rebuild them from the archive of consumed events (admin).

        Consumption waits meanwhile. Returns ``{replayed}``.
        """
        replayed = projections.rebuild(self.db)
        with self.db.transaction() as cur:
            self.auth.audit(cur, {"replayed": replayed})
        return {"replayed": replayed}

    @rpc(expected_exceptions=EXPECTED)
    @authorised("planner")
    def intake_rejections(self, since_day=None):
        """Rejected intake events per day, source and event type (planner).

        Rows ``{day, source, event_type, rejections}`` from ``since_day``
        (``YYYY-MM-DD``, default 30 days ago) on.
        """
        since = args.day("since_day", since_day) or today_in() - dt.timedelta(days=30)
        with self.db.transaction() as cur:
            rows = store.rejection_counts(cur, since)
        return [dict(r, day=r["day"].isoformat()) for r in rows]


def _runner(name, params, public=False):
    """The runner of report ``name``, once ``params`` are known to be its parameters."""
    runner = REPORTS.get(name) if not public or name in PUBLIC_REPORTS else None
    if runner is None:
        names = PUBLIC_REPORTS if public else sorted(REPORTS)
        raise NotFound(f"no report {name!r}; reports: {', '.join(names)}")
    unknown = set(params) - PARAMETERS[name]
    if unknown:
        raise ValidationError({key: ["unknown_field: not a parameter of this report"]
                               for key in sorted(unknown)})
    return runner


def _coverage(cur, as_of=None, province_code=None):
    return queries.coverage(cur, REFERENCE, args.day("as_of", as_of),
                            _unit(args.province("province_code", province_code)))


def _breakdown(cur, province_code=None, scheme=None):
    province = _unit(args.province("province_code", province_code, False))
    if province is None:
        args.refuse("province_code", "required", "a province code")
    return queries.breakdown(cur, province, args.scheme("scheme", scheme) if scheme else None)


def _targets(cur, year=None, province_code=None, as_of=None):
    return queries.target_progress(cur, REFERENCE, args.year("year", year),
                                   _unit(args.province("province_code", province_code)),
                                   args.day("as_of", as_of))


def _benefits(cur, period=None, province_code=None):
    first, last = args.period("period", period)
    last = max(first, min(last, today_in().replace(day=1)))  # a year so far: its months so far
    return queries.benefits_summary(cur, first, last,
                                    _unit(args.province("province_code", province_code, False)))


def _benefits_by_month(cur, year=None, province_code=None):
    return queries.benefits_by_month(cur, args.year("year", year),
                                     _unit(args.province("province_code", province_code, False)))


def _programmes(cur, programme_code=None):
    if programme_code is not None and not isinstance(programme_code, str):
        args.refuse("programme_code", "invalid_type", "a programme code")
    return queries.programme_summary(cur, programme_code or None)


PUBLIC_REPORTS = ("coverage", "targets", "benefits", "benefits_by_month", "programmes")
REPORTS = {"coverage": _coverage, "breakdown": _breakdown, "targets": _targets, "benefits": _benefits,
           "benefits_by_month": _benefits_by_month, "programmes": _programmes}
PARAMETERS = {name: set(list(inspect.signature(runner).parameters)[1:])
              for name, runner in REPORTS.items()}
