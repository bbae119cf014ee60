"""The register (enrolment): a person, and rejected intake events."""
import re

import click

from cli.session import pass_session

SECTIONS = ("identity", "coverage", "cards", "book")
IDENTITY = ("citizen_id", "si_code", "full_name", "date_of_birth", "sex", "province_code",
            "status")
SECTION_KEYS = {"coverage": "coverages", "cards": "cards", "book": "book"}
MAX_PAGE = 1000


@click.group()
def person():
    """People on the register (enrolment, clerk role)."""


@person.command("show")
@click.argument("key", metavar="CITIZEN_ID_OR_SI_CODE")
@click.option("--only", "sections", multiple=True, type=click.Choice(SECTIONS),
              help="Show only these parts (repeatable); default all. The citizen id and "
                   "SI code are always shown.")
@pass_session
def person_show(session, key, sections):
    """One person: identity, coverage periods, HI cards (the valid one highlighted), SI book.

    CITIZEN_ID_OR_SI_CODE: 12 digits (citizen id) or 10 (SI code). Clerk role.
    Prints personal data: use --only to print no more than you need.
    """
    key = key.strip()
    if re.fullmatch(r"\d{12}", key):
        found = session.call("enrolment", "get_participant", key)
    elif re.fullmatch(r"\d{10}", key):
        found = session.call("enrolment", "find_by_si_code", key)
    else:
        raise click.BadParameter("a 12-digit citizen id or a 10-digit SI code",
                                 param_hint="CITIZEN_ID_OR_SI_CODE")
    sections = set(sections or SECTIONS)
    shown = {k: found.get(k) for k in IDENTITY
             if "identity" in sections or k in ("citizen_id", "si_code")}
    for section, field in SECTION_KEYS.items():
        if section in sections:
            shown[field] = found.get(field)
    if session.as_json:
        session.out.json(shown)
        return
    out = session.out
    out.fields(f"person {found['citizen_id']}",
               [(k.replace("_", " "), shown[k]) for k in IDENTITY if k in shown])
    if "coverages" in shown:
        coverages = shown["coverages"] or []
        out.table("coverage", ["scheme", "group", "from", "to", "status"],
                  [[c.get("scheme"), c.get("group_code"), c.get("valid_from"),
                    c.get("valid_to") or "open", c.get("status")] for c in coverages],
                  styles=["green" if c.get("status") == "active" else "dim" for c in coverages])
    if "cards" in shown:
        cards = shown["cards"] or []
        out.table("HI cards (oldest first)", ["card number", "group", "level", "from", "to",
                                              "status"],
                  [[c.get("card_number"), c.get("group_code"), c.get("benefit_level"),
                    c.get("valid_from"), c.get("valid_to") or "open",
                    "VALID" if c.get("status") == "valid" else c.get("status")] for c in cards],
                  styles=["bold green" if c.get("status") == "valid" else "dim" for c in cards])
    if "book" in shown:
        book = shown["book"]
        out.print(f"SI book: {book['book_number']} issued {book['issued_on']}" if book
                  else "SI book: none")


def since_timestamp(value):
    """A date (midnight in Vietnam, UTC+7) or an ISO timestamp with its offset."""
    if value and re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        return f"{value}T00:00:00+07:00"
    return value


@click.command()
@click.option("--since", metavar="WHEN",
              help="From this time on: YYYY-MM-DD (midnight in Vietnam) or an ISO 8601 "
                   "timestamp with offset. Default: the beginning.")
@click.option("--after-event-id", metavar="EVENT_ID",
              help="With --since set to a row's received_at: continue after that row.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="At most this many rows (fetched in pages of up to 1000).")
@pass_session
def rejections(session, since, after_event_id, limit):
    """Rejected intake events, oldest first, with the reasons per field (clerk role).

    To continue a long list, pass the last row's received_at as --since and its
    event id as --after-event-id (printed at the end when there may be more).
    """
    rows, since = [], since_timestamp(since)
    while len(rows) < limit:
        page_size = min(MAX_PAGE, limit - len(rows))
        page = session.call("enrolment", "list_rejections", since=since, limit=page_size,
                            after_event_id=after_event_id)
        rows += page
        if len(page) < page_size:
            break
        since, after_event_id = page[-1]["received_at"], page[-1]["event_id"]
    if session.as_json:
        session.out.json(rows)
        return
    session.out.table(f"rejected intake events ({len(rows)})",
                      ["received at", "event id", "type", "source", "reasons"],
                      [[r["received_at"], r["event_id"], r.get("event_type"), r.get("source"),
                        "\n".join(f"{field}: {message}"
                                  for field, messages in sorted((r.get("reasons") or {}).items())
                                  for message in messages)] for r in rows])
    if rows and len(rows) == limit:
        session.out.print(f"more may follow: --since {rows[-1]['received_at']} "
                          f"--after-event-id {rows[-1]['event_id']}")


COMMANDS = (person, rejections)
