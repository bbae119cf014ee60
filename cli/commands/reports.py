"""Targets and reports (reporting, planner role)."""
import io

import click

from cli.output import write_csv
from cli.session import pass_session

MEASURES = ("new_participants", "coverage_rate")
# report name -> (RPC method of reporting, its parameters)
REPORTS = {
    "coverage": ("coverage", ("as_of", "province_code")),
    "targets": ("target_progress", ("year", "province_code", "as_of")),
    "benefits": ("benefits_summary", ("period", "province_code")),
    "benefits_by_month": ("benefits_by_month", ("year", "province_code")),
    "programmes": ("programme_summary", ("programme_code",)),
}


def number(value):
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            raise click.BadParameter("a number", param_hint="TARGET") from None


@click.group()
def targets():
    """Yearly targets and campaigns per province and scheme (planner role)."""


@targets.command("set")
@click.argument("year", type=int)
@click.argument("province")
@click.argument("scheme")
@click.argument("target")
@click.option("--measure", type=click.Choice(MEASURES), default="new_participants",
              show_default=True,
              help="new_participants: people who start in the scheme in the period; "
                   "coverage_rate: a percent to reach by its end.")
@click.option("--name",
              help="Makes it a named campaign beside the yearly target (1-100 characters).")
@click.option("--from", "starts_on", metavar="YYYY-MM-DD", help="Start (default 1 January).")
@click.option("--to", "ends_on", metavar="YYYY-MM-DD", help="End (default 31 December).")
@pass_session
def targets_set(session, year, province, scheme, target, measure, name, starts_on, ends_on):
    """Set the TARGET of YEAR for PROVINCE (2 digits of today's map, or VN) and SCHEME
    (compulsory_si, voluntary_si, health or unemployment).

    Setting it again replaces it. Prints the stored target.
    """
    stored = session.call("reporting", "set_target", year, province, scheme, number(target),
                          measure=measure, name=name, starts_on=starts_on, ends_on=ends_on)
    if session.as_json:
        session.out.json(stored)
    else:
        session.out.fields("target set", [(k.replace("_", " "), v) for k, v in stored.items()])


@targets.command("show")
@click.argument("year", type=int)
@click.option("--province", metavar="CODE", help="One province (or VN); default all.")
@click.option("--as-of", metavar="YYYY-MM-DD", help="Progress at the end of that day.")
@pass_session
def targets_show(session, year, province, as_of):
    """Progress against YEAR's targets: achieved, percent, remaining, on pace or not."""
    rows = session.call("reporting", "target_progress", year, province_code=province,
                        as_of=as_of)
    if session.as_json:
        session.out.json(rows)
        return
    columns = ["province", "scheme", "measure", "name", "from", "to", "target", "achieved",
               "percent", "remaining", "expected by now", "on pace"]
    keys = ["province_code", "scheme", "measure", "name", "starts_on", "ends_on", "target",
            "achieved", "percent", "remaining", "expected_by_now", "on_pace"]
    session.out.table(f"targets {year}", columns, [[r.get(k) for k in keys] for r in rows],
                      styles=[None if r.get("on_pace") is not False else "yellow" for r in rows])


def parse_params(name, pairs):
    allowed = REPORTS[name][1]
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in allowed:
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE with KEY one of "
                                     f"{', '.join(allowed)}", param_hint="--param")
        params[key] = value
    return params


@click.command()
@click.argument("name", type=click.Choice(list(REPORTS)))
@click.option("--param", "-p", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A parameter of the report (repeatable): coverage: as_of, province_code; "
                   "targets: year, province_code, as_of; benefits: period (YYYY or YYYY-MM), "
                   "province_code; benefits_by_month: year, province_code; "
                   "programmes: programme_code.")
@click.option("--csv", "csv_path", metavar="FILE|-",
              help="Write the rows as CSV (header = the row keys, nested values as JSON) "
                   "to FILE, or to stdout with '-'.")
@pass_session
def report(session, name, pairs, csv_path):
    """Any report of the reporting service, as a table, JSON (--json) or CSV (planner role).

    \b
    Examples:
      vss report coverage -p province_code=01
      vss report targets -p year=2026 --csv targets.csv
      vss report benefits -p period=2026-05 --csv -
    """
    method, _ = REPORTS[name]
    rows = session.call("reporting", method, **parse_params(name, pairs))
    if csv_path:
        buffer = io.StringIO()
        write_csv(rows, buffer)
        if csv_path == "-":
            click.echo(buffer.getvalue(), nl=False)
        else:
            with open(csv_path, "w", newline="", encoding="utf-8") as handle:
                handle.write(buffer.getvalue())
            click.echo(f"{len(rows)} row(s) written to {csv_path}", err=True)
    elif session.as_json:
        session.out.json(rows)
    else:
        session.out.records(f"report {name}", rows)


COMMANDS = (targets, report)
