"""Claims and payments (benefits)."""
import time

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cli.output import vnd
from cli.rpc import Failure
from cli.session import pass_session

KINDS = ("pension", "lump_sum", "unemployment")
LUMP_SUM_REASONS = ("retirement_age", "settling_abroad", "serious_illness", "lost_capacity",
                    "out_of_system")
# A payment run blocks until it is done; it resumes if called again after a cut.
RUN_TIMEOUT = 3 * 3600


@click.group()
def claim():
    """Benefit claims: submit one to be decided, or show a decision (assessor role)."""


@claim.command("submit")
@click.option("--citizen-id", required=True, help="The claimant's 12-digit citizen id.")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="The benefit claimed.")
@click.option("--claim-date", required=True, metavar="YYYY-MM-DD",
              help="The date of the claim (not after today); it picks the law applied.")
@click.option("--bank-account", metavar="ACCOUNT",
              help="Where to pay: 6-34 capital letters, digits or '-'.")
@click.option("--reason", type=click.Choice(LUMP_SUM_REASONS),
              help="Lump sum only, and required for it: why it is claimed.")
@click.option("--lost-capacity", type=click.IntRange(0, 100), metavar="PERCENT",
              help="Lost working capacity in percent: for a pension, asks for early "
                   "retirement on reduced capacity; for a lump sum, read with reason "
                   "lost_capacity.")
@pass_session
def claim_submit(session, citizen_id, kind, claim_date, bank_account, reason, lost_capacity):
    """Submit a claim; benefits decides it at once and prints the decision.

    The same claim again returns the stored decision. A different claim while
    one of its kind is open is refused with Conflict (and raises a fraud flag).
    Problems with the claim are listed per field (exit 1).
    """
    body = {"citizen_id": citizen_id, "kind": kind, "claim_date": claim_date}
    if bank_account is not None:
        body["bank_account"] = bank_account
    if reason is not None:
        body["reason"] = reason
    if lost_capacity is not None:
        if kind == "pension":
            body["early_retirement"] = {"reason": "reduced_capacity",
                                        "lost_capacity_percent": lost_capacity}
        else:
            body["lost_capacity_percent"] = lost_capacity
    show_claim(session, session.call("benefits", "submit_claim", body))


@claim.command("show")
@click.argument("claim_id", type=int)
@pass_session
def claim_show(session, claim_id):
    """A claim's decision: status, amounts, months due, reasons and the explanation."""
    show_claim(session, session.call("benefits", "get_claim", claim_id))


def show_claim(session, decided):
    if session.as_json:
        session.out.json(decided)
        return
    out = session.out
    status = decided["status"]
    colour = "green" if status == "approved" else "red"
    pairs = [("claim", decided["claim_id"]), ("citizen id", decided["citizen_id"]),
             ("kind", decided["kind"]), ("claim date", decided["claim_date"]),
             ("status", status), ("law", decided.get("rule_period"))]
    if decided.get("monthly_amount") is not None:
        pairs.append(("monthly amount", vnd(decided["monthly_amount"])))
    if decided.get("lump_sum_amount") is not None:
        pairs.append(("lump sum", vnd(decided["lump_sum_amount"])))
    if decided.get("duration_months") is not None:
        pairs.append(("duration", f"{decided['duration_months']} months"))
    if decided.get("start_month"):
        pairs.append(("months due", f"{decided['start_month']} to "
                                    f"{decided.get('end_month') or 'open-ended'}"))
    for key in ("open", "suspended", "stopped_from", "last_confirmed_alive"):
        if decided.get(key) not in (None, False):
            pairs.append((key.replace("_", " "), decided[key]))
    out.fields(f"claim {decided['claim_id']}: [{colour}]{status}[/{colour}]", pairs)
    for reason in decided.get("reasons") or []:
        out.print(f"[red]refused[/red] {reason}")
    if decided.get("explanation"):
        out.print("[bold]explanation[/bold]")
        for number, line in enumerate(decided["explanation"], 1):
            out.print(f"  {number}. {line}", markup=False)


@click.group()
def payments():
    """Monthly payment runs and a person's payments (finance; assessor may list)."""


@payments.command("run")
@click.argument("period", metavar="YYYY-MM")
@pass_session
def payments_run(session, period):
    """Pay every approved benefit due in PERIOD, once (finance role).

    Blocks until the run is done, showing the time spent; runs of millions of
    claims take a while (the default wait is 3 h; see --timeout). Calling it
    again for the same month pays nobody twice: it resumes a run that was cut
    off, or prints the completed run as stored.
    """
    started = time.monotonic()
    try:
        result = blocking(session, f"paying benefits due in {period}",
                          lambda: session.call("benefits", "run_payments", period,
                                               timeout=RUN_TIMEOUT))
    except KeyboardInterrupt:
        raise Failure([f"interrupted after {time.monotonic() - started:.0f} s: the run goes on "
                       "in benefits; run the same command again to wait for it or see it"]
                      ) from None
    elapsed = time.monotonic() - started
    if session.as_json:
        session.out.json(result)
        return
    out = session.out
    out.fields(f"payment run {result['period']}", [
        ("run", result["run_id"]), ("status", result["status"]),
        ("payments", f"{result['payments']:,}"), ("total", vnd(result["total_amount"])),
        ("claims", f"up to claim {result.get('claims_upto')} "
                   f"(done to {result.get('claims_done')})"),
        ("took", f"{elapsed:.1f} s")])
    skipped = result.get("skipped") or {}
    if skipped:
        out.table("skipped", ["reason", "claims"],
                  [[reason, f"{count:,}"] for reason, count in sorted(skipped.items())])
    else:
        out.print("skipped: none")


def blocking(session, label, work):
    """``work()`` with a spinner and the elapsed time on a terminal; a line on stderr else."""
    console = session.out.console
    if session.as_json or not console.is_terminal:
        click.echo(f"{label} (waiting for the run to finish) ...", err=True)
        return work()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        progress.add_task(label, total=None)
        return work()


@payments.command("for")
@click.argument("citizen_id")
@pass_session
def payments_for(session, citizen_id):
    """Payments made to one person, oldest first (assessor or finance role)."""
    rows = session.call("benefits", "payments_for", citizen_id)
    if session.as_json:
        session.out.json(rows)
        return
    session.out.table(f"payments to {citizen_id}", ["period", "kind", "amount", "run", "claim"],
                      [[r["period"], r["kind"], vnd(r["amount"]), r["run_id"], r["claim_id"]]
                       for r in rows])
    session.out.print(f"{len(rows)} payment(s), {vnd(sum(r['amount'] for r in rows))}")


COMMANDS = (claim, payments)
