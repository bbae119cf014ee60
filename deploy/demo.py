"""`make demo`: a province's worth of synthetic intake events through the real system, and its report.

    python -m deploy.demo [--people 100000] [--province 42] [--seed 20261122] [--claims 300]
                          [--history-months 12]

Runs against the stack of the configuration (``make up``; the same
``AMQP_URI``, ``*_DSN`` and ``REPORTING_HTTP_ADDRESS`` variables), with the
development tokens, or with ``VSS_TOKEN`` (an admin token) when those are off.
What it does, stage by stage, each timed:

1. creates the province's sponsored programme (seven sponsors, 630 books and
   1,260 cards to give) as a planner;
2. publishes the households of the people who will claim benefits first and
   records their compulsory contributions before the recent months: their whole
   careers, from 1995 on, as an office digitises the paper SI books of the
   people who claim;
3. publishes the rest of the province (``deploy.synthetic``) to
   ``enrolment.intake`` with batched publisher confirms, and waits until
   enrolment has applied every event and reporting has counted them;
4. records everyone's compulsory contributions of the last ``--history-months``
   months (``enrolment.record_contributions`` as finance, month by month): the
   monthly job of the agency. Older months of the people who do not claim are
   left out, because recording a province's whole history takes hours at this
   size (the demo says so in its output);
5. sets the year's targets and the province's denominators (from the synthetic
   population, stated as such), files the claims as an assessor once benefits
   holds the claimants' histories, confirms that long-standing pensioners are
   alive (the yearly check), runs this month's payments as finance;
6. prints the province's report from reporting (coverage and rates, target
   progress, benefits paid, the programme's progress), the claims decided, the
   dashboard's address and how long each stage took.

Publishing is idempotent: the events and their ids depend only on the province,
size, seed and day, so running the demo again the same day publishes nothing
new (it notices, and skips publishing and the earlier careers); another
``--seed`` loads another population (on a fresh stack preferably: the earlier
careers of a second population's claimants are recorded for everyone then on
the register).
"""
import argparse
import contextlib
import datetime as dt
import logging
import math
import os
import sys
import time
import warnings
from collections import Counter

warnings.filterwarnings("ignore")

from kombu import Connection  # noqa: E402
from nameko.exceptions import RemoteError  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,  # noqa: E402
                           TimeElapsedColumn)
from rich.table import Table  # noqa: E402

from deploy.synthetic import DEFAULT_SEED, SyntheticProvince  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.outbox import ConfirmingPublisher  # noqa: E402

INTAKE = "enrolment.intake"
QUEUES = ("enrolment.intake", "benefits.events", "reporting.events")
CHUNK = 1_000
CLAIM_MIX = {"pension": 0.4, "unemployment": 0.3, "lump_sum": 0.3}
SCHEME_NAMES = {"registered": "registered", "social_insurance": "social insurance (SI)",
                "compulsory_si": "  compulsory SI", "voluntary_si": "  voluntary SI",
                "unemployment": "unemployment", "health": "health"}
DENOMINATOR_NAMES = {"population": "population", "working_age_labour_force": "working-age LF"}
KIND_NAMES = {"pension": "pensions", "lump_sum": "lump sums", "unemployment": "unemployment benefit"}


def vnd(amount):
    return f"{amount:,.0f}" if amount is not None else "-"


def month_text(day):
    return day.strftime("%Y-%m")


def add_months(day, count):
    year, month = divmod(day.year * 12 + day.month - 1 + count, 12)
    return dt.date(year, month + 1, 1)


class Demo:
    def __init__(self, args, config):
        self.args = args
        self.amqp_uri = config["AMQP_URI"]
        self.address = (config.get("WEB_SERVER_ADDRESS") or "127.0.0.1:8000").replace(
            "0.0.0.0:", "127.0.0.1:")
        self.province = SyntheticProvince(args.province, args.people, args.seed)
        self.unit = self.province.unit
        self.console = Console()
        self.timings = []
        self.proxies = {}
        self.published = set()
        self.claims = []
        self.decisions = []
        self.notes = []

    # -- plumbing -----------------------------------------------------------------

    def rpc(self, role, timeout=120):
        key = (role, timeout)
        if key not in self.proxies:
            token = os.environ.get("VSS_TOKEN") or f"dev-{role}-token"
            proxy = ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=timeout,
                                    context_data={"auth_token": token})
            self.proxies[key] = (proxy, proxy.start())
        return self.proxies[key][1]

    def close(self):
        for proxy, _ in self.proxies.values():
            with contextlib.suppress(Exception):
                proxy.stop()

    @contextlib.contextmanager
    def stage(self, title):
        self.console.rule(f"[bold]{title}")
        started = time.perf_counter()
        note = []
        yield note
        seconds = time.perf_counter() - started
        self.timings.append((title, seconds, "; ".join(note)))
        self.console.print(f"[dim]{title}: {seconds:.1f} s[/dim]")

    def progress(self):
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=self.console)

    def backlog(self):
        """Messages waiting in the three services' queues, and the unsent outbox rows of
        enrolment and benefits that some queue waits for. (Reporting's outbox holds only its
        ``targets_changed``, no work the demo waits for.)"""
        waiting = 0
        with Connection(self.amqp_uri) as connection:
            channel = connection.channel()
            for queue in QUEUES:
                with contextlib.suppress(Exception):
                    waiting += channel.queue_declare(queue=queue, passive=True).message_count
        rpc = self.rpc("clerk")
        unsent = 0
        for name in ("enrolment", "benefits"):
            outbox = getattr(rpc, name).health()["outbox"]
            # events of a type no queue is bound to (card_issued, book_issued here) wait
            # for a consumer that this stack does not have: not work to wait for
            unsent += outbox["unsent"] - outbox.get("unroutable", 0)
        return waiting, unsent

    def settle(self, what, check=None, timeout=3600):
        """Wait until ``check()`` holds and no queue or outbox has work for three seconds."""
        started, quiet = time.monotonic(), 0
        with self.console.status(f"waiting for {what}") as status:
            while time.monotonic() - started < timeout:
                waiting, unsent = self.backlog()
                done = check() if check else True
                quiet = quiet + 1 if (waiting == 0 and unsent == 0 and done) else 0
                if quiet >= 3:
                    return True
                status.update(f"waiting for {what}: {waiting:,} messages queued, {unsent:,} events"
                              f" to relay")
                time.sleep(1)
        self.console.print(f"[yellow]gave up waiting for {what} after {timeout} s[/yellow]")
        return False

    # -- stages ---------------------------------------------------------------------

    def check_stack(self):
        try:
            for name in ("enrolment", "benefits", "reporting"):
                getattr(self.rpc("clerk", timeout=10), name).health()
        except Exception as exc:  # no broker or no service answering
            raise SystemExit(f"[demo] the stack does not answer ({type(exc).__name__}: {exc}); start it"
                             " with `make up` (or run `make demo`)")

    def create_programme(self):
        with self.stage("Sponsored programme") as note:
            programme = self.province.programme()
            try:
                created = self.rpc("planner").enrolment.create_programme(programme)
                note.append(f"{created['programme_code']} created")
            except RemoteError as err:
                if err.exc_type != "Conflict":
                    raise
                note.append(f"{programme['programme_code']} existed already")
            self.console.print(f"{programme['name']}: {len(programme['sponsors'])} sponsors, goal"
                               f" {programme['goal_books']:,} SI books and {programme['goal_cards']:,}"
                               f" HI cards, budget {vnd(programme['budget'])} VND")

    def already_loaded(self):
        """Whether this population is on the register: its first event, or (published on
        another day, when the dates and ids differ) its first person."""
        clerk = self.rpc("clerk")
        first = next(iter(self.province.events()))[1]
        if clerk.enrolment.intake_status(first["event_id"])["status"] != "unknown":
            return True
        try:
            clerk.enrolment.get_participant(first["payload"]["citizen_id"])
        except RemoteError as err:
            if err.exc_type == "NotFound":
                return False
            raise
        self.console.print("[yellow]this seed's people were registered on an earlier day: the"
                           " report shows that data (another --seed loads a new population)[/yellow]")
        return True

    def choose_claimants(self):
        """Households, in generation order, until the claims asked for are found."""
        wanted = self.args.claims
        quotas = {kind: math.floor(wanted * share) for kind, share in CLAIM_MIX.items()}
        quotas["lump_sum"] += wanted - sum(quotas.values())
        chosen, claims, spare, taken = [], [], [], Counter()
        for household in self.province.households():
            fits = [c for c in household.claims if taken[c["kind"]] < quotas[c["kind"]]]
            if fits:
                chosen.append(household)
                claims.extend(fits)
                taken.update(c["kind"] for c in fits)
            elif household.claims and len(spare) < wanted:
                spare.append(household)
            if sum(taken.values()) >= wanted:
                break
        for household in spare:   # a kind short of candidates: take others
            if len(claims) >= wanted:
                break
            chosen.append(household)
            claims.extend(household.claims[:wanted - len(claims)])
        return chosen, claims

    def publish(self, households_or_events, total_people, title):
        publisher = ConfirmingPublisher(self.amqp_uri)
        rows, events, started = [], 0, time.perf_counter()
        last_event = None
        try:
            with self.progress() as bar:
                task = bar.add_task(title, total=total_people, rate="")
                for household in households_or_events:
                    for event_type, envelope in household.events:
                        rows.append((envelope["event_id"], INTAKE, event_type, envelope))
                        self.published.add(envelope["event_id"])
                        last_event = envelope["event_id"]
                    if len(rows) >= CHUNK:
                        self._send(publisher, rows)
                        events += len(rows)
                        rows = []
                    rate = events / max(time.perf_counter() - started, 1e-6)
                    bar.update(task, advance=len(household.members),
                               rate=f"{events:,} events, {rate:,.0f}/s")
                if rows:
                    self._send(publisher, rows)
                    events += len(rows)
                bar.update(task, rate=f"{events:,} events")
        finally:
            publisher.close()
        return events, last_event

    @staticmethod
    def _send(publisher, rows):
        returned = publisher.publish(rows)
        if returned:
            raise SystemExit(f"[demo] {len(returned)} events came back unroutable: no queue is bound to"
                             f" {INTAKE}; is enrolment running?")

    def wait_applied(self, last_event, published, started_at):
        clerk, started = self.rpc("clerk"), time.perf_counter()
        with self.console.status("waiting for enrolment to apply the events") as status:
            while clerk.enrolment.intake_status(last_event)["status"] in ("unknown",):
                status.update(f"waiting for enrolment to apply the events"
                              f" ({time.perf_counter() - started:.0f} s)")
                time.sleep(1)
        self.applied_after = time.perf_counter() - started
        rejected = self.rejections(started_at)
        return published - len(rejected), rejected

    def rejections(self, since):
        """This run's rejected events (others' rejections in the same period are left out)."""
        clerk, found, after = self.rpc("clerk"), [], (since, None)
        while True:
            page = clerk.enrolment.list_rejections(since=after[0], after_event_id=after[1], limit=1000)
            found.extend(r for r in page if r["event_id"] in self.published)
            if len(page) < 1000:
                return found
            after = (page[-1]["received_at"], page[-1]["event_id"])

    def record(self, first, last, title, step=1):
        """``record_contributions`` month by month (or a year at a time for old months)."""
        finance = self.rpc("finance", timeout=3600)
        spans, month = [], first
        while month <= last:
            until = min(add_months(month, step - 1), last)
            spans.append((month, until))
            month = add_months(until, 1)
        recorded = already = 0
        started = time.perf_counter()
        with self.progress() as bar:
            task = bar.add_task(title, total=len(spans), rate="")
            for month, until in spans:
                done = finance.enrolment.record_contributions(month_text(month), month_text(until))
                recorded += done["recorded"]
                already += done["already_recorded"]
                rate = recorded / max(time.perf_counter() - started, 1e-6)
                bar.update(task, advance=1, rate=f"{recorded:,} recorded, {rate:,.0f}/s")
        return recorded, already

    def run(self):
        args, province = self.args, self.province
        self.check_stack()
        started_at = dt.datetime.now(dt.timezone.utc).isoformat()
        self.console.print(f"[bold]VSS demo[/bold]: {args.people:,} synthetic people in"
                           f" {province.name} ({self.unit}), seed {args.seed}, events up to"
                           f" {province.last_day.isoformat()}")
        self.create_programme()
        current = province.current_month
        window = add_months(current, -(args.history_months - 1))
        loaded = self.already_loaded()
        if loaded:
            self.console.print("[yellow]this province, seed and day were published before: the"
                               " publishing stages are skipped[/yellow]")
        elif self.registered("VN"):
            self.console.print(f"[yellow]{self.registered('VN'):,} people are on the register"
                               " already: recording the claimants' earlier careers records their"
                               " older months too, which can take long (a fresh stack is"
                               " quicker)[/yellow]")

        with self.stage("Claimants' households and their careers") as note:
            chosen, self.claims = self.choose_claimants()
            people = sum(len(h.members) for h in chosen)
            if not loaded:
                events, last = self.publish(chosen, people, "claimants' households")
                applied, rejected = self.wait_applied(last, events, started_at)
                note.append(f"{len(chosen):,} households, {events:,} events")
            first = min((j.start for h in chosen for p in h.members for j in p.jobs),
                        default=window)
            first = max(first.replace(day=1), dt.date(1995, 1, 1))
            if loaded:
                note.append("earlier careers recorded before")
            elif first < window:
                recorded, _ = self.record(first, add_months(window, -1), "earlier careers, by year",
                                          step=12)
                note.append(f"{recorded:,} monthly contributions {month_text(first)} to"
                            f" {month_text(add_months(window, -1))} for these households")
            kinds = Counter(c["kind"] for c in self.claims)
            self.console.print(f"{len(self.claims)} claims to file: " + ", ".join(
                f"{n} {KIND_NAMES[k]}" for k, n in sorted(kinds.items())))

        with self.stage("Generate and publish the province") as note:
            skip = {h.household_id for h in chosen}
            rest = (h for h in province.households() if h.household_id not in skip)
            if loaded:
                for _ in rest:   # the population's figures still come from the generator
                    pass
                note.append("skipped: published before")
            else:
                events, last = self.publish(rest, args.people - people, "people")
                note.append(f"{events:,} events")
        stats = province.stats
        self.console.print(self.population_table(stats))

        with self.stage("Enrolment applies, reporting counts") as note:
            if not loaded:
                applied, rejected = self.wait_applied(last, len(self.published), started_at)
                note.append(f"{applied:,} of {len(self.published):,} events applied")
                if rejected:
                    reasons = Counter(next(iter(r["reasons"].values()))[0].split(":")[0] for r in rejected)
                    note.append(f"{len(rejected):,} rejected: {dict(reasons)}")
                    self.console.print(f"[red]{len(rejected):,} events rejected[/red]: {dict(reasons)}")
                else:
                    self.console.print(f"[green]all {applied:,} events applied, none rejected[/green]")
            started = time.perf_counter()
            self.settle("reporting to count them", lambda: self.registered() >= stats["people"])
            if not loaded:
                note.append(f"enrolment done after {self.applied_after:.0f} s, benefits and reporting"
                            f" {time.perf_counter() - started:.0f} s later")

        with self.stage(f"Compulsory contributions, {month_text(window)} to {month_text(current)}") as note:
            recorded, already = self.record(window, current, "months")
            note.append(f"{recorded:,} monthly contributions recorded ({already:,} already)")
            self.notes.append(
                f"Compulsory contributions were recorded for {args.history_months} months"
                f" ({month_text(window)} to {month_text(current)}) for everyone, and from 1995 only"
                f" for the households of the people who claim: recording a whole province's history"
                f" month by month takes far longer than a demo.")

        with self.stage("Targets and denominators") as note:
            self.set_targets(stats)
            note.append(f"denominators and {len(self.targets)} targets for {current.year}")

        with self.stage("Claims") as note:
            self.wait_for_histories()
            self.file_claims()
            decided = Counter((d["kind"], d["status"]) for d in self.decisions)
            note.append(", ".join(f"{n} {k} {s}" for (k, s), n in sorted(decided.items())))

        with self.stage(f"Payments for {month_text(current)}") as note:
            result = self.rpc("finance", timeout=3600).benefits.run_payments(month_text(current))
            self.payment_run = result
            note.append(f"{result['payments']:,} payments, {vnd(result['total_amount'])} VND")
            self.settle("reporting to show the payments", self.payments_shown)

        self.report()

    # -- details ---------------------------------------------------------------------

    def registered(self, province_code=None):
        rows = self.rpc("planner").reporting.coverage(province_code=province_code or self.unit)
        return sum(r["participants"] for r in rows if r["scheme"] == "registered")

    def set_targets(self, stats):
        planner, year = self.rpc("planner"), self.province.current_month.year
        planner.reporting.set_denominator(
            self.unit, year,
            f"synthetic demo population (deploy.synthetic, {self.args.people:,} people, seed"
            f" {self.args.seed}, {self.province.last_day.isoformat()}): not an official figure",
            population=stats["population"],
            working_age_labour_force=stats["working_age_labour_force"])
        ceil10 = lambda n: max(10, int(math.ceil(n / 10) * 10))  # noqa: E731
        self.targets = [
            ("voluntary_si", ceil10(stats["voluntary_new_this_year"] * 1.25), "new_participants"),
            ("compulsory_si", ceil10(stats["compulsory_new_this_year"] * 1.2), "new_participants"),
            ("social_insurance", 45, "coverage_rate"),    # Resolution 28-NQ/TW, 2025
            ("unemployment", 35, "coverage_rate"),        # Resolution 28-NQ/TW, 2025
            ("health", 95, "coverage_rate")]              # Resolution 20-NQ/TW, 2025
        for scheme, target, measure in self.targets:
            planner.reporting.set_target(year, self.unit, scheme, target, measure)

    def wait_for_histories(self):
        """Until benefits holds each claimant's compulsory months (or stops catching up)."""
        assessor = self.rpc("assessor")
        pending = {c["citizen_id"]: c["expected_months"] for c in self.claims}
        started, last_change, before = time.monotonic(), time.monotonic(), len(pending)
        with self.console.status("waiting for benefits to hold the claimants' histories") as status:
            while pending and time.monotonic() - last_change < 120:
                for citizen_id, expected in list(pending.items()):
                    try:
                        kinds = assessor.benefits.contribution_history(citizen_id)["kinds"]
                    except RemoteError:
                        continue
                    months = sum(k["months"] for k in kinds if k["kind"] == "compulsory")
                    if months >= expected:
                        del pending[citizen_id]
                if len(pending) < before:
                    before, last_change = len(pending), time.monotonic()
                status.update(f"waiting for benefits to hold the claimants' histories:"
                              f" {len(pending)} to go ({time.monotonic() - started:.0f} s)")
                if pending:
                    time.sleep(2)
        if pending:
            self.console.print(f"[yellow]{len(pending)} claimants' histories are incomplete; their"
                               f" claims are decided on what benefits holds[/yellow]")

    def file_claims(self):
        assessor = self.rpc("assessor")
        overdue = add_months(self.province.current_month, -11)
        with self.progress() as bar:
            task = bar.add_task("claims", total=len(self.claims), rate="")
            for claim in self.claims:
                body = {k: v for k, v in claim.items() if k != "expected_months"}
                try:
                    decision = assessor.benefits.submit_claim(body)
                except RemoteError as err:
                    decision = {"kind": claim["kind"], "status": err.exc_type, "reasons": [err.value]}
                self.decisions.append(decision)
                if decision.get("status") == "approved" and claim["kind"] == "pension" \
                        and dt.date.fromisoformat(claim["claim_date"]) < overdue:
                    assessor.benefits.confirm_alive(claim["citizen_id"])   # the yearly check
                approved = sum(1 for d in self.decisions if d.get("status") == "approved")
                bar.update(task, advance=1, rate=f"{approved} approved")

    def payments_shown(self):
        if not self.payment_run["payments"]:
            return True
        rows = self.rpc("planner").reporting.benefits_summary(month_text(self.province.current_month))
        return sum(r["beneficiaries"] for r in rows) > 0

    # -- the report ------------------------------------------------------------------

    def population_table(self, stats):
        table = Table(title=f"The synthetic province: {self.province.name}", show_header=False)
        population, walf = stats["population"], stats["working_age_labour_force"]
        share = lambda n, d: f"{100 * n / d:.1f}%" if d else "-"  # noqa: E731
        rows = [("people generated (deaths in the last year)", f"{stats['people']:,} ({stats['deaths']:,})"),
                ("households", f"{stats['households']:,} ({stats['people'] / max(stats['households'], 1):.2f}"
                               " people each)"),
                ("working-age labour force", f"{walf:,} ({share(walf, population)} of the population)"),
                ("employees (compulsory SI)", f"{stats['employed']:,} ({share(stats['employed'], walf)})"),
                ("voluntary SI paying now", f"{stats['voluntary']:,} ({share(stats['voluntary'], walf)})"),
                ("health insurance",
                 f"{stats['health_covered']:,} ({share(stats['health_covered'], population)})"),
                ("sponsored books / cards", f"{stats['grants.si_book']:,} / {stats['grants.health_card']:,}"),
                ("intake events", f"{stats['events']:,}: " + ", ".join(
                    f"{k.split('.', 1)[1]} {v:,}" for k, v in sorted(stats.items())
                    if k.startswith("events.")))]
        for name, value in rows:
            table.add_row(name, value)
        return table

    def report(self):
        planner, year = self.rpc("planner"), self.province.current_month.year
        period = month_text(self.province.current_month)
        console = self.console
        console.rule(f"[bold]{self.province.name}: the province's report")

        table = Table(title=f"Coverage, {self.province.name} ({self.unit})")
        for column in ("scheme", "people", "denominator", "rate", "national target"):
            table.add_column(column, justify="left" if column == "scheme" else "right")
        order = ("registered", "social_insurance", "compulsory_si", "voluntary_si", "unemployment", "health")
        rows = {r["scheme"]: r for r in planner.reporting.coverage(province_code=self.unit)}
        for scheme in order:
            row = rows.get(scheme)
            if row is None:
                continue
            denominator = (f"{row['denominator']:,} {DENOMINATOR_NAMES[row['denominator_kind']]}"
                           f" {row['denominator_year']}" if row["denominator"] else "-")
            table.add_row(SCHEME_NAMES[scheme], f"{row['participants']:,}", denominator,
                          f"{row['coverage_rate']:.2f}%" if row["coverage_rate"] is not None else "-",
                          f"{row['national_target_percent']}%" if row["national_target_percent"] else "")
        console.print(table)

        table = Table(title=f"Targets {year}")
        for column in ("target", "goal", "achieved", "reached", "to go", "due by now", "on pace"):
            table.add_column(column, justify="left" if column == "target" else "right")
        for row in planner.reporting.target_progress(year, province_code=self.unit):
            rate = row["measure"] == "coverage_rate"
            fmt = (lambda v: f"{v:.2f}%" if v is not None else "-") if rate else \
                (lambda v: f"{v:,}" if v is not None else "-")
            what = SCHEME_NAMES[row["scheme"]].strip() + (" rate" if rate else ", new people")
            table.add_row(what, fmt(row["target"]), fmt(row["achieved"]),
                          f"{row['percent']}%" if row["percent"] is not None else "-",
                          fmt(row["remaining"]), fmt(row["expected_by_now"]),
                          {True: "yes", False: "no"}.get(row["on_pace"], "-"))
        console.print(table)

        table = Table(title=f"Benefits paid, {period}")
        for column in ("benefit", "beneficiaries", "amount (VND)", "a year before", "change"):
            table.add_column(column, justify="left" if column == "benefit" else "right")
        for row in planner.reporting.benefits_summary(period, province_code=self.unit):
            table.add_row(KIND_NAMES[row["kind"]], f"{row['beneficiaries']:,}", vnd(row["amount"]),
                          vnd(row["amount_same_period_last_year"]),
                          f"{row['change_percent']:+.1f}%" if row["change_percent"] is not None else "-")
        console.print(table)
        decided = Counter((d["kind"], d.get("status")) for d in self.decisions)
        reasons = Counter(r.split(":")[0] for d in self.decisions if d.get("status") != "approved"
                          for r in d.get("reasons") or [])
        console.print("Claims filed by the demo: " + ", ".join(
            f"{KIND_NAMES[k]} {n} {s}" for (k, s), n in sorted(decided.items()))
            + (f" (refusals: {dict(reasons)})" if reasons else ""))
        run = self.payment_run
        console.print(f"Payment run {run['period']}: {run['payments']:,} payments,"
                      f" {vnd(run['total_amount'])} VND in all provinces; skipped {run['skipped'] or 'none'}")

        for row in planner.reporting.programme_summary(self.province.programme_code):
            table = Table(title=f"Programme {row['programme_code']}: {row['name']}")
            for column in ("sponsor", "people", "HI cards", "SI books", "amount (VND)"):
                table.add_column(column, justify="left" if column == "sponsor" else "right")
            for part in row["per_sponsor"]:
                table.add_row(part["sponsor"], f"{part['grants']:,}", f"{part['health_cards']:,}",
                              f"{part['si_books']:,}", vnd(part["amount"]))
            table.add_row("[bold]total[/bold]", f"{row['people']:,}",
                          f"{row['health_cards']:,} of {row['goal_cards']:,}",
                          f"{row['si_books']:,} of {row['goal_books']:,}",
                          f"{vnd(row['amount'])} of {vnd(row['budget'])}")
            console.print(table)
            console.print(f"{row['cards_to_goal']:,} cards and {row['books_to_goal']:,} books to the goal")

        for note in self.notes:
            console.print(f"[dim]{note}[/dim]")
        table = Table(title="How long each stage took")
        for column in ("stage", "seconds", "what"):
            table.add_column(column, justify="right" if column == "seconds" else "left")
        for title, seconds, note in self.timings:
            table.add_row(title, f"{seconds:.1f}", note)
        table.add_row("[bold]total[/bold]", f"{sum(s for _, s, _ in self.timings):.1f}", "")
        console.print(table)
        console.print(f"Dashboard: [bold]http://{self.address}/dashboard[/bold]")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000,
                        help="people in the province (default 100,000; 1,000,000 works too)")
    parser.add_argument("--province", default="42", help="province code (default 42, Hà Tĩnh)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--claims", type=int, default=300, help="claims to file (default 300)")
    parser.add_argument("--history-months", type=int, default=12,
                        help="recent months of compulsory contributions recorded for everyone")
    args = parser.parse_args(argv)
    if args.history_months < 1 or args.people < 1 or args.claims < 0:
        parser.error("--people and --history-months must be at least 1, --claims at least 0")
    logging.getLogger("amqp").setLevel(logging.ERROR)   # "Received method ... during closing channel"
    try:
        demo = Demo(args, load_config())
    except ValueError as exc:   # an unknown province code
        parser.error(str(exc))
    try:
        demo.run()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        demo.close()


if __name__ == "__main__":
    main()
